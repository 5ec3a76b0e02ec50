// design.md section 5, byte for byte. Header names are lower case; the
// gateway adds content-length and connection framing. Whatever the caller
// passes, the paths they send the client to stay on the origin
// (skew/redirect_target.h) and no header value holds a byte copied raw from
// the request. Every answer carries cache-control: no-store (no cache may
// keep a reload answer) and the structured x-skewgate-reload header, in this
// order:
//   content-type (when there is one), cache-control, the answer's own
//   headers, x-skewgate-reload.
#include "skew/answers.h"

#include <nlohmann/json.hpp>

#include <string>

#include "skew/redirect_target.h"

namespace sg::skew {
namespace {

Answer with_headers(int status, std::string_view content_type) {
  Answer answer;
  answer.status = status;
  if (!content_type.empty()) answer.headers.emplace_back("content-type", std::string(content_type));
  answer.headers.emplace_back("cache-control", "no-store");
  return answer;
}

void add_reload_header(Answer& answer, const ReloadContext& context) {
  answer.headers.emplace_back("x-skewgate-reload", reload_header_value(context));
}

}  // namespace

// The client build is whatever the request named (x-deployment-id, ?dpl=,
// percent-decoded): encoded so it can neither split the response nor forge a
// parameter, whatever the caller passes. The reason is a catalogue code
// (snake_case, nothing to encode).
std::string reload_header_value(const ReloadContext& context) {
  return "required; reason=" + std::string(metrics::to_string(context.reason)) +
         "; build=" + header_token(context.client_build);
}

Answer action_reload_answer(const routing::Classification& classification, const conf::SkewConfig& skew,
                            const ReloadContext& context) {
  // A no-JS form post is a document navigation: 303 makes the browser GET the
  // page again, now from the live build.
  if (classification.action_client == routing::ActionClient::form_post) {
    Answer answer = with_headers(303, "");
    answer.headers.emplace_back("location", same_origin_target(context.path_and_query));
    add_reload_header(answer, context);
    return answer;
  }
  if (classification.action_client == routing::ActionClient::react_server) {
    return react_server_reload_answer(skew, context);
  }
  if (classification.wants_json) return json_reload_answer(context);
  if (skew.action_policy == conf::ActionPolicy::error) {
    // Exactly text/plain: with any other type (even a charset) the Next.js
    // client drops the body instead of handing it to the app as error.message.
    // No `x-nextjs-action-not-found: 1` (design.md and issue 4 asked for it):
    // measured in Chromium, Next.js 16.4.6 checks that header first and throws
    // its own "Server Action ... was not found" without reading the body, so
    // the app would never see the message (tests/e2e, next16 retire-error).
    Answer answer = with_headers(409, "text/plain");
    add_reload_header(answer, context);
    answer.body = skew.message;
    return answer;
  }
  // The stock Next.js client answers x-action-redirect on a 200 with a full
  // page load of that path: the only recovery that needs no app code.
  Answer answer = with_headers(200, "text/plain");
  answer.headers.emplace_back("x-action-redirect", same_origin_target(context.path_and_query));
  add_reload_header(answer, context);
  return answer;
}

Answer react_server_reload_answer(const conf::SkewConfig& skew, const ReloadContext& context) {
  // nlohmann dumps a string as a JSON string literal; invalid UTF-8 is
  // replaced, never thrown on. Flight rows are one line each: a dumped
  // string never holds a raw newline.
  const auto json_string = [](std::string_view text) {
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  Answer answer = with_headers(200, "text/x-component; charset=utf-8");
  if (skew.action_policy == conf::ActionPolicy::error) {
    // The client reads the row as the function's result only with
    // react-server-data present; it ignores the status (200, as react-server
    // answers a function that threw).
    answer.headers.emplace_back("react-server-data", "rsc");
    add_reload_header(answer, context);
    answer.body = "0:[\"$@1\"]\n1:E{\"digest\":" + json_string(skew.message) + "}\n";
    return answer;
  }
  add_reload_header(answer, context);
  answer.body = "1:I[" + json_string(skew.reload_module_path) + ",[],\"default\",1]\n0:[\"$L1\"]\n";
  return answer;
}

Answer reload_module_answer(std::string_view method) {
  if (method != "GET" && method != "HEAD") {
    Answer answer = with_headers(405, "text/plain; charset=utf-8");
    answer.headers.emplace_back("allow", "GET, HEAD");
    answer.body = "method not allowed\n";
    return answer;
  }
  // no-store: the module's whole job is to run on each import; a cached copy
  // would do too, but a path reused for something else later must not stick.
  Answer answer = with_headers(200, "text/javascript; charset=utf-8");
  answer.body = std::string(kReloadModuleBody);
  return answer;
}

Answer rsc_reload_answer(const ReloadContext& context) {
  // Any non-2xx makes the router load the URL as a document; never a 3xx.
  Answer answer = with_headers(409, "text/plain");
  add_reload_header(answer, context);
  answer.body = "reload required";
  return answer;
}

Answer json_reload_answer(const ReloadContext& context) {
  Answer answer = with_headers(409, "application/json");
  add_reload_header(answer, context);
  // ordered_json keeps the documented key order; invalid UTF-8 from the
  // request is replaced, never thrown on.
  nlohmann::ordered_json body;
  body["error"] = metrics::to_string(metrics::Reason::reload_required);
  body["reason"] = metrics::to_string(context.reason);
  body["client_build"] = context.client_build;
  body["current_build"] = context.current_build;
  body["reload"] = same_origin_target(context.path_and_query);
  answer.body = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return answer;
}

}  // namespace sg::skew
