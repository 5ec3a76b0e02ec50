// Headers routing or classification reads one value of (x-deployment-id,
// next-action, react-server-action, rsc, next-router-prefetch). A second
// field or a list would be one value to us and another to a server that
// joins repeated fields with ", " (Node does): every codec refuses such a
// request instead of choosing (duplicate_routing_header).
#pragma once

#include <array>
#include <string_view>
#include <vector>

#include "routing/request_view.h"

namespace sg::gateway {

// Counts, per routing header, what a request carries; one call per field.
class RoutingHeaderCheck {
 public:
  // False when `name` is a routing header seen before, or its value holds a list.
  bool add(std::string_view name, std::string_view value) {
    for (std::size_t i = 0; i < kNames.size(); ++i) {
      if (!routing::iequals(name, kNames[i])) continue;
      return ++count_[i] == 1 && value.find(',') == std::string_view::npos;
    }
    return true;
  }

 private:
  static constexpr std::array<std::string_view, 5> kNames{"x-deployment-id", "next-action", "react-server-action",
                                                          "rsc", "next-router-prefetch"};
  std::array<unsigned char, kNames.size()> count_{};
};

}  // namespace sg::gateway
