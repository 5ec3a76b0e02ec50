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

// An authority (RFC 3986 section 3.2) as skewgate accepts it in Host and in
// an absolute-form target. Stricter than the RFC on purpose: every form that
// two parsers could read as different hosts is refused (RFC 9112 section 3.2:
// a Host with an invalid value is a 400). Accepted: a reg-name of ALPHA DIGIT
// "-" "." "_" "~" (no percent-encoding, no sub-delims such as "," or ";"), an
// IPv4 address, or an IPv6 literal in brackets (no zone, no IPvFuture);
// optionally ":" and a port of 1 to 5 digits in 1..65535. Refused: empty,
// userinfo ("a@b"), spaces, "/", "\", "?", "#", an empty or junk port.
struct Authority {
  std::string_view host;  // "shop.test", "[::1]"
  std::string_view port;  // digits, empty when absent
};
std::optional<Authority> parse_authority(std::string_view text);

// The request-target forms of RFC 9112 section 3.2.
enum class TargetForm { origin, absolute, asterisk };
struct RequestTarget {
  TargetForm form = TargetForm::origin;
  std::string_view authority;       // absolute-form: as written, valid per parse_authority
  std::string_view path_and_query;  // absolute-form: what follows the authority, may be empty
};
// nullopt for anything else: authority-form (only CONNECT uses it, and
// CONNECT is refused), a scheme other than http/https, userinfo, a relative
// reference, or an absolute-form target whose authority parse_authority
// refuses.
std::optional<RequestTarget> parse_request_target(std::string_view target);

// The value of query parameter `name`, percent-decoded ('+' stays '+':
// deployment IDs never contain spaces). nullopt when absent. First wins.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

}  // namespace sg::routing
