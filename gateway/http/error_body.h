// The JSON bodies of the answers skewgate writes itself (malformed-request
// 4xx, deadlines, upstream 5xx), whatever protocol carries them. Each names a
// catalogue code (metrics/reason.h).
#pragma once

#include <string>
#include <string_view>

#include "metrics/reason.h"

namespace sg::gateway {

// {"error":"<code>","message":"<message>"}
std::string json_error_body(metrics::Reason code, std::string_view message);

// {"error":"upstream_unavailable","app":..,"build":..,"reason":..}
std::string upstream_error_body(std::string_view app, std::string_view build, metrics::Reason reason);

}  // namespace sg::gateway
