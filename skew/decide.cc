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
//   action_not_found an action that names no build (no header, no dpl, no
//                    pin) whose ID is in no build's manifest while the current
//                    build has a manifest (of the call's framework:
//                    routing::ids_known_for): the ID is certainly stale, and no
//                    build at all is known for the client. Also an action
//                    whose named kept build's manifest lacks the ID while no
//                    kept build's manifest has it and current has a manifest
//                    (the name was overruled). An
//                    action whose client build *is* known (named, or found
//                    through a manifest) gets that build's reason instead,
//                    which says more.
//   action_not_in_build (rerouted) an action whose x-deployment-id or dpl
//                    names a kept build whose manifest lacks the ID: served by
//                    the newest kept build whose manifest has it, or by a
//                    current build without a manifest when none has (a pin
//                    or __vdpl overruled the same way is `served`: it names
//                    the browser's last page, not this tab's)
//   origin_mismatch  an action whose Origin is neither the request's host nor
//                    an allowed origin (security.check_origin)
//   preview_link     a valid signed preview link: 302 to the clean URL, pinned
//   reload_module    skew.reload_module_path on a react-server or auto app:
//                    skewgate's own module (200), or 405 for other methods
//
// Pins (design.md section 6) are resolution step 3, then the unsigned
// `__vdpl` cookie (kept builds only). A document loads the
// pinned build only when it is a preview, the visitor's canary (while the
// canary is configured) or current; any other pin is ignored for documents
// and replaced by a pin for the build the document is served by.
#include "skew/decide.h"
#include "skew/https_redirect.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "skew/answers.h"
#include "skew/canary.h"
#include "skew/pin_cookie.h"
#include "skew/redirect_target.h"

