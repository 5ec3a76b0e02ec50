// Parsed HTTP/1.1 message heads and how they are rewritten when they cross
// the proxy (design.md section 9). Pure: no sockets here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/reason.h"
#include "routing/request_view.h"

namespace sg::gateway {

using routing::HeaderField;

struct RequestHead {
  std::string method;
  std::string target;
  std::uint8_t http_major = 1;
  std::uint8_t http_minor = 1;
  std::vector<HeaderField> headers;
  // Framing as the parser understood it.
  bool chunked = false;
  std::optional<std::uint64_t> content_length;
  bool keep_alive = true;  // the client wants the connection kept
  bool upgrade = false;    // Connection: upgrade + Upgrade: <proto>

  routing::RequestView view() const { return {method, target, headers}; }
  bool has_body() const { return chunked || (content_length && *content_length > 0); }
};

// Why a request was refused: the HTTP status and a catalogue code
// (metrics/reason.h) that reaches the response, the access log and the metrics.
struct ParseRejection {
  int status = 400;
  metrics::Reason code = metrics::Reason::bad_request;
  std::string_view detail;  // llhttp's reason, or ours
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  std::uint8_t http_major = 1;
  std::uint8_t http_minor = 1;
  std::vector<HeaderField> headers;
  bool chunked = false;
  std::optional<std::uint64_t> content_length;
  bool keep_alive = true;  // the upstream will keep the connection
};

struct ForwardContext {
  std::string_view peer_ip;  // downstream peer address, textual
  bool peer_trusted = false; // peer is in trusted_proxies: keep its X-Forwarded-* values
  bool downstream_tls = false;
};

// The head sent upstream, always HTTP/1.1:
// - Host and Origin kept as received;
// - hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
//   Transfer-Encoding, Upgrade) and every header named in Connection removed;
// - x-middleware-subrequest removed (CVE-2025-29927);
// - X-Forwarded-For: peer appended to the received value when the peer is
//   trusted, else replaced by the peer; X-Forwarded-Proto and X-Forwarded-Host
//   kept when the peer is trusted and sent them, else set (http/https, Host);
// - X-Real-IP, Forwarded and X-Forwarded-Port kept only from a trusted peer;
// - framing: "Content-Length" when the request has one, "Transfer-Encoding:
//   chunked" when it was chunked (the body is re-chunked by the gateway);
// - upgrade requests keep "Connection: upgrade" and their Upgrade header.
void append_upstream_request_head(std::string& out, const RequestHead& head, const ForwardContext& context);

// The standard reason phrase of a status code; empty when unknown (a reason
// phrase may be empty, RFC 9112 section 4).
std::string_view reason_phrase(int status);

enum class BodyFraming { none, content_length, chunked, until_close };

// The head sent downstream: status line HTTP/1.1, hop-by-hop headers and
// Connection-named headers removed, framing headers written from `framing`
// (content_length: the upstream's value; chunked: Transfer-Encoding: chunked;
// none/until_close: neither), and "Connection: close" when !keep_alive.
// A 101 response keeps its Upgrade header and gets "Connection: upgrade".
void append_downstream_response_head(std::string& out, const ResponseHead& head, BodyFraming framing,
                                     bool keep_alive);

}  // namespace sg::gateway
