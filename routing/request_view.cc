#include "routing/request_view.h"

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

}  // namespace

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