namespace sg::skew {

namespace {

using metrics::Reason;
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
  verdict.reason = Reason::no_app;
  verdict.answer =
      json_answer(404, {{"error", to_string(Reason::no_app)}, {"message", "no app is configured for this host"}});
  return verdict;
}

// Why the client build cannot serve the request; none when it can.
// Header and query routing reach only current and retained builds
// (design.md section 4); an unhealthy retained build is treated as gone
// (section 7).
Reason unservable_reason(const Build* build) {
  if (build == nullptr) return Reason::build_unknown;
  switch (build->state) {
    case conf::BuildState::current: return Reason::none;
    case conf::BuildState::retained: return build->healthy ? Reason::none : Reason::build_unhealthy;
    case conf::BuildState::preview: return Reason::build_unknown;
    case conf::BuildState::retired:
      return build->retired_by == routing::RetiredBy::kill_switch ? Reason::build_killed : Reason::build_retired;
  }
  return Reason::build_unknown;
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

// The canary build while the app configures one that can serve, whatever
// the visitor's cohort (a visitor pinned to it stays on it).
const Build* configured_canary(const App& app) {
  const auto& canary = app.config->canary;
  if (!canary || canary->build.empty()) return nullptr;
  const Build* build = app.find_build(canary->build);
  if (build == nullptr || build == app.current || build->state == conf::BuildState::retired || !build->healthy) {
    return nullptr;
  }
  return build;
}

// May a document load the build a valid pin names? Current, a healthy
// preview, or the configured canary; anything else is a reload that lands
// on the newest build (section 4).
bool document_may_load(const App& app, const Build* pinned) {
  if (pinned == nullptr) return false;
  if (pinned == app.current) return true;
  if (pinned->state == conf::BuildState::preview) return pinned->healthy;
  return pinned == configured_canary(app);
}

// The canary build for a visitor whose request names no build (and who has
// no pin a document may load), when the visitor is in the canary's cohort.
const Build* canary_for(const App& app, const DecisionInput& input) {
  const Build* build = configured_canary(app);
  if (build == nullptr) return nullptr;
  if (!in_canary_cohort(input.client_address, input.request.header("user-agent"), app.config->canary->percent)) {
    return nullptr;
  }
  return build;
}

std::string_view ascii_trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Does an action's Origin differ from the host it was sent to, and is it
// not an allowed origin? No Origin (or the opaque "null") is allowed, as in
// Next.js: old browsers and some clients send none.
bool origin_mismatch(const routing::RequestView& request, const conf::SecurityConfig& security, bool peer_trusted) {
  std::string_view origin = ascii_trim(request.header("origin"));
  if (origin.empty() || origin == "null") return false;
  for (const std::string& allowed : security.allowed_origins) {
    std::string_view a = allowed;
    if (a.ends_with('/')) a.remove_suffix(1);
    if (routing::iequals(a, origin)) return false;
  }
  const std::size_t scheme = origin.find("://");
  if (scheme == std::string_view::npos) return true;
  std::string_view origin_host = origin.substr(scheme + 3);
  if (const std::size_t slash = origin_host.find('/'); slash != std::string_view::npos) {
    origin_host = origin_host.substr(0, slash);
  }
  std::string_view host = request.header("host");
  if (peer_trusted) {
    std::string_view forwarded = request.header("x-forwarded-host");
    // The first hop's value: a client's own host, as it sent it.
    if (const std::size_t comma = forwarded.find(','); comma != std::string_view::npos) {
      forwarded = forwarded.substr(0, comma);
    }
    forwarded = ascii_trim(forwarded);
    if (!forwarded.empty()) host = forwarded;
  }
  host = ascii_trim(host);
  // A default port may be written or left out on either side.
  auto strip_default_port = [&origin](std::string_view h) {
    const bool https = origin.starts_with("https://") || origin.starts_with("HTTPS://");
    const std::string_view port = https ? ":443" : ":80";
    if (h.size() > port.size() && h.ends_with(port)) h.remove_suffix(port.size());
    return h;
  };
  return !routing::iequals(strip_default_port(origin_host), strip_default_port(host));
}

Verdict origin_mismatch_verdict(const App& app, Verdict verdict) {
  verdict.outcome = Outcome::error;
  verdict.reason = Reason::origin_mismatch;
  verdict.target = nullptr;
  verdict.answer = json_answer(
      403, {{"error", to_string(Reason::origin_mismatch)},
            {"message", "the action's Origin is not the host it was sent to, nor one of security.allowed_origins"},
            {"app", app.name}});
  return verdict;
}

std::int64_t max_age_seconds(const App& app) {
  return std::chrono::duration_cast<std::chrono::seconds>(app.config->retention.max_age).count();
}

// A Set-Cookie value pinning the visitor to `build`; "" when sealing fails.
std::string new_pin_cookie(const App& app, const Build& build, const DecisionInput& input,
                           const routing::Snapshot& snapshot) {
  const std::int64_t now_s = input.now_ms / 1000;
  const std::int64_t max_age = max_age_seconds(app);
  const std::string value = input.keyring->seal(Pin{app.name, build.id, now_s, now_s + max_age, Pin::Kind::pin}, input.pin_scratch);
  if (value.empty()) return {};
  return pin_set_cookie(snapshot.config().pins.cookie, value, max_age, input.downstream_secure);
}

// The query without any skewgate_preview parameter.
std::string query_without_preview(std::string_view query) {
  std::string out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::string_view name = pair.substr(0, pair.find('='));
    if (name == kPreviewParam || pair.empty()) continue;
    if (!out.empty()) out.push_back('&');
    out.append(pair);
  }
  return out;
}

// The page a reload answer sends the client back to: the request's path and
// query as a same-origin path (an absolute-form target loses its scheme and
// authority, `//host` and `/\host` become `/host`).
std::string path_and_query(const routing::RequestView& request) {
  std::string target(request.path());
  if (const std::string_view query = request.query(); !query.empty()) target.append("?").append(query);
  return same_origin_target(target);
}

// A GET document carrying a valid preview link for this app: 302 to the
// same URL without the token, pinning the browser to the preview build. An
// invalid or expired token is ignored (the request goes on as usual).
bool preview_link(Verdict& verdict, const App& app, const DecisionInput& input, const routing::Snapshot& snapshot) {
  const routing::RequestView& request = input.request;
  const std::optional<std::string> token = routing::query_param(request.query(), kPreviewParam);
  if (!token) return false;
  const OpenResult opened = input.keyring->open(*token, app.name, input.now_ms / 1000, Pin::Kind::preview, input.pin_scratch);
  if (opened.result != PinResult::valid) return false;
  const Build* build = app.find_build(opened.pin.build);
  if (build == nullptr || build->state == conf::BuildState::retired) return false;
  verdict.set_cookie = new_pin_cookie(app, *build, input, snapshot);
  if (verdict.set_cookie.empty()) return false;
  std::string target(request.path());
  if (const std::string rest = query_without_preview(request.query()); !rest.empty()) target.append("?").append(rest);
  const std::string location = same_origin_target(target);
  Answer answer;
  answer.status = 302;
  answer.headers = {{"location", location}, {"cache-control", "no-store"}};
  verdict.answer = std::move(answer);
  verdict.outcome = Outcome::answered;
  verdict.reason = Reason::preview_link;
  verdict.client_build.source = ClientBuildSource::current;
  verdict.client_build.id = build->id;
  verdict.client_build.build = build;
  verdict.client_build_state = state_of(build);
  return true;
}

Answer reload_answer(const Verdict& verdict, const App& app, const DecisionInput& input, Reason reason) {
  const std::string where = path_and_query(input.request);
  const std::string& id = verdict.client_build.id;
  const std::string_view client = id.empty() ? std::string_view("unknown") : std::string_view(id);
  const ReloadContext context{reason, client, app.current->id, where};
  if (verdict.classification.kind == RequestKind::rsc) return rsc_reload_answer(context);
  return action_reload_answer(verdict.classification, app.config->skew, context);
}

void answer_reload(Verdict& verdict, const App& app, const DecisionInput& input, Reason reason) {
  verdict.answer = reload_answer(verdict, app, input, reason);
  verdict.outcome = Outcome::answered;
  verdict.reason = reason;
  verdict.target = nullptr;
}

}  // namespace

