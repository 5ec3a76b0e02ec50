// The responses skewgate gives for requests no kept build can serve
// (design.md section 5). Pure: each returns an Answer for the gateway to write.
#pragma once

#include <string_view>

#include "conf/config.h"
#include "metrics/reason.h"
#include "routing/request_kind.h"
#include "skew/verdict.h"

namespace sg::skew {

struct ReloadContext {
  metrics::Reason reason;          // build_retired, build_unknown, build_unhealthy, build_killed, action_not_found
  std::string_view client_build;   // the ID the request named; "unknown" when none
  std::string_view current_build;
  std::string_view path_and_query; // the request target, for x-action-redirect / Location / "reload";
                                   // made same-origin here (same_origin_target)
};

// `x-skewgate-reload: required; reason=<reason>; build=<client build>`
std::string reload_header_value(const ReloadContext& context);

// An action: by client (form post 303; react-server: the flight answers
// below; JSON 409 for clients that prefer JSON) and policy (reload: 200 +
// x-action-redirect; error: 409 text/plain with the message).
Answer action_reload_answer(const routing::Classification& classification, const conf::SkewConfig& skew,
                            const ReloadContext& context);
// A React-Server-Action call (@lazarv/react-server), whose client ignores the
// status and any JSON or text body (issue 15, measured):
//  - policy reload: 200 text/x-component whose flight rows make React import
//    `skew.reload_module_path` (served by skewgate: reload_module_answer),
//    which reloads the page onto the live build:
//      1:I["<path>",[],"default",1]\n0:["$L1"]\n
//  - policy error: the flight error row, with `react-server-data: rsc` so the
//    client treats it as the function's result; the call rejects with
//    `error.digest` = skew.message (the app's catch or error boundary):
//      0:["$@1"]\n1:E{"digest":"<message>"}\n
// Path and message are JSON-escaped (the module path is checked at load too).
Answer react_server_reload_answer(const conf::SkewConfig& skew, const ReloadContext& context);

// The module the flight reload answer imports, for a GET or HEAD of
// skew.reload_module_path (200 text/javascript, no-store); any other method
// gets 405 with `allow: GET, HEAD`.
Answer reload_module_answer(std::string_view method);
inline constexpr std::string_view kReloadModuleBody =
    "location.replace(location.href.split(\"#\")[0]); export default function R(){return null}";

// An RSC request: 409 text/plain; the client then loads the URL as a document.
Answer rsc_reload_answer(const ReloadContext& context);
// The JSON body/answer for clients that are not Next.js.
Answer json_reload_answer(const ReloadContext& context);

}  // namespace sg::skew
