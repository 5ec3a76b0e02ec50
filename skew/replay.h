// Answer-side rules (design.md sections 2, 4 and 5): what an upstream's
// answer says about the request, and where the request goes next. Pure: the
// gateway reads a response head, asks here, and executes.
//
// 1. Action replay. A build that receives an action it does not know runs
//    none of it and says so in its answer (action_not_found_signal). The call
//    is then replayed on the next kept build that may have it
//    (replay_candidates); when none is left, or the body could not be kept,
//    the client gets the app's reload answer with reason action_not_found
//    (answer_action_not_found). Only such an answer triggers a replay, each
//    kept build is tried at most once, and at most kMaxActionReplays times in
//    all: one request costs at most 1 + kMaxActionReplays upstream requests,
//    however many builds are kept (a Next.js <= 15.3 build renders the whole
//    page for every unknown action, so a made-up ID must not cost a render
//    on every kept build).
// 2. Asset fallback. An asset requested without `dpl` that current answers
//    404 is tried on the other kept builds, newest first, at most
//    assets.fallback_builds of them (asset_fallback_candidates).
//
// Reasons these add to the catalogue (access-log detail; metrics count them
// as outcome="rerouted"):
//   action_replayed  an action served by a build it was replayed on
//   asset_fallback   an asset served (or its last 404 sent) by a kept build
//                    other than current
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "routing/request_kind.h"
#include "routing/request_view.h"
#include "routing/snapshot.h"
#include "skew/verdict.h"

namespace sg::skew {

// A tab whose build is older than this many kept builds (without manifests)
// gets the reload answer instead of a replay: it recovers all the same.
inline constexpr std::size_t kMaxActionReplays = 4;

// How an answer says "I do not know this action".
enum class NotFoundSignal {
  none,
  // `x-nextjs-action-not-found: 1` on a 404 (Next.js 15.4 to 16.3) or a 409
  // "Server Action unavailable." (16.4+), whoever sent the action.
  next_header,
  // Next.js up to 15.3 answers a `next-action` POST it does not know with the
  // page: 200 and media type text/html. A known action answers
  // text/x-component or redirects, so this is never a call that ran. Only
  // for requests that look like the Next.js client's fetch (it always sends
  // `accept: text/x-component`).
  next_html_page,
  // @lazarv/react-server (issue 15, measured): a React-Server-Action call
  // whose function the build does not have is answered 200 text/x-component
  // WITHOUT `react-server-data` (its GlobalError render); a call that ran
  // always carries `react-server-data: rsc`. Any 2xx counts (the client
  // ignores the status; a 4xx/5xx with flight is an error the app rendered,
  // and a redirect is a result).
  react_server_no_data,
};
const char* to_string(NotFoundSignal signal);

// The upstream's final response head (status >= 200), as received.
struct ResponseView {
  int status = 0;
  std::span<const routing::HeaderField> headers;
};

// Does this answer to `request` say the build did not know the action? Only
// for a POST classified as an action; a no-JS form post never counts for the
// HTML rule (a build that knows the action answers it with the page too).
NotFoundSignal action_not_found_signal(const routing::RequestView& request,
                                       const routing::Classification& classification, const ResponseView& response);

// A kept build: current, or retained; and healthy (an unhealthy build is
// treated as gone, design.md section 7).
bool is_replay_target(const routing::Build& build);

// The builds an action is replayed on, in order: the app's kept builds
// newest first (App::newest_first), minus the builds in `tried`, minus the
// builds whose known ID set speaks for the call (routing::ids_known_for: a
// set of the caller's framework) and lacks `action_id`. Each at most once,
// and no more than kMaxActionReplays of them.
std::vector<const routing::Build*> replay_candidates(const routing::App& app, routing::ActionClient client,
                                                     std::string_view action_id,
                                                     std::span<const routing::Build* const> tried);

// Is this request one whose 404 from current is retried on other builds?
// An asset (kind asset), GET or HEAD, without a `dpl` query parameter, that
// skew::decide sent to current, with assets.fallback_builds > 0.
bool asset_fallback_applies(const routing::RequestView& request, const Verdict& verdict);

// The builds an asset is tried on after current's 404: the kept builds
// newest first, current excluded, at most assets.fallback_builds.
std::vector<const routing::Build*> asset_fallback_candidates(const routing::App& app);

// The answer when an action's build did not know it and it cannot be
// replayed (no build left, body larger than actions.replay_bytes, or the
// answer came before the whole body was sent): the app's reload answer
// (skew/answers.h) with reason action_not_found, for this client, and the
// verdict fields that go with it (outcome answered, no target).
void answer_action_not_found(Verdict& verdict, const routing::RequestView& request);

}  // namespace sg::skew
