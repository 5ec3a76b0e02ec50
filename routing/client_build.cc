#include "routing/client_build.h"

#include <optional>

namespace sg::routing {

const char* to_string(ClientBuildSource source) {
  switch (source) {
    case ClientBuildSource::header: return "header";
    case ClientBuildSource::query: return "query";
    case ClientBuildSource::pin: return "pin";
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

}  // namespace

// design.md section 4: the first source that names a build wins, even when
// the name is unknown (an unknown ID is an answer, not a reason to look on).
ClientBuild resolve_client_build(const App& app, const RequestView& request, const Classification& classification,
                                 std::string_view pin_build) {
  // A document ignores 1-2: a reload always lands on the newest build.
  const bool document = classification.kind == RequestKind::document;
  // 1. Next.js sends x-deployment-id on RSC and action requests. Exact name:
  //    header() never matches underscore variants such as x_deployment_id.
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
  if (!pin_build.empty()) return named(app, ClientBuildSource::pin, pin_build);

  // 4. An action from a client that names no build (no deployment ID, no-JS
  //    form posts): the newest build whose manifest holds the ID, whatever its
  //    state; skew::decide reroutes when that build cannot serve.
  if (classification.kind == RequestKind::action && !classification.action_id.empty()) {
    for (const Build* build : app.newest_first) {
      if (build->action_ids.contains(std::string_view(classification.action_id))) {
        ClientBuild client;
        client.source = ClientBuildSource::action_manifest;
        client.id = build->id;
        client.build = build;
        return client;
      }
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
