// Responses skewgate writes itself: skew answers, malformed-request 4xx and
// upstream 5xx. Each carries a catalogue code (metrics/reason.h) in its JSON body.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/reason.h"

namespace sg::gateway {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A whole response: status line, `headers`, Content-Length, Connection:
// close when !keep_alive, then the body unless `head_only`.
std::string render_reply(int status, const HeaderList& headers, std::string_view body, bool keep_alive,
                         bool head_only);

// {"error":"<code>","message":"<message>"}
std::string json_error_body(metrics::Reason code, std::string_view message);

// {"error":"upstream_unavailable","app":..,"build":..,"reason":..}
std::string upstream_error_body(std::string_view app, std::string_view build, metrics::Reason reason);

}  // namespace sg::gateway
