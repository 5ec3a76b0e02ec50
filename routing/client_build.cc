#include "routing/client_build.h"

namespace sg::routing {

const char* to_string(ClientBuildSource source) {
  switch (source) {
    case ClientBuildSource::header: return "header";
    case ClientBuildSource::query: return "query";
    case ClientBuildSource::pin: return "pin";
    case ClientBuildSource::vdpl_cookie: return "vdpl_cookie";
    case ClientBuildSource::action_manifest: return "action_manifest";
    case ClientBuildSource::current: return "current";
  }
  return "current";
}

namespace {

ClientBuild named(const App& app, ClientBuildSource source, std::string_view id) {
  ClientBuild client;
  client.source = source;
  client.id = std::string(id);
  client.build = app.find_build(id);
  return client;
}

ClientBuild from_manifest(const Build& build) {
  ClientBuild client;
  client.source = ClientBuildSource::action_manifest;
  client.id = build.id;
  client.build = &build;
  return client;
}

// Steps 1-3: the name the request carries, if any.
std::optional<ClientBuild> named_build(const App& app, const RequestView& request, bool document,
                                       const CookieHints& cookies) {
  // 1. Next.js sends x-deployment-id on RSC and action requests. Exact name:
  //    header() never matches underscore variants such as x_deployment_id.
  //    A document ignores 1-2: a reload always lands on the newest build.
  if (std::string_view id = request.header("x-deployment-id"); !document && !id.empty()) {
    return named(app, ClientBuildSource::header, id);
  }
  // 2. ...and ?dpl= on static assets.
  if (!document) {
    if (std::optional<std::string> id = query_param(request.query(), "dpl"); id && !id->empty()) {
      return named(app, ClientBuildSource::query, *id);
    }
  }
  // 3. The skewgate pin cookie, when its seal verifies (opened by skew).
  //    Below header and dpl: one cookie is shared by every tab.
  if (!cookies.pin_build.empty()) return named(app, ClientBuildSource::pin, cookies.pin_build);
  // 3, below the pin: `__vdpl`, unsigned, so a hint to kept builds only: it
  //    can never reach a preview build nor make a stale ID look known.
  if (!document && !cookies.vdpl_build.empty()) {
    const Build* build = app.find_build(cookies.vdpl_build);
    if (build != nullptr && build->kept()) return named(app, ClientBuildSource::vdpl_cookie, cookies.vdpl_build);
  }
  return std::nullopt;
}

// Evidence beats hints: a build the request names, that would serve it (a
// kept build; a preview build only through its pin), cannot serve an action
// its known ID set (of the call's framework) lacks. Without one nothing is
// known (it answers for itself). A name that cannot serve anyway (retired,
// unknown, unhealthy, a preview by header) keeps its own reason: skew::decide
// reroutes it to the same newest kept holder, or answers with that reason,
// which says more.
bool named_lacks(const ClientBuild& client, ActionClient caller, std::string_view action_id) {
  const Build* build = client.build;
  if (build == nullptr || !lacks_action(*build, caller, action_id)) return false;
  return build->kept() || (client.source == ClientBuildSource::pin && build->state == conf::BuildState::preview);
}

}  // namespace

bool ids_known_for(const Build& build, ActionClient client) {
  if (!build.has_manifest) return false;
  // A set filled before ids_from existed counts as a Next.js manifest
  // (Snapshot::create does the same).
  const conf::ActionIdSource source =
      build.ids_from == conf::ActionIdSource::none ? conf::ActionIdSource::next_manifest : build.ids_from;
  switch (client) {
    case ActionClient::next_js: return source == conf::ActionIdSource::next_manifest;
    case ActionClient::react_server: return source == conf::ActionIdSource::react_server_chunks;
    // A no-JS form post is either framework's (`$ACTION_ID_`); `none` is a
    // caller that does not say (classify always does for an action).
    case ActionClient::form_post:
    case ActionClient::none: return true;
  }
  return false;
}

bool lacks_action(const Build& build, ActionClient client, std::string_view action_id) {
  return !action_id.empty() && ids_known_for(build, client) && !build.action_ids.contains(action_id);
}

const Build* newest_kept_with_action(const App& app, std::string_view action_id) {
  if (action_id.empty()) return nullptr;
  for (const Build* build : app.newest_first) {
    if (build->kept() && build->healthy && build->action_ids.contains(action_id)) return build;
  }
  return nullptr;
}

ClientBuild resolve_client_build(const App& app, const RequestView& request, const Classification& classification,
                                 CookieHints cookies) {
  // A react-server navigation lands where a reload would (issue 15).
  const bool document = classification.loads_like_document();
  const std::string_view action_id =
      classification.kind == RequestKind::action ? std::string_view(classification.action_id) : std::string_view();

  if (std::optional<ClientBuild> client = named_build(app, request, document, cookies)) {
    // Only a known ID set of the call's own framework is evidence against
    // the name (ids_known_for): a Next.js manifest never lists react-server
    // function IDs, and back.
    if (!named_lacks(*client, classification.action_client, action_id)) return std::move(*client);
    // 4 decides instead, among the builds that may serve (a retired holder
    // is no better than none: the action_not_found answer reloads the page),
    // then 5: current, which skew::decide answers for when its manifest
    // shows the ID is stale.
    ClientBuild decided;
    if (const Build* holder = newest_kept_with_action(app, action_id)) {
      decided = from_manifest(*holder);
    } else {
      decided.build = app.current;
    }
    decided.overruled = client->source;
    decided.overruled_id = std::move(client->id);
    return decided;
  }

  // 4. An action from a client that names no build (no deployment ID, no-JS
  //    form posts): the newest build whose manifest holds the ID, whatever its
  //    state; skew::decide reroutes when that build cannot serve.
  if (!action_id.empty()) {
    for (const Build* build : app.newest_first) {
      if (build->action_ids.contains(action_id)) return from_manifest(*build);
    }
  }

  // 5. The app's current build (skew::decide applies the canary cohort).
  ClientBuild client;
  client.source = ClientBuildSource::current;
  client.build = app.current;
  return client;
}

ClientBuild resolve_client_build(const App& app, const RequestView& request) {
  return resolve_client_build(app, request, Classification{});
}

}  // namespace sg::routing
