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
ClientBuild resolve_client_build(const App& app, const RequestView& request) {
  // 1. Next.js sends x-deployment-id on RSC and action requests. Exact name:
  //    header() never matches underscore variants such as x_deployment_id.
  if (std::string_view id = request.header("x-deployment-id"); !id.empty()) {
    return named(app, ClientBuildSource::header, id);
  }
  // 2. ...and ?dpl= on static assets.
  if (std::optional<std::string> id = query_param(request.query(), "dpl"); id && !id->empty()) {
    return named(app, ClientBuildSource::query, *id);
  }
  // 3. (pins issue) the skewgate pin cookie, when its seal verifies: source pin.
  // 4. (action manifest issue) for actions, the newest kept build whose
  //    manifest holds the action ID: source action_manifest.

  // 5. The app's current build (canary cohorts arrive with pins).
  ClientBuild client;
  client.source = ClientBuildSource::current;
  client.build = app.current;
  return client;
}

}  // namespace sg::routing
