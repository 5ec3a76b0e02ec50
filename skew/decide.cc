// The decision table of design.md section 5, as one pure function.
//
// Reasons (the stable codes of reload answers, reroutes and metrics):
//   build_unknown    the request named a deployment ID that is no build of the
//                    app, or a preview build without a signed pin (preview IDs
//                    must not be probeable, so they look unknown to clients)
//   build_retired    the client build was retired by retention
//   build_killed     the client build was retired by the kill switch
//                    (`state: retired` in the config, or the admin API)
//   build_unhealthy  the client build is retained but failing health checks,
//                    or (503 only) the chosen current build is unhealthy
//   action_not_found an action that names no build (no header, no dpl) whose
//                    ID is in no build's manifest while the current build has
//                    a manifest: the ID is certainly stale, and no build at all
//                    is known for the client. An action whose client build
//                    *is* known (named, or found through a manifest) gets that
//                    build's reason instead, which says more.
#include "skew/decide.h"

#include <nlohmann/json.hpp>

#include "skew/answers.h"
#include "skew/canary.h"

namespace sg::skew {

namespace {

using routing::App;
using routing::Build;
using routing::ClientBuild;
using routing::ClientBuildSource;
using routing::RequestKind;

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

// A build that may serve requests: current, or retained and healthy.
// (An unhealthy current build is still "kept": it gets the 503 below.)
bool is_kept(const Build& build) {
  return build.state == conf::BuildState::current || (build.state == conf::BuildState::retained && build.healthy);
}

// Why the client build cannot serve the request; nullptr when it can.
// Header and query routing reach only current and retained builds
// (design.md section 4); an unhealthy retained build is treated as gone
// (section 7).
const char* unservable_reason(const Build* build) {
  if (build == nullptr) return "build_unknown";
  switch (build->state) {
    case conf::BuildState::current: return nullptr;
    case conf::BuildState::retained: return build->healthy ? nullptr : "build_unhealthy";
    case conf::BuildState::preview: return "build_unknown";
    case conf::BuildState::retired:
      return build->retired_by == routing::RetiredBy::kill_switch ? "build_killed" : "build_retired";
  }
  return "build_unknown";
}

ClientBuildState state_of(const Build* build) {
  if (build == nullptr) return ClientBuildState::unknown;
  switch (build->state) {
    case conf::BuildState::current: return ClientBuildState::current;
    case conf::BuildState::retained: return ClientBuildState::retained;
    case conf::BuildState::preview: return ClientBuildState::preview;
    case conf::BuildState::retired: return ClientBuildState::retired;
  }
  return ClientBuildState::unknown;
}

// The canary build for a visitor whose request names no build, when the app
// has a canary that can serve and the visitor is in its cohort.
const Build* canary_for(const App& app, const DecisionInput& input) {
  const auto& canary = app.config->canary;
  if (!canary || canary->build.empty()) return nullptr;
  const Build* build = app.find_build(canary->build);
  if (build == nullptr || build == app.current || build->state == conf::BuildState::retired || !build->healthy) {
    return nullptr;
  }
  if (!in_canary_cohort(input.client_address, input.request.header("user-agent"), canary->percent)) return nullptr;
  return build;
}

// The newest kept, healthy build whose manifest holds `action_id`.
const Build* kept_build_with_action(const App& app, std::string_view action_id) {
  if (action_id.empty()) return nullptr;
  for (const Build* build : app.newest_first) {
    if (is_kept(*build) && build->healthy && build->action_ids.contains(action_id)) return build;
  }
  return nullptr;
}

// Origin-form path and query of the request: the page a reload answer sends
// the client back to. An absolute-form target loses its scheme and authority.
std::string path_and_query(const routing::RequestView& request) {
  std::string_view path = request.path();
  if (!path.starts_with('/')) {
    const std::size_t scheme = path.find("://");
    const std::size_t slash = scheme == std::string_view::npos ? std::string_view::npos : path.find('/', scheme + 3);
    path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
  }
  std::string out(path);
  if (const std::string_view query = request.query(); !query.empty()) out.append("?").append(query);
  return out;
}

Answer reload_answer(const Verdict& verdict, const App& app, const DecisionInput& input, std::string_view reason) {
  const std::string where = path_and_query(input.request);
  const std::string& id = verdict.client_build.id;
  const std::string_view client = id.empty() ? std::string_view("unknown") : std::string_view(id);
  const ReloadContext context{reason, client, app.current->id, where};
  if (verdict.classification.kind == RequestKind::rsc) return rsc_reload_answer(context);
  return action_reload_answer(verdict.classification, app.config->skew, context);
}

void answer_reload(Verdict& verdict, const App& app, const DecisionInput& input, const char* reason) {
  verdict.answer = reload_answer(verdict, app, input, reason);
  verdict.outcome = Outcome::answered;
  verdict.reason = reason;
  verdict.target = nullptr;
}

}  // namespace

bool needs_body_peek(const routing::RequestView& request, const routing::Snapshot& snapshot) {
  const App* app = snapshot.find_app(request.header("host"));
  return app != nullptr && routing::needs_body_peek(request, app->config->actions);
}

Verdict decide(const DecisionInput& input, const routing::Snapshot& snapshot) {
  const routing::RequestView& request = input.request;
  const App* app = snapshot.find_app(request.header("host"));
  if (app == nullptr) return no_app();

  Verdict verdict;
  verdict.app = app;
  verdict.classification = routing::classify(request, *app->config, input.body_peek);
  verdict.client_build = routing::resolve_client_build(*app, request, verdict.classification);
  const routing::Classification& kind = verdict.classification;
  ClientBuild& client = verdict.client_build;

  if (client.source == ClientBuildSource::current) {
    // Nothing named a build (or a document, which ignores what it names):
    // a new visitor, who gets current or the canary cohort.
    if (const Build* canary = canary_for(*app, input)) client.build = canary;
    verdict.client_build_state = ClientBuildState::current;
    verdict.target = client.build;
    // resolve_client_build found the action ID in no manifest. When current
    // has one, the ID is certainly stale; without one we cannot tell, and
    // current answers for itself.
    if (kind.kind == RequestKind::action && !kind.action_id.empty() && client.build->has_manifest) {
      verdict.client_build_state = ClientBuildState::unknown;
      client.build = nullptr;
      answer_reload(verdict, *app, input, "action_not_found");
      return verdict;
    }
  } else {
    verdict.client_build_state = state_of(client.build);
    if (const char* reason = unservable_reason(client.build)) {
      verdict.reason = reason;
      verdict.outcome = Outcome::rerouted;
      verdict.target = app->current;
      switch (kind.kind) {
        case RequestKind::action:
          // Another kept build may still hold the action (an unchanged action
          // keeps its ID across builds when the encryption key is fixed).
          if (const Build* holder = kept_build_with_action(*app, kind.action_id)) {
            verdict.target = holder;
          } else {
            answer_reload(verdict, *app, input, reason);
            return verdict;
          }
          break;
        case RequestKind::rsc:
          answer_reload(verdict, *app, input, reason);
          return verdict;
        case RequestKind::asset:
          // The file may still exist in current (unchanged chunks keep their
          // hashed names); a miss must not be cached.
          verdict.no_store_on_404 = true;
          break;
        case RequestKind::document:
        case RequestKind::other:
        case RequestKind::upgrade: break;
      }
    } else if (kind.kind == RequestKind::document) {
      // Documents always load the newest build (reached only through a
      // source that documents honour, such as a pin).
      verdict.target = app->current;
    } else {
      verdict.target = client.build;
    }
  }

  if (!verdict.target->healthy) {
    // Only current can be chosen unhealthy: unhealthy retained builds were
    // treated as gone above. Answer at once rather than let the client hang.
    const std::string build = verdict.target->id;
    verdict.target = nullptr;
    verdict.no_store_on_404 = false;
    verdict.outcome = Outcome::error;
    verdict.reason = "build_unhealthy";
    verdict.answer = json_answer(503, {{"error", "upstream_unavailable"},
                                       {"app", app->name},
                                       {"build", build},
                                       {"reason", "build_unhealthy"}});
  }
  return verdict;
}

}  // namespace sg::skew
