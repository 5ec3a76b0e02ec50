// The HTTP/1.1 bytes of a response skewgate writes itself: skew answers,
// malformed-request 4xx and upstream 5xx (their JSON bodies: gateway/http/error_body.h).
#pragma once

#include <string>
#include <string_view>

#include "gateway/http/http_head.h"

namespace sg::gateway {

// A whole response: status line, `headers`, Content-Length, Connection:
// close when !keep_alive, then the body unless `head_only`.
std::string render_reply(int status, const HeaderList& headers, std::string_view body, bool keep_alive,
                         bool head_only);

}  // namespace sg::gateway
