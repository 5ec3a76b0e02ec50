// The JSON bodies of the answers skewgate writes itself (malformed-request
// 4xx, deadlines, upstream 5xx), whatever protocol carries them. Each names a
// stable snake_case code.
#pragma once

#include <string>
#include <string_view>

namespace sg::gateway {

// {"error":"<code>","message":"<message>"}
std::string json_error_body(std::string_view code, std::string_view message);

// {"error":"upstream_unavailable","app":..,"build":..,"reason":..}
std::string upstream_error_body(std::string_view app, std::string_view build, std::string_view reason);

}  // namespace sg::gateway
