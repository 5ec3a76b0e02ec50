#include "routing/request_view.h"

#include <arpa/inet.h>

#include <cstddef>

namespace sg::routing {

namespace {

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `raw`; nullopt when an escape is malformed ("%4", "%zz").
std::optional<std::string> percent_decode(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      out.push_back(raw[i]);
      continue;
    }
    if (i + 2 >= raw.size()) return std::nullopt;
    int high = hex_value(raw[i + 1]);
    int low = hex_value(raw[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

// A request-target never carries a fragment on the wire; if a lenient client
// sends one anyway it is not part of the path or the query.
std::string_view without_fragment(std::string_view target) {
  std::size_t hash = target.find('#');
  return hash == std::string_view::npos ? target : target.substr(0, hash);
}

bool reg_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// 1 to 5 digits, 1..65535. Port 0 names no listener; leading signs, spaces
// or a second colon are junk.
bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value >= 1 && value <= 65535;
}

bool starts_with_scheme(std::string_view target, std::string_view scheme_and_slashes) {
  return target.size() >= scheme_and_slashes.size() &&
         iequals(target.substr(0, scheme_and_slashes.size()), scheme_and_slashes);
}

}  // namespace

std::optional<Authority> parse_authority(std::string_view text) {
  // DNS names are at most 253 characters; with a port and brackets, 300 is
  // generous and keeps inet_pton's buffer small.
  constexpr std::size_t kMaxAuthority = 300;
  if (text.empty() || text.size() > kMaxAuthority) return std::nullopt;
  Authority out;
  std::string_view rest;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view inner = text.substr(1, close - 1);
    char buffer[64];
    if (inner.empty() || inner.size() >= sizeof buffer) return std::nullopt;
    for (char c : inner) {
      const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
                      c == '.';
      if (!ok) return std::nullopt;  // no zone ("%25eth0"), no IPvFuture ("v1.x")
    }
    inner.copy(buffer, inner.size());
    buffer[inner.size()] = '\0';
    unsigned char address[16];
    if (inet_pton(AF_INET6, buffer, address) != 1) return std::nullopt;
    out.host = text.substr(0, close + 1);
    rest = text.substr(close + 1);
  } else {
    const std::size_t colon = text.find(':');
    out.host = text.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
    if (out.host.empty()) return std::nullopt;
    for (char c : out.host)
      if (!reg_name_char(c)) return std::nullopt;
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || !valid_port(rest.substr(1))) return std::nullopt;
    out.port = rest.substr(1);
  }
  return out;
}

std::optional<RequestTarget> parse_request_target(std::string_view target) {
  RequestTarget out;
  if (!target.empty() && target.front() == '/') return out;
  if (target == "*") {
    out.form = TargetForm::asterisk;
    return out;
  }
  // RFC 9112 section 3.2.2; schemes are case-insensitive (RFC 3986 section 3.1).
  std::size_t skip = 0;
  if (starts_with_scheme(target, "http://")) {
    skip = 7;
  } else if (starts_with_scheme(target, "https://")) {
    skip = 8;
  } else {
    return std::nullopt;
  }
  const std::string_view after = target.substr(skip);
  const std::size_t end = after.find_first_of("/?#");
  out.form = TargetForm::absolute;
  out.authority = after.substr(0, end);
  out.path_and_query = end == std::string_view::npos ? std::string_view{} : after.substr(end);
  // Userinfo is refused here too: parse_authority has no "@" (RFC 9110
  // section 4.2.4: a recipient treats userinfo in an http URI as an error).
  if (!parse_authority(out.authority)) return std::nullopt;
  return out;
}

std::string_view RequestView::header(std::string_view name) const {
  for (const HeaderField& field : headers) {
    if (iequals(field.name, name)) return field.value;
  }
  return {};
}

bool RequestView::has_header(std::string_view name) const {
  for (const HeaderField& field : headers) {
    if (iequals(field.name, name)) return true;
  }
  return false;
}

std::string_view RequestView::host() const {
  std::string_view value = header("host");
  if (value.empty()) return value;
  if (value.front() == '[') {
    // IPv6 literal (RFC 3986 section 3.2.2): "[::1]:8080" -> "[::1]".
    std::size_t close = value.find(']');
    return close == std::string_view::npos ? value : value.substr(0, close + 1);
  }
  std::size_t colon = value.rfind(':');
  // More than one colon without brackets is not a host:port; leave it whole.
  if (colon == std::string_view::npos || value.find(':') != colon) return value;
  return value.substr(0, colon);
}

std::string_view RequestView::path() const {
  std::string_view target_only = without_fragment(target);
  std::size_t question = target_only.find('?');
  return question == std::string_view::npos ? target_only : target_only.substr(0, question);
}

std::string_view RequestView::query() const {
  std::string_view target_only = without_fragment(target);
  std::size_t question = target_only.find('?');
  return question == std::string_view::npos ? std::string_view{} : target_only.substr(question + 1);
}

// Names compare exactly (URLs are case-sensitive) and are not decoded: a
// client that writes "%64pl" does not mean dpl. The first occurrence decides;
// when its value has a malformed escape the parameter counts as absent rather
// than routing on a value we had to guess at.
std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);

    std::size_t equals = pair.find('=');
    std::string_view key = pair.substr(0, equals);
    if (key != name) continue;
    if (equals == std::string_view::npos) return std::string{};
    return percent_decode(pair.substr(equals + 1));
  }
  return std::nullopt;
}

}  // namespace sg::routing
