#include "gateway/proxy/request_metrics.h"

#include "metrics/labels.h"

namespace sg::gateway {
namespace {

using skew::ClientBuildState;

static_assert(metrics::kKinds.size() == static_cast<std::size_t>(routing::RequestKind::other) + 1);
static_assert(metrics::kOutcomes.size() == static_cast<std::size_t>(skew::Outcome::error) + 1);
static_assert(metrics::kFrameworks.size() == static_cast<std::size_t>(routing::RequestFramework::react_server) + 1);

// Stale requests only: a current or preview client is not skewed.
std::optional<std::size_t> skewed_state(ClientBuildState state) {
  switch (state) {
    case ClientBuildState::retained: return 0;
    case ClientBuildState::retired: return 1;
    case ClientBuildState::unknown: return 2;
    case ClientBuildState::current:
    case ClientBuildState::preview: return std::nullopt;
  }
  return std::nullopt;
}

// A pin that does not verify for this app, however it fails to, counts as
// tampered: only the expiry and key rotation are told apart.
std::size_t pin_result_index(skew::PinResult result) {
  switch (result) {
    case skew::PinResult::valid: return 1;
    case skew::PinResult::expired: return 3;
    case skew::PinResult::unknown_key: return 4;
    case skew::PinResult::tampered:
    case skew::PinResult::foreign_app:
    case skew::PinResult::malformed: return 2;
  }
  return 2;
}

}  // namespace

metrics::RequestSample request_sample(const skew::Verdict& verdict, std::int64_t now_ms,
                                      std::optional<double> upstream_duration_s) {
  metrics::RequestSample s;
  if (verdict.app) s.app = verdict.app->name;
  if (verdict.target && !verdict.answer) s.build = verdict.target->id;
  s.kind = static_cast<std::size_t>(verdict.classification.kind);
  s.outcome = static_cast<std::size_t>(verdict.outcome);
  if (verdict.app) {
    s.client_build_state = skewed_state(verdict.client_build_state);
    if (verdict.outcome == skew::Outcome::answered) s.reload_reason = metrics::kReloadLabels.index(verdict.reason);
    const routing::Build* client = verdict.client_build.build;
    if (s.client_build_state && client && client->superseded_at_ms > 0 && now_ms >= client->superseded_at_ms)
      s.client_build_age_s = static_cast<double>(now_ms - client->superseded_at_ms) / 1000.0;
  }
  switch (verdict.classification.kind) {
    case routing::RequestKind::action: s.framework_kind = 0; break;
    case routing::RequestKind::rsc: s.framework_kind = 1; break;
    default: break;
  }
  s.framework = static_cast<std::size_t>(verdict.classification.framework);
  if (verdict.pin_result) s.pin_result = pin_result_index(*verdict.pin_result);
  s.pin_issued = !verdict.set_cookie.empty();
  s.upstream_duration_s = upstream_duration_s;
  return s;
}

}  // namespace sg::gateway
