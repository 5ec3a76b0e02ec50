#include "skew/decide.h"

#include <nlohmann/json.hpp>

namespace sg::skew {

namespace {

using routing::App;
using routing::Build;
using routing::ClientBuild;
using routing::ClientBuildSource;

// Answers are JSON built by nlohmann so names and IDs are escaped; invalid
// UTF-8 is replaced rather than thrown (no exceptions on the data path).
Answer json_answer(int status, const nlohmann::json& body) {
  Answer answer;
  answer.status = status;
  answer.headers = {{"content-type", "application/json"}, {"cache-control", "no-store"}};
  answer.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return answer;
}

Verdict no_app() {
  Verdict verdict;
  verdict.outcome = Outcome::error;
  verdict.reason = "no_app";
  verdict.answer = json_answer(404, {{"error", "no_app"}, {"message", "no app is configured for this host"}});
  return verdict;
}

// Why a build the request named cannot serve it; nullptr when it can.
// Header and query routing reach only current and retained builds (design.md
// section 4). A preview build named without a signed pin is reported as
// unknown so preview IDs cannot be probed for.
const char* unservable_reason(const ClientBuild& client) {
  if (client.build == nullptr) return "build_unknown";
  switch (client.build->state) {
    case conf::BuildState::current: break;
    case conf::BuildState::retained:
      // An unhealthy retained build is treated as gone (design.md section 7).
      if (!client.build->healthy) return "build_unhealthy";
      break;
    case conf::BuildState::preview: return "build_unknown";
    case conf::BuildState::retired: return "build_retired";
  }
  return nullptr;
}

}  // namespace

Verdict decide(const routing::RequestView& request, const routing::Snapshot& snapshot) {
  const App* app = snapshot.find_app(request.header("host"));
  if (app == nullptr) return no_app();

  Verdict verdict;
  verdict.app = app;
  verdict.client_build = routing::resolve_client_build(*app, request);
  const ClientBuild& client = verdict.client_build;

  // Issue 3 behaviour: a request that names its build by header or query goes
  // to that build while it is kept; everything else goes to current. The
  // decision table (kinds, reload answers, 409 for rsc) replaces the stale
  // branch below.
  const Build* target = app->current;
  const bool named = client.source == ClientBuildSource::header || client.source == ClientBuildSource::query;
  if (named) {
    if (const char* reason = unservable_reason(client)) {
      verdict.outcome = Outcome::rerouted;
      verdict.reason = reason;
    } else {
      target = client.build;
    }
  }

  if (!target->healthy) {
    // Only current can be chosen unhealthy: an unhealthy retained build was
    // rerouted above. Answer at once rather than let the client hang.
    verdict.outcome = Outcome::error;
    verdict.reason = "build_unhealthy";
    verdict.answer = json_answer(503, {{"error", "upstream_unavailable"},
                                       {"app", app->name},
                                       {"build", target->id},
                                       {"reason", "build_unhealthy"}});
    return verdict;
  }
  verdict.target = target;
  return verdict;
}

}  // namespace sg::skew
