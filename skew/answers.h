// The responses skewgate gives for requests no kept build can serve
// (design.md section 5). Pure: each returns an Answer for the gateway to write.
#pragma once

#include <string_view>

#include "conf/config.h"
#include "routing/request_kind.h"
#include "skew/verdict.h"

namespace sg::skew {

struct ReloadContext {
  std::string_view reason;         // build_retired, build_unknown, build_unhealthy, build_killed, action_not_found
  std::string_view client_build;   // the ID the request named; "unknown" when none
  std::string_view current_build;
  std::string_view path_and_query; // the request target, for x-action-redirect / Location / "reload";
                                   // made same-origin here (same_origin_target)
};

// `x-skewgate-reload: required; reason=<reason>; build=<client build>`
std::string reload_header_value(const ReloadContext& context);

// An action: by client (form post 303, react-server or JSON 409) and policy
// (reload: 200 + x-action-redirect; error: 409 text/plain with the message).
Answer action_reload_answer(const routing::Classification& classification, const conf::SkewConfig& skew,
                            const ReloadContext& context);
// An RSC request: 409 text/plain; the client then loads the URL as a document.
Answer rsc_reload_answer(const ReloadContext& context);
// The JSON body/answer for clients that are not Next.js.
Answer json_reload_answer(const ReloadContext& context);

}  // namespace sg::skew
