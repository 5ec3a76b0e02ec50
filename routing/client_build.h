// Which build a request belongs to (design.md section 4).
#pragma once

#include <string>
#include <string_view>

#include "routing/request_view.h"
#include "routing/snapshot.h"

namespace sg::routing {

enum class ClientBuildSource { header, query, pin, action_manifest, current };
const char* to_string(ClientBuildSource source);

struct ClientBuild {
  ClientBuildSource source = ClientBuildSource::current;
  std::string id;                // the deployment ID the request named ("" for current)
  const Build* build = nullptr;  // nullptr when `id` names no build of the app (unknown)
};

// Header `x-deployment-id` (exact name, any case), then query `dpl`, else the
// app's current build. Empty values do not count.
ClientBuild resolve_client_build(const App& app, const RequestView& request);

}  // namespace sg::routing
