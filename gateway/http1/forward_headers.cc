// Request and response head rewriting at the proxy boundary (RFC 9110
// section 7.6.1, RFC 9112 section 9.6). Hot path: one append pass into the
// caller's buffer, no per-header allocation, names compared with iequals.
#include "gateway/http1/http_head.h"

#include <charconv>
#include <cstddef>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <string_view>

namespace sg::gateway {

namespace {

using routing::iequals;

// Hop-by-hop headers (RFC 9110 section 7.6.1, plus the legacy Keep-Alive and
// Proxy-Connection, and HTTP2-Settings, which RFC 7540 section 3.2.1 makes
// connection-specific). Transfer-Encoding is rewritten from the framing.
bool is_hop_by_hop(std::string_view name) {
  for (std::string_view hop : {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                               "transfer-encoding", "upgrade", "http2-settings"}) {
    if (iequals(name, hop)) return true;
  }
  return false;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// True when any Connection header lists `name` among its comma-separated
// options (every Connection header counts, any case). Scans instead of
// collecting so nothing is allocated; heads are bounded by limits.headers.
bool named_in_connection(const std::vector<HeaderField>& headers, std::string_view name) {
  for (const HeaderField& field : headers) {
    if (!iequals(field.name, "connection")) continue;
    std::string_view rest = field.value;
    while (!rest.empty()) {
      std::size_t comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), name)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

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

// Whether `field` is forwarded at all: hop-by-hop and Connection-nominated
// headers stop here, except Host and Origin which are end-to-end whatever
// Connection says (Next.js compares them for Server Actions). Framing headers
// are rewritten by the caller.
bool forwardable(const std::vector<HeaderField>& headers, std::string_view name) {
  if (iequals(name, "host") || iequals(name, "origin")) return true;
  if (is_hop_by_hop(name) || iequals(name, "content-length")) return false;
  return !named_in_connection(headers, name);
}

void append_framing(std::string& out, bool chunked, const std::optional<std::uint64_t>& content_length) {
  if (chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  } else if (content_length) {
    out.append("Content-Length: ");
    append_number(out, *content_length);
    out.append("\r\n");
  }
}

}  // namespace

void append_upstream_request_head(std::string& out, const RequestHead& head, const ForwardContext& context) {
  out.reserve(out.size() + estimated_size(head.headers) + head.method.size() + head.target.size());
  out.append(head.method).append(" ").append(head.target).append(" HTTP/1.1\r\n");

  std::string_view host;
  bool host_seen = false;
  for (const HeaderField& field : head.headers) {
    const std::string_view name = field.name;
    if (iequals(name, "upgrade")) {
      // Upgrade is hop-by-hop, but a tunnel needs the next hop to see it.
      if (head.upgrade) append_header(out, name, field.value);
      continue;
    }
    if (!forwardable(head.headers, name)) continue;
    // CVE-2025-29927: this header makes Next.js skip its middleware (auth).
    if (iequals(name, "x-middleware-subrequest")) continue;
    // Written below from the context.
    if (iequals(name, "x-forwarded-for") || iequals(name, "x-forwarded-proto") ||
        iequals(name, "x-forwarded-host")) {
      continue;
    }
    // Other claims about the client that apps and frameworks read (Next.js
    // and Express read X-Real-IP and Forwarded for the client address and
    // scheme): believed only from a trusted proxy, never forged by a client.
    if (!context.peer_trusted && (iequals(name, "x-real-ip") || iequals(name, "forwarded") ||
                                  iequals(name, "x-forwarded-port"))) {
      continue;
    }
    if (iequals(name, "host") && !host_seen) {
      host = field.value;
      host_seen = true;
    }
    append_header(out, name, field.value);
  }

  // X-Forwarded-*: received values count only from a trusted peer. Several
  // X-Forwarded-For fields are one list (RFC 9110 section 5.3).
  bool forwarded_for_open = false;
  std::string_view forwarded_proto;
  std::string_view forwarded_host;
  if (context.peer_trusted) {
    for (const HeaderField& field : head.headers) {
      if (iequals(field.name, "x-forwarded-for")) {
        if (field.value.empty() || named_in_connection(head.headers, field.name)) continue;
        out.append(forwarded_for_open ? ", " : "X-Forwarded-For: ").append(field.value);
        forwarded_for_open = true;
      } else if (forwarded_proto.empty() && iequals(field.name, "x-forwarded-proto")) {
        if (!named_in_connection(head.headers, field.name)) forwarded_proto = field.value;
      } else if (forwarded_host.empty() && iequals(field.name, "x-forwarded-host")) {
        if (!named_in_connection(head.headers, field.name)) forwarded_host = field.value;
      }
    }
  }
  if (!context.peer_ip.empty()) {
    out.append(forwarded_for_open ? ", " : "X-Forwarded-For: ").append(context.peer_ip);
    forwarded_for_open = true;
  }
  if (forwarded_for_open) out.append("\r\n");
  if (forwarded_proto.empty()) forwarded_proto = context.downstream_tls ? "https" : "http";
  append_header(out, "X-Forwarded-Proto", forwarded_proto);
  if (forwarded_host.empty()) forwarded_host = host;
  if (!forwarded_host.empty()) append_header(out, "X-Forwarded-Host", forwarded_host);

  if (head.upgrade) out.append("Connection: upgrade\r\n");
  append_framing(out, head.chunked, head.content_length);
  out.append("\r\n");
}

void append_downstream_response_head(std::string& out, const ResponseHead& head, BodyFraming framing,
                                     bool keep_alive) {
  out.reserve(out.size() + estimated_size(head.headers) + head.reason.size());
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<std::uint64_t>(head.status < 0 ? 0 : head.status));
  out.append(" ").append(head.reason.empty() ? reason_phrase(head.status) : std::string_view(head.reason));
  out.append("\r\n");

  const bool switching = head.status == 101;
  for (const HeaderField& field : head.headers) {
    if (iequals(field.name, "upgrade")) {
      if (switching) append_header(out, field.name, field.value);
      continue;
    }
    if (!forwardable(head.headers, field.name)) continue;
    append_header(out, field.name, field.value);
  }

  if (switching) {
    // The connection becomes a tunnel: no body framing, no close.
    out.append("Connection: upgrade\r\n\r\n");
    return;
  }
  if (head.status >= 100 && head.status < 200) {
    // Interim responses (100, 103) have no body and the final one follows.
    out.append("\r\n");
    return;
  }
  switch (framing) {
    case BodyFraming::content_length: append_framing(out, false, head.content_length); break;
    case BodyFraming::chunked: append_framing(out, true, std::nullopt); break;
    case BodyFraming::none:
    case BodyFraming::until_close: break;
  }
  // A body delimited by the close of the connection cannot keep it open.
  if (!keep_alive || framing == BodyFraming::until_close) out.append("Connection: close\r\n");
  out.append("\r\n");
}

void append_chunk(std::string& out, std::string_view data) {
  char size[20];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out.append(size, static_cast<std::size_t>(n));
  out.append(data);
  out.append("\r\n", 2);
}

}  // namespace sg::gateway
