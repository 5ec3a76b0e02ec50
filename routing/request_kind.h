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

// Which framework's request shape classified a request (issue 15): `next`
// for `next-action` / `rsc: 1`, `react_server` for a POST to
// `…rsc.x-component` (with or without `React-Server-Action`); a no-JS form
// post is the app's profile when it names one, else none (both frameworks
// send the same `$ACTION_ID_` field). none for everything else.
enum class RequestFramework { none, next, react_server };
const char* to_string(RequestFramework framework);  // "none", "next", "react-server"

struct Classification {
  RequestKind kind = RequestKind::other;
  RequestFramework framework = RequestFramework::none;
  bool prefetch = false;  // rsc with `next-router-prefetch: 1` (metrics sub-flag)
  ActionClient action_client = ActionClient::none;
  std::string action_id;  // empty when the request does not name one
  // The client prefers JSON (`accept` has application/json and not
  // text/x-component): reload answers are JSON.
  bool wants_json = false;

  // Lands where a page load would (current, or the preview/canary build a
  // pin allows): a document, and a react-server navigation, which a 409
  // would break (the client changes the URL and keeps the old content).
  bool loads_like_document() const {
    return kind == RequestKind::document || (kind == RequestKind::rsc && framework == RequestFramework::react_server);
  }
};

// @lazarv/react-server's flight endpoint: a path ending in `rsc.x-component`
// (`/page/rsc.x-component`, an outlet's `/page/@outlet.rsc.x-component`).
bool is_react_server_flight_path(std::string_view path);

// True when the body's first bytes must be read before classification: a POST
// with a multipart/form-data or x-www-form-urlencoded body, no action header
// the app's framework profile recognises, and actions.inspect_form_posts on.
bool needs_body_peek(const RequestView& request, const conf::AppConfig& app);
// As above for an app with framework auto.
bool needs_body_peek(const RequestView& request, const conf::ActionsConfig& actions);

// `body_peek` holds the first actions.inspect_bytes of the body (or all of
// it when shorter) when needs_body_peek() said so, else is empty.
//
// The app's `framework` profile decides which shapes count: `next` only
// Next.js's (`next-action`, `rsc: 1`), `react-server` only react-server's,
// `auto` both; no-JS `$ACTION_ID_` form posts under every profile. A shape
// the profile does not know is not special: the request is classified as if
// the header were absent. `React-Server-Action` counts only on a POST to a
// flight path: elsewhere react-server's client never sends it, so a header
// alone cannot make a document, an asset or an API call an action (routed by
// function ID to a retained build, exempt from the pin and the form peek).
Classification classify(const RequestView& request, const conf::AppConfig& app, std::string_view body_peek);

// The action ID named by a no-JS form body: a `$ACTION_ID_<id>` field name,
// or `$ACTION_REF_<n>` with field `$ACTION_<n>:0` holding {"id":"<id>",...}.
// Handles multipart/form-data (any boundary) and urlencoded (%24-encoded
// too). nullopt when the prefix names none (a body cut off mid-field too).
std::optional<std::string> find_form_action_id(std::string_view content_type, std::string_view body_prefix);

}  // namespace sg::routing
