#include "skew/pin_cookie.h"

namespace sg::skew {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// One `name=value` pair of a Cookie header, split at its first '=' and
// trimmed; the value without its double quotes. False for a pair without
// '=', which names no cookie we want.
bool split_pair(std::string_view pair, std::string_view& name, std::string_view& value) {
  const std::size_t equals = pair.find('=');
  if (equals == std::string_view::npos) return false;
  name = trim(pair.substr(0, equals));
  value = trim(pair.substr(equals + 1));
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  return true;
}

// Calls `visit(name, value)` for each pair of `cookie_header` in order
// until it returns true (done).
template <typename Visit>
bool each_pair(std::string_view cookie_header, Visit&& visit) {
  while (!cookie_header.empty()) {
    const std::size_t end = cookie_header.find(';');
    const std::string_view pair = cookie_header.substr(0, end);
    cookie_header = end == std::string_view::npos ? std::string_view() : cookie_header.substr(end + 1);
    std::string_view name, value;
    if (split_pair(pair, name, value) && visit(name, value)) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string_view> find_cookie(std::string_view cookie_header, std::string_view name) {
  if (name.empty()) return std::nullopt;
  std::optional<std::string_view> found;
  each_pair(cookie_header, [&](std::string_view n, std::string_view value) {
    if (n != name) return false;
    found = value;
    return true;
  });
  return found;
}

CookiePair find_cookies(std::span<const routing::HeaderField> headers, std::string_view first,
                        std::string_view second) {
  CookiePair out;
  // An empty name is never found, as in find_cookie.
  bool want_first = !first.empty();
  bool want_second = !second.empty();
  for (const routing::HeaderField& field : headers) {
    if (!want_first && !want_second) break;
    if (!routing::iequals(field.name, "cookie")) continue;
    // The first pair with a name wins, in the first header that has it.
    each_pair(field.value, [&](std::string_view name, std::string_view value) {
      if (want_first && name == first) {
        out.first = value;
        want_first = false;
      }
      if (want_second && name == second) {
        out.second = value;
        want_second = false;
      }
      return !want_first && !want_second;
    });
  }
  return out;
}

std::optional<std::string_view> find_cookie(std::span<const routing::HeaderField> headers, std::string_view name) {
  for (const routing::HeaderField& field : headers) {
    if (!routing::iequals(field.name, "cookie")) continue;
    if (std::optional<std::string_view> value = find_cookie(field.value, name)) return value;
  }
  return std::nullopt;
}

bool pin_fits_response(int status, std::string_view content_type) {
  if (status < 200 || status > 499) return false;
  return routing::iequals(trim(content_type.substr(0, content_type.find(';'))), "text/html");
}

std::string pin_set_cookie(std::string_view name, std::string_view value, std::int64_t max_age_s, bool secure) {
  std::string out;
  out.reserve(name.size() + value.size() + 64);
  out.append(name);
  out.push_back('=');
  out.append(value);
  out += "; Path=/; Max-Age=";
  out += std::to_string(max_age_s < 0 ? 0 : max_age_s);
  out += "; HttpOnly; SameSite=Lax";
  if (secure) out += "; Secure";
  return out;
}

}  // namespace sg::skew
