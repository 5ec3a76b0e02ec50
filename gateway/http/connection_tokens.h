// The options of a message's Connection fields (RFC 9110 section 7.6.1),
// read once per head: every field named there is hop-by-hop. Shared by the
// request checks (gateway/http1/request_checks.cc), head forwarding
// (gateway/http1/forward_headers.cc) and HTTP/2's response fields
// (gateway/http2/h2_stream.cc), which each had a reader of their own and
// scanned every Connection field again for every header of the message.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

#include "gateway/http/field_name.h"
#include "routing/request_view.h"

namespace sg::gateway {

inline constexpr FieldName kConnection{"connection"};

class ConnectionTokens {
 public:
  // Views into the fields' values: valid while those fields are neither moved
  // nor changed. Every Connection field counts, in any case; tokens are
  // trimmed of spaces and tabs, and an empty one (", ,") names the empty name.
  explicit ConnectionTokens(std::span<const routing::HeaderField> headers) : headers_(headers) {
    for (const routing::HeaderField& field : headers) {
      if (!is_field(field.name, kConnection)) continue;
      any_ = true;
      for_each(field.value, [&](std::string_view token) {
        if (count_ < names_.size()) {
          names_[count_++] = token;
        } else {
          overflow_ = true;
        }
        return false;
      });
    }
  }

  // True when the message had a Connection field (even an empty one).
  bool any() const { return any_; }

  // Whether some Connection field lists `name`, ASCII case-insensitively.
  bool names(std::string_view name) const {
    for (std::size_t i = 0; i < count_; ++i)
      if (routing::iequals(names_[i], name)) return true;
    if (!overflow_) return false;
    // More options than kept (a browser sends one): scan again, as exact.
    for (const routing::HeaderField& field : headers_) {
      if (!is_field(field.name, kConnection)) continue;
      if (for_each(field.value, [&](std::string_view token) { return routing::iequals(token, name); })) return true;
    }
    return false;
  }

 private:
  static std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
  }
  // Calls f(token) for each comma-separated token until f returns true;
  // returns whether it did. An empty value has no token.
  template <typename F>
  static bool for_each(std::string_view list, F&& f) {
    while (!list.empty()) {
      const std::size_t comma = list.find(',');
      if (f(trim(list.substr(0, comma)))) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return false;
  }

  std::span<const routing::HeaderField> headers_;
  std::array<std::string_view, 8> names_{};
  std::size_t count_ = 0;
  bool overflow_ = false;
  bool any_ = false;
};

}  // namespace sg::gateway
