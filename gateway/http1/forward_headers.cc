// Request and response head rewriting at the proxy boundary (RFC 9110
// section 7.6.1, RFC 9112 section 9.6). Hot path: one append pass into the
// caller's buffer, no per-header allocation, names compared with is_field
// (gateway/http/field_name.h).
#include "gateway/http1/http_head.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>

#include "gateway/http/connection_tokens.h"
#include "gateway/http/field_name.h"

namespace sg::gateway {

namespace {

using routing::iequals;

// The fields the forwarding rules name, told apart once per field: a switch
// on the length, then at most three case-insensitive compares, instead of
// a dozen compares for every field of every message.
enum class Field {
  other,
  host,
  origin,
  upgrade,
  content_length,
  hop_by_hop,  // besides Upgrade
  x_middleware_subrequest,
  x_forwarded_for,
  x_forwarded_proto,
  x_forwarded_host,
  client_claim,  // X-Real-IP, Forwarded, X-Forwarded-Port
};

// The names classify() knows, packed for is_field (gateway/http/field_name.h).
constexpr FieldName kTe{"te"};
constexpr FieldName kHost{"host"};
constexpr FieldName kOrigin{"origin"};
constexpr FieldName kUpgrade{"upgrade"};
constexpr FieldName kTrailer{"trailer"};
constexpr FieldName kXRealIp{"x-real-ip"};
constexpr FieldName kForwarded{"forwarded"};
constexpr FieldName kKeepAlive{"keep-alive"};
constexpr FieldName kContentLength{"content-length"};
constexpr FieldName kHttp2Settings{"http2-settings"};
constexpr FieldName kXForwardedFor{"x-forwarded-for"};
constexpr FieldName kProxyConnection{"proxy-connection"};
constexpr FieldName kXForwardedHost{"x-forwarded-host"};
constexpr FieldName kXForwardedPort{"x-forwarded-port"};
constexpr FieldName kTransferEncoding{"transfer-encoding"};
constexpr FieldName kXForwardedProto{"x-forwarded-proto"};
constexpr FieldName kXMiddlewareSubrequest{"x-middleware-subrequest"};
// kConnection: gateway/http/connection_tokens.h

// Hop-by-hop headers (RFC 9110 section 7.6.1, plus the legacy Keep-Alive and
// Proxy-Connection, and HTTP2-Settings, which RFC 7540 section 3.2.1 makes
// connection-specific): connection, keep-alive, proxy-connection, te,
// trailer, transfer-encoding, upgrade, http2-settings. Transfer-Encoding is
// rewritten from the framing.
Field classify(std::string_view name) {
  switch (name.size()) {
    case 2:
      if (is_field(name, kTe)) return Field::hop_by_hop;
      break;
    case 4:
      if (is_field(name, kHost)) return Field::host;
      break;
    case 6:
      if (is_field(name, kOrigin)) return Field::origin;
      break;
    case 7:
      if (is_field(name, kUpgrade)) return Field::upgrade;
      if (is_field(name, kTrailer)) return Field::hop_by_hop;
      break;
    case 9:
      if (is_field(name, kXRealIp) || is_field(name, kForwarded)) return Field::client_claim;
      break;
    case 10:
      if (is_field(name, kConnection) || is_field(name, kKeepAlive)) return Field::hop_by_hop;
      break;
    case 14:
      if (is_field(name, kContentLength)) return Field::content_length;
      if (is_field(name, kHttp2Settings)) return Field::hop_by_hop;
      break;
    case 15:
      if (is_field(name, kXForwardedFor)) return Field::x_forwarded_for;
      break;
    case 16:
      if (is_field(name, kProxyConnection)) return Field::hop_by_hop;
      if (is_field(name, kXForwardedHost)) return Field::x_forwarded_host;
      if (is_field(name, kXForwardedPort)) return Field::client_claim;
      break;
    case 17:
      if (is_field(name, kTransferEncoding)) return Field::hop_by_hop;
      if (is_field(name, kXForwardedProto)) return Field::x_forwarded_proto;
      break;
    case 23:
      if (is_field(name, kXMiddlewareSubrequest)) return Field::x_middleware_subrequest;
      break;
    default: break;
  }
  return Field::other;
}

// Writes a head into `out` through a cursor: one resize of `out` to the
// expected size up front, a bounds check and memcpy per piece, one resize
// down at the end. A head costs a few hundred bytes of zero fill instead of
// a capacity check, a length update and a call per piece through
// std::string::append (four per header). A larger head grows `out`.
class HeadWriter {
 public:
  HeadWriter(std::string& out, std::size_t expected) : out_(out) {
    const std::size_t used = out_.size();
    out_.resize(used + expected);
    at(used);
  }
  HeadWriter(const HeadWriter&) = delete;
  HeadWriter& operator=(const HeadWriter&) = delete;
  ~HeadWriter() { out_.resize(static_cast<std::size_t>(p_ - out_.data())); }

