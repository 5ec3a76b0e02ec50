// What a complete request head must satisfy before routing reads it, and how
// it is normalised so that routing, the upstream and any later hop all read
// the same request (design.md section 9: never forward an ambiguous message).
// Pure: no sockets. The parser runs it from on_headers_complete; the list of
// what is refused and why is at the top of gateway/http_parser.cc.
#pragma once

#include <optional>

#include "gateway/http1/http_head.h"

namespace sg::gateway {

// Checks `head` and rewrites it in place. Refused (status, code):
// - a request line without a version, HTTP/0.9 to llhttp (400
//   invalid_version), HTTP/2.0 or later (505 http_version_not_supported);
// - CONNECT (405 method_not_allowed);
// - a control byte, space, CR, LF or DEL in the target; a target that is not
//   origin-form, absolute-form http(s) with a valid authority, or "*" on
//   OPTIONS (400 invalid_target);
// - an empty header name (invalid_header_name; llhttp in strict mode refuses
//   every other name that is not an RFC 9110 token, with the same code);
// - no Host on HTTP/1.1 (missing_host), more than one Host (duplicate_host),
//   a Host that routing::parse_authority refuses (invalid_host);
// - Connection naming host, content-length or transfer-encoding
//   (invalid_connection_header);
// - a routing header (x-deployment-id, next-action, react-server-action, rsc,
//   next-router-prefetch) repeated or holding a list (duplicate_routing_header).
// Rewritten:
// - headers named in Connection are removed (Origin excepted, as when
//   forwarding; Upgrade is decided below), so they can neither route nor
//   classify;
// - HTTP2-Settings is removed; an Upgrade that does not offer websocket is
//   removed and the request is plain HTTP (head.upgrade false); a websocket
//   upgrade keeps one "Upgrade: websocket";
// - an absolute-form target becomes origin-form ("/" when its path is empty,
//   "*" for OPTIONS, RFC 9112 section 3.2.4) and Host takes its authority
//   (RFC 9112 section 3.2.2: the target's authority wins).
std::optional<ParseRejection> vet_request_head(RequestHead& head);

}  // namespace sg::gateway
