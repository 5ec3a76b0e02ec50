// Request kinds (design.md section 3): first match wins. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "routing/request_view.h"

namespace sg::routing {

enum class RequestKind { upgrade, action, rsc, asset, document, other };
const char* to_string(RequestKind kind);

// Who sent an action, which decides the shape of a reload answer.
enum class ActionClient {
  none,          // not an action
  next_js,       // `next-action` header (fetch from the Next.js client)
  react_server,  // `React-Server-Action` header (@lazarv/react-server)
  form_post,     // no-JS form post: `$ACTION_ID_<id>` / `$ACTION_REF_<n>` field in the body
};

struct Classification {
  RequestKind kind = RequestKind::other;
  bool prefetch = false;  // rsc with `next-router-prefetch: 1` (metrics sub-flag)
  ActionClient action_client = ActionClient::none;
  std::string action_id;  // empty when the request does not name one
  // The client prefers JSON (`accept` has application/json and not
  // text/x-component): reload answers are JSON.
  bool wants_json = false;
};

// True when the body's first bytes must be read before classification: a POST
// with a multipart/form-data or x-www-form-urlencoded body, no action header,
// and actions.inspect_form_posts on.
bool needs_body_peek(const RequestView& request, const conf::ActionsConfig& actions);

// `body_peek` holds the first actions.inspect_bytes of the body (or all of
// it when shorter) when needs_body_peek() said so, else is empty.
Classification classify(const RequestView& request, const conf::AppConfig& app, std::string_view body_peek);

// The action ID named by a no-JS form body: a `$ACTION_ID_<id>` field name,
// or `$ACTION_REF_<n>` with field `$ACTION_<n>:0` holding {"id":"<id>",...}.
// Handles multipart/form-data (any boundary) and urlencoded (%24-encoded
// too). nullopt when the prefix names none (a body cut off mid-field too).
std::optional<std::string> find_form_action_id(std::string_view content_type, std::string_view body_prefix);

}  // namespace sg::routing
