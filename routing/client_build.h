// Which build a request belongs to (design.md section 4).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "routing/request_kind.h"
#include "routing/request_view.h"
#include "routing/snapshot.h"

namespace sg::routing {

enum class ClientBuildSource { header, query, pin, vdpl_cookie, action_manifest, current };
const char* to_string(ClientBuildSource source);

struct ClientBuild {
  ClientBuildSource source = ClientBuildSource::current;
  std::string id;                // the deployment ID the request named ("" for current)
  const Build* build = nullptr;  // nullptr when `id` names no build of the app (unknown)
  // Set when an action's name from steps 1-3 was overruled because that
  // build's manifest lacks the action ID: that name's source and ID. The
  // client build is then the newest kept, healthy build whose manifest has
  // the ID (source action_manifest), else current (source current).
  std::optional<ClientBuildSource> overruled;
  std::string overruled_id;
};

// What the request's cookies name, read by skew (which opens the pin's seal).
struct CookieHints {
  std::string_view pin_build;   // step 3: the build a pin whose seal verified names ("" when none)
  std::string_view vdpl_build;  // step 3, below the pin: the `__vdpl` cookie's value ("" when none)
};

// design.md section 4. Header `x-deployment-id` (exact name, any case), then
// query `dpl` (empty values do not count), then the verified pin, then the
// `__vdpl` cookie of Next's useSkewCookie (Vercel, Netlify), which counts
// only when it names a kept build (Build::kept: never preview, retired or
// unknown; else it is ignored and resolution goes on). The first of these
// that names a build wins, even an unknown one (an unknown ID is an answer,
// not a reason to look on), with one exception: for an `action`, a named
// build that would serve it (Build::kept, or a preview build its pin names)
// whose known ID set speaks for the call (ids_known_for) and lacks the action
// ID is overruled (a pin or
// __vdpl is shared by every tab, so it often names a newer build than the
// tab that calls); then the newest kept, healthy build whose manifest has the
// ID is the client build, else current (`overruled` set either way). A name
// that cannot serve keeps its reason (build_retired, ...): skew::decide
// reroutes it to that same holder. For an `action` that names no build, the newest
// build (App::newest_first, any state) whose manifest holds the action ID
// (source action_manifest); else the app's current build. A `document`
// ignores header, dpl and __vdpl: a reload always lands on current (the pin
// names a build for documents too; skew::decide says which pinned builds a
// document may load). A react-server navigation (kind rsc, framework
// react_server) is resolved as a document: it must reach the build a
// reload would load, whatever the tab's page came from. The canary cohort is applied by skew::decide (it is a
// skew policy).
ClientBuild resolve_client_build(const App& app, const RequestView& request, const Classification& classification,
                                 CookieHints cookies = {});

// As above for a request classified as `other` (header and query count, no
// action ID).
ClientBuild resolve_client_build(const App& app, const RequestView& request);

// Is `build`'s known set of action IDs evidence about a call from `client`?
// Only when the set's source matches the call's framework (issue 15): a
// Next.js manifest (next_manifest) for a `next-action` call, react-server's
// client chunks (react_server_chunks) for a React-Server-Action call, either
// for a no-JS form post (both frameworks send `$ACTION_ID_`). A set of the
// other framework says nothing (IDs of one are never in the other's set),
// and a build without a set answers for itself.
bool ids_known_for(const Build& build, ActionClient client);

// The build's known set speaks for this call (ids_known_for) and lacks the
// ID: the build certainly cannot run it. False for an empty ID.
bool lacks_action(const Build& build, ActionClient client, std::string_view action_id);

// The newest kept, healthy build (App::newest_first) whose manifest holds
// `action_id`; nullptr when none does or the ID is empty.
const Build* newest_kept_with_action(const App& app, std::string_view action_id);

}  // namespace sg::routing
