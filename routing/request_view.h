// What routing and the skew policy may read of a request: the head as
// received, before any rewriting. Views into storage owned by the gateway.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sg::routing {

struct HeaderField {
  std::string name;   // as received (case preserved for forwarding)
  std::string value;  // surrounding whitespace already trimmed
};

// ASCII case-insensitive equality (header names). Inline: it runs for every
// header of every request.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x == y) continue;
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + ('a' - 'A'));
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + ('a' - 'A'));
    if (x != y) return false;
  }
  return true;
}

struct RequestView {
  std::string_view method;  // "GET", "POST", ...
  std::string_view target;  // request-target as received: "/path?query"
  std::span<const HeaderField> headers;

  // First header with this name, compared case-insensitively; exact name
  // only (an underscore variant such as x_deployment_id never matches).
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  std::string_view host() const;  // Host header without ":port", lower-cased by the caller's needs
  std::string_view path() const;   // target up to '?'
  std::string_view query() const;  // after '?', without it; empty when none
};

// The value of query parameter `name`, percent-decoded ('+' stays '+':
// deployment IDs never contain spaces). nullopt when absent. First wins.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

}  // namespace sg::routing
