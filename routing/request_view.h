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

bool iequals(std::string_view a, std::string_view b);

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
