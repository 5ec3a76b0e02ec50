#include "gateway/http1/request_checks.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "gateway/http/connection_tokens.h"
#include "gateway/http/routing_headers.h"

namespace sg::gateway {
namespace {

using metrics::Reason;
using routing::iequals;

// A target is visible characters only: no control byte, space or DEL (RFC
// 9112 section 3: the request line has exactly two spaces; RFC 3986 has no
// control characters). Bytes >= 0x80 are left to the upstream, as nginx does.
bool clean_target(std::string_view target) {
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Calls f(token) for each non-empty comma-separated token (RFC 9110 section 5.6.1).
template <typename F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view token = trim(list.substr(0, comma));
    if (!token.empty()) f(token);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Connection may not nominate these (RFC 9110 section 7.6.1: a sender must
// not nominate a field meant for all recipients). Honouring it would change
// framing or the authority for the upstream but not for us (or for any hop
// that ignores the nomination, as nginx and HAProxy do); ignoring it would
// forward a message two hops read differently. So: 400.
constexpr std::array<std::string_view, 3> kNotNominable{"host", "content-length", "transfer-encoding"};

ParseRejection bad(Reason code, std::string_view detail) { return {400, code, detail}; }

}  // namespace

std::optional<ParseRejection> vet_request_head(RequestHead& head) {
  // llhttp takes a request line without a version for HTTP/0.9 ("GET /a",
  // or "GET /a<LF>" with the rest of the line as a header): no such thing
  // is forwarded as HTTP/1.1. HTTP/2 and later never arrive as text.
  if (head.http_major == 0) return bad(Reason::invalid_version, "request line without an HTTP/1.x version");
  if (head.http_major > 1)
    return ParseRejection{505, Reason::http_version_not_supported, "only HTTP/1.0 and HTTP/1.1 are served"};
  if (head.method == "CONNECT") return ParseRejection{405, Reason::method_not_allowed, "CONNECT is not proxied"};

  if (!clean_target(head.target))
    return bad(Reason::invalid_target, "control byte, space, CR or LF in the request target");
  const std::optional<routing::RequestTarget> target = routing::parse_request_target(head.target);
  if (!target)
    return bad(Reason::invalid_target, "request target is not origin-form, http(s) absolute-form or OPTIONS *");
  if (target->form == routing::TargetForm::asterisk && head.method != "OPTIONS")
    return bad(Reason::invalid_target, "asterisk-form target on a method other than OPTIONS");

  // One pass: names, Host, routing headers, and whether a rewrite is needed.
  const HeaderField* host = nullptr;
  RoutingHeaderCheck routing_headers;
  bool has_connection = false;
  bool has_upgrade_fields = false;
  for (const HeaderField& field : head.headers) {
    // llhttp (strict) refuses every byte of a name that is no tchar (RFC
    // 9110 section 5.6.2) but lets an empty name through (": value"). The
    // fuzz target checks that every name that gets here is a token.
    if (field.name.empty()) return bad(Reason::invalid_header_name, "empty header name");
    if (iequals(field.name, "host")) {
      if (host) return bad(Reason::duplicate_host, "more than one Host header");
      host = &field;
      continue;
    }
    if (!routing_headers.add(field.name, field.value))
      return bad(Reason::duplicate_routing_header, "routing header repeated or holding a list");
    if (iequals(field.name, "connection")) has_connection = true;
    if (iequals(field.name, "upgrade") || iequals(field.name, "http2-settings")) has_upgrade_fields = true;
  }
  // RFC 9112 section 3.2: a 400 for an HTTP/1.1 request without Host, with
  // more than one, or with an invalid value.
  const bool http11 = head.http_major > 1 || (head.http_major == 1 && head.http_minor >= 1);
  if (!host && http11) return bad(Reason::missing_host, "HTTP/1.1 request without Host");
  if (host && !routing::parse_authority(host->value))
    return bad(Reason::invalid_host, "Host is not a valid authority (host[:port])");

  // Connection-nominated fields go before routing reads the request: a
  // nominated x-deployment-id, rsc or next-action must not route or classify
  // when the next hop will never see it.
  if (has_connection) {
    const ConnectionTokens connection(head.headers);
    for (std::string_view name : kNotNominable)
      if (connection.names(name))
        return bad(Reason::invalid_connection_header, "Connection names host, content-length or transfer-encoding");
    // Connection itself is hop-by-hop and dropped when forwarding; its close
    // and upgrade options keep their meaning. Origin stays end-to-end, as
    // when forwarding. Upgrade is decided below. Marked first (an empty
    // name, which no field has any more: refused above), removed
    // after, so no field moves while `connection` still points into them.
    bool any = false;
    for (HeaderField& field : head.headers) {
      if (iequals(field.name, "connection") || iequals(field.name, "origin") || iequals(field.name, "upgrade")) continue;
      if (!connection.names(field.name)) continue;
      field.name.clear();
      any = true;
    }
    if (any) std::erase_if(head.headers, [](const HeaderField& field) { return field.name.empty(); });
  }

  // Only websocket is tunnelled. h2c (RFC 9113 section 3.1 removed it) and
  // any other protocol would make the upstream switch protocols on a
  // connection we parse as HTTP/1.1: the Upgrade is dropped and the request
  // proxied as plain HTTP. HTTP2-Settings is connection-specific: never sent.
  if (has_upgrade_fields) {
    bool websocket = false;
    for (const HeaderField& field : head.headers) {
      if (!iequals(field.name, "upgrade")) continue;
      for_each_token(field.value, [&](std::string_view token) { websocket = websocket || iequals(token, "websocket"); });
    }
    head.upgrade = head.upgrade && websocket;
    std::erase_if(head.headers, [](const HeaderField& field) {
      return iequals(field.name, "upgrade") || iequals(field.name, "http2-settings");
    });
    if (head.upgrade) head.headers.push_back({"Upgrade", "websocket"});
  } else {
    head.upgrade = false;  // llhttp saw Connection: upgrade without an Upgrade field
  }

  if (target->form == routing::TargetForm::absolute) {
    // Copies: both views point into head.target, which is rewritten.
    const std::string authority(target->authority);
    std::string_view rest = target->path_and_query;
    rest = rest.substr(0, rest.find('#'));
    std::string origin_form;
    if (rest.empty()) {
      origin_form = head.method == "OPTIONS" ? "*" : "/";
    } else {
      if (rest.front() == '?') origin_form = "/";
      origin_form.append(rest);
    }
    head.target = std::move(origin_form);
    // `host` may be dangling after the erase_if calls above: find it again.
    auto it = std::find_if(head.headers.begin(), head.headers.end(),
                           [](const HeaderField& field) { return iequals(field.name, "host"); });
    if (it != head.headers.end()) {
      it->value = authority;
    } else {
      head.headers.push_back({"Host", authority});  // HTTP/1.0 without Host
    }
  }
  return std::nullopt;
}

}  // namespace sg::gateway