  // Inlined on purpose: a call per piece is what this class saves, and GCC
  // at -O2 kept put() out of line (callgrind: 0.5k instructions per request).
  [[gnu::always_inline]] void put(std::string_view text) {
    room(text.size());
    copy(text);
  }
  [[gnu::always_inline]] void header(std::string_view name, std::string_view value) {
    room(name.size() + value.size() + 4);
    copy(name);
    *p_++ = ':';
    *p_++ = ' ';
    copy(value);
    *p_++ = '\r';
    *p_++ = '\n';
  }
  void number(std::uint64_t value) {
    room(24);
    p_ = std::to_chars(p_, p_ + 24, value).ptr;
  }

 private:
  // An empty view may have no data (a default reason phrase): memcpy from a
  // null pointer is undefined even for 0 bytes (UBSan's nonnull-attribute).
  [[gnu::always_inline]] void copy(std::string_view text) {
    if (text.empty()) return;
    std::memcpy(p_, text.data(), text.size());
    p_ += text.size();
  }
  [[gnu::always_inline]] void room(std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n) grow(n);
  }
  void grow(std::size_t n) {
    const std::size_t used = static_cast<std::size_t>(p_ - out_.data());
    out_.resize(std::max(out_.size() * 2, used + n));
    at(used);
  }
  void at(std::size_t used) {
    p_ = out_.data() + used;
    end_ = out_.data() + out_.size();
  }

  std::string& out_;
  char* p_ = nullptr;
  char* end_ = nullptr;
};

std::size_t estimated_size(const std::vector<HeaderField>& headers) {
  std::size_t size = 256;  // start line, framing and added headers
  for (const HeaderField& field : headers) size += field.name.size() + field.value.size() + 4;
  return size;
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 511: return "Network Authentication Required";
    default: return {};  // the reason phrase may be empty (RFC 9112 section 4)
  }
}

namespace {

// Whether a field of kind `kind` named `name` is forwarded at all:
// hop-by-hop and Connection-nominated headers stop here, except Host and
// Origin which are end-to-end whatever Connection says (Next.js compares them
// for Server Actions). Framing headers are rewritten by the caller.
bool forwardable(Field kind, std::string_view name, const ConnectionTokens& connection) {
  if (kind == Field::host || kind == Field::origin) return true;
  if (kind == Field::hop_by_hop || kind == Field::upgrade || kind == Field::content_length) return false;
  return !connection.names(name);
}

void append_framing(HeadWriter& w, bool chunked, const std::optional<std::uint64_t>& content_length) {
  if (chunked) {
    w.put("Transfer-Encoding: chunked\r\n");
  } else if (content_length) {
    w.put("Content-Length: ");
    w.number(*content_length);
    w.put("\r\n");
  }
}

}  // namespace

