// Which build a request belongs to (design.md section 4).
#pragma once

#include <string>
#include <string_view>

#include "routing/request_kind.h"
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

// design.md section 4. Header `x-deployment-id` (exact name, any case), then
// query `dpl` (empty values do not count); for an `action` that names neither,
// the newest build (App::newest_first, any state) whose manifest holds the
// action ID (source action_manifest); else the app's current build. A
// `document` ignores header and query: a reload always lands on current.
// `pin_build` is step 3: the build named by a pin cookie whose seal skew
// verified ("" when none); it names a build for every kind, documents
// included (skew::decide says which pinned builds a document may load).
// The canary cohort is applied by skew::decide (it is a skew policy).
ClientBuild resolve_client_build(const App& app, const RequestView& request, const Classification& classification,
                                 std::string_view pin_build = {});

// As above for a request classified as `other` (header and query count, no
// action ID).
ClientBuild resolve_client_build(const App& app, const RequestView& request);

}  // namespace sg::routing