std::uint64_t body_peek_bytes(const routing::RequestView& request, const routing::Snapshot& snapshot) {
  if (request.method != "POST") return 0;  // the common case pays no app lookup here
  const App* app = snapshot.find_app(request.header("host"));
  if (app == nullptr || !routing::needs_body_peek(request, *app->config)) return 0;
  return app->config->actions.inspect_bytes;
}

Verdict decide(const DecisionInput& input, const routing::Snapshot& snapshot) {
  const routing::RequestView& request = input.request;
  if (input.redirect_https) {
    Verdict verdict;
    verdict.app = snapshot.find_app(request.header("host"));  // labels only
    verdict.outcome = Outcome::answered;
    verdict.reason = metrics::Reason::redirect_https;
    verdict.answer = https_redirect_answer(request);
    return verdict;
  }
  const App* app = snapshot.find_app(request.header("host"));
  if (app == nullptr) return no_app();

  Verdict verdict;
  verdict.app = app;
  // The module react-server's flight reload answer imports: skewgate's own,
  // never a build's (any build may be gone by the time a stale tab asks).
  // Exact path, any query. Kind other, outcome answered, reason
  // reload_module: bounded labels whatever the method.
  if (app->config->framework != conf::Framework::next && request.path() == app->config->skew.reload_module_path) {
    verdict.outcome = Outcome::answered;
    verdict.reason = Reason::reload_module;
    verdict.client_build_state = ClientBuildState::current;
    verdict.answer = reload_module_answer(request.method);
    return verdict;
  }
  verdict.classification = routing::classify(request, *app->config, input.body_peek);
  const routing::Classification& kind = verdict.classification;

  // Cross-site action requests (CSRF): checked before anything is resolved.
  if (kind.kind == RequestKind::action && app->config->security.check_origin &&
      origin_mismatch(request, app->config->security, input.peer_trusted)) {
    return origin_mismatch_verdict(*app, std::move(verdict));
  }

  const bool keys = input.keyring != nullptr && input.keyring->ok();
  if (keys && kind.kind == RequestKind::document && request.method == "GET" &&
      preview_link(verdict, *app, input, snapshot)) {
    return verdict;
  }

  // Step 3: a pin whose seal verifies. Anything else is ignored (never an
  // error), only counted. Next's useSkewCookie (`__vdpl`: Vercel, Netlify)
  // is unsigned, so only a hint that resolution checks against the kept
  // builds. Both found in one pass over the Cookie headers.
  const CookiePair found = find_cookies(request.headers, keys ? std::string_view(snapshot.config().pins.cookie) : "",
                                        kVdplCookie);
  std::optional<Pin> pin;
  if (found.first) {
    OpenResult opened = input.keyring->open(*found.first, app->name, input.now_ms / 1000, Pin::Kind::pin, input.pin_scratch);
    verdict.pin_result = opened.result;
    if (opened.result == PinResult::valid) pin = std::move(opened.pin);
  }

  routing::CookieHints cookies;
  if (pin) cookies.pin_build = pin->build;
  if (found.second) cookies.vdpl_build = *found.second;

  verdict.client_build = routing::resolve_client_build(*app, request, kind, cookies);
  ClientBuild& client = verdict.client_build;

  // A react-server navigation goes where a document would (issue 15).
  if (client.source == ClientBuildSource::pin && kind.loads_like_document()) {
    verdict.client_build_state = state_of(client.build);
    if (document_may_load(*app, client.build)) {
      verdict.target = client.build;
    } else {
      // A pin for a build a reload must not land on: as a new visitor.
      const Build* canary = canary_for(*app, input);
      verdict.target = canary != nullptr ? canary : app->current;
    }
  } else if (client.overruled) {
    // An action whose named build's manifest lacks its ID (section 4:
    // evidence beats hints). No kept build's manifest has it either: when
    // current has a manifest the page is certainly stale; without one
    // current answers for itself (as for an action that names no build).
    if (client.source == ClientBuildSource::current &&
        routing::ids_known_for(*client.build, kind.action_client)) {
      verdict.client_build_state = ClientBuildState::unknown;
      client.build = nullptr;
      answer_reload(verdict, *app, input, Reason::action_not_found);
      return verdict;
    }
    verdict.client_build_state = state_of(client.build);
    verdict.target = client.build;
    // The request's own name (header, dpl: the tab's build as its page says)
    // was wrong, so another build serves it: a reroute. A pin or __vdpl names
    // the browser's last document, shared by every tab: the manifest found
    // this tab's build, which serves it.
    if (*client.overruled == ClientBuildSource::header || *client.overruled == ClientBuildSource::query) {
      verdict.outcome = Outcome::rerouted;
      verdict.reason = Reason::action_not_in_build;
    }
  } else if (client.source == ClientBuildSource::current) {
    // Nothing named a build (or a document, which ignores what it names):
    // a new visitor, who gets current or the canary cohort.
    if (const Build* canary = canary_for(*app, input)) client.build = canary;
    verdict.client_build_state = ClientBuildState::current;
    verdict.target = client.build;
    // resolve_client_build found the action ID in no manifest. When current
    // has one, the ID is certainly stale; without one we cannot tell, and
    // current answers for itself.
    if (kind.kind == RequestKind::action && routing::lacks_action(*client.build, kind.action_client, kind.action_id)) {
      verdict.client_build_state = ClientBuildState::unknown;
      client.build = nullptr;
      answer_reload(verdict, *app, input, Reason::action_not_found);
      return verdict;
    }
  } else {
    verdict.client_build_state = state_of(client.build);
    Reason unservable = unservable_reason(client.build);
    // A preview build is reachable through a signed pin, and only so.
    if (client.source == ClientBuildSource::pin && client.build != nullptr &&
        client.build->state == conf::BuildState::preview) {
      unservable = client.build->healthy ? Reason::none : Reason::build_unhealthy;
    }
    if (const Reason reason = unservable; reason != Reason::none) {
      verdict.reason = reason;
      verdict.outcome = Outcome::rerouted;
      verdict.target = app->current;
      switch (kind.kind) {
        case RequestKind::action:
          // Another kept build may still hold the action (an unchanged action
          // keeps its ID across builds when the encryption key is fixed).
          if (const Build* holder = routing::newest_kept_with_action(*app, kind.action_id)) {
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
      // source that documents honour).
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
    verdict.reason = Reason::build_unhealthy;
    verdict.answer = json_answer(503, {{"error", to_string(Reason::upstream_unavailable)},
                                       {"app", app->name},
                                       {"build", build},
                                       {"reason", to_string(Reason::build_unhealthy)}});
    return verdict;
  }

  // A document pins the visitor to the build it is served by, unless a valid
  // pin already names that build.
  if (keys && kind.kind == RequestKind::document && (!pin || pin->build != verdict.target->id)) {
    verdict.set_cookie = new_pin_cookie(*app, *verdict.target, input, snapshot);
  }
  return verdict;
}

}  // namespace sg::skew