void append_upstream_request_head(std::string& out, const RequestHead& head, const ForwardContext& context) {
  HeadWriter w(out, estimated_size(head.headers) + head.method.size() + head.target.size() +
                        context.peer_ip.size());
  w.put(head.method);
  w.put(" ");
  w.put(head.target);
  w.put(" HTTP/1.1\r\n");

  const ConnectionTokens connection(head.headers);
  std::string_view host;
  bool host_seen = false;
  for (const HeaderField& field : head.headers) {
    const std::string_view name = field.name;
    const Field kind = classify(name);
    if (kind == Field::upgrade) {
      // Upgrade is hop-by-hop, but a tunnel needs the next hop to see it.
      if (head.upgrade) w.header(name, field.value);
      continue;
    }
    if (!forwardable(kind, name, connection)) continue;
    switch (kind) {
      // CVE-2025-29927: this header makes Next.js skip its middleware (auth).
      case Field::x_middleware_subrequest: continue;
      // Written below from the context.
      case Field::x_forwarded_for:
      case Field::x_forwarded_proto:
      case Field::x_forwarded_host: continue;
      // Other claims about the client that apps and frameworks read (Next.js
      // and Express read X-Real-IP and Forwarded for the client address and
      // scheme): believed only from a trusted proxy, never forged by a client.
      case Field::client_claim:
        if (!context.peer_trusted) continue;
        break;
      case Field::host:
        if (!host_seen) {
          host = field.value;
          host_seen = true;
        }
        break;
      default: break;
    }
    w.header(name, field.value);
  }

  // X-Forwarded-*: received values count only from a trusted peer. Several
  // X-Forwarded-For fields are one list (RFC 9110 section 5.3).
  bool forwarded_for_open = false;
  std::string_view forwarded_proto;
  std::string_view forwarded_host;
  if (context.peer_trusted) {
    for (const HeaderField& field : head.headers) {
      const Field kind = classify(field.name);
      if (kind == Field::x_forwarded_for) {
        if (field.value.empty() || connection.names(field.name)) continue;
        w.put(forwarded_for_open ? ", " : "X-Forwarded-For: ");
        w.put(field.value);
        forwarded_for_open = true;
      } else if (forwarded_proto.empty() && kind == Field::x_forwarded_proto) {
        if (!connection.names(field.name)) forwarded_proto = field.value;
      } else if (forwarded_host.empty() && kind == Field::x_forwarded_host) {
        if (!connection.names(field.name)) forwarded_host = field.value;
      }
    }
  }
  if (!context.peer_ip.empty()) {
    w.put(forwarded_for_open ? ", " : "X-Forwarded-For: ");
    w.put(context.peer_ip);
    forwarded_for_open = true;
  }
  if (forwarded_for_open) w.put("\r\n");
  if (forwarded_proto.empty()) forwarded_proto = context.downstream_tls ? "https" : "http";
  w.header("X-Forwarded-Proto", forwarded_proto);
  if (forwarded_host.empty()) forwarded_host = host;
  if (!forwarded_host.empty()) w.header("X-Forwarded-Host", forwarded_host);

  if (head.upgrade) w.put("Connection: upgrade\r\n");
  append_framing(w, head.chunked, head.content_length);
  w.put("\r\n");
}

void append_downstream_response_head(std::string& out, const ResponseHead& head, BodyFraming framing,
                                     bool keep_alive) {
  HeadWriter w(out, estimated_size(head.headers) + head.reason.size());
  w.put("HTTP/1.1 ");
  w.number(static_cast<std::uint64_t>(head.status < 0 ? 0 : head.status));
  w.put(" ");
  w.put(head.reason.empty() ? reason_phrase(head.status) : std::string_view(head.reason));
  w.put("\r\n");

  const bool switching = head.status == 101;
  const ConnectionTokens connection(head.headers);
  for (const HeaderField& field : head.headers) {
    const Field kind = classify(field.name);
    if (kind == Field::upgrade) {
      if (switching) w.header(field.name, field.value);
      continue;
    }
    if (!forwardable(kind, field.name, connection)) continue;
    w.header(field.name, field.value);
  }

  if (switching) {
    // The connection becomes a tunnel: no body framing, no close.
    w.put("Connection: upgrade\r\n\r\n");
    return;
  }
  if (head.status >= 100 && head.status < 200) {
    // Interim responses (100, 103) have no body and the final one follows.
    w.put("\r\n");
    return;
  }
  switch (framing) {
    case BodyFraming::content_length: append_framing(w, false, head.content_length); break;
    case BodyFraming::chunked: append_framing(w, true, std::nullopt); break;
    case BodyFraming::none:
    case BodyFraming::until_close: break;
  }
  // A body delimited by the close of the connection cannot keep it open.
  if (!keep_alive || framing == BodyFraming::until_close) w.put("Connection: close\r\n");
  w.put("\r\n");
}

void append_chunk(std::string& out, std::string_view data) {
  char size[20];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out.append(size, static_cast<std::size_t>(n));
  out.append(data);
  out.append("\r\n", 2);
}

}  // namespace sg::gateway
