#include "gateway/control_plane.h"

#include <chrono>
#include <cstdio>

#include "conf/load.h"
#include "gateway/server.h"
#include "skew/retention.h"

namespace sg::gateway {
namespace {

constexpr std::uint64_t kTickMs = 1000;
constexpr int kRetentionEveryTicks = 10;
constexpr int kPersistActivityEveryTicks = 30;
// Passive ejection, as nginx's max_fails/fail_timeout: `fall` connect
// failures within the window take a build out for the window.
constexpr std::int64_t kPassiveWindowMs = 10'000;

// "shop\ndpl-a" -> "shop/dpl-a" for messages.
std::string printable(std::string key) {
  for (char& c : key)
    if (c == '\n') c = '/';
  return key;
}

std::vector<std::string> to_strings(const std::vector<conf::Diagnostic>& diagnostics) {
  std::vector<std::string> out;
  for (const auto& d : diagnostics) out.push_back(d.to_string());
  return out;
}

}  // namespace

std::int64_t ControlPlane::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ControlPlane::ControlPlane(uv_loop_t* loop, std::string config_path)
    : loop_(loop),
      config_path_(std::move(config_path)),
      health_(loop, [this](const std::string& key, bool healthy) { on_health_change(key, healthy); }) {}

ControlPlane::~ControlPlane() { stop(); }

bool ControlPlane::load(std::vector<std::string>& errors) {
  conf::LoadResult result = config_path_.empty()
                                ? conf::load_string(conf::embedded_default_yaml(), "<embedded default>")
                                : conf::load_file(config_path_);
  for (const auto& w : result.warnings) std::fprintf(stderr, "skewgate: warning: %s\n", w.to_string().c_str());
  if (!result.config) {
    errors = to_strings(result.errors);
    return false;
  }
  std::string error;
  if (!load_state(result.config->state_dir, state_, error)) {
    errors.push_back(error);
    return false;
  }
  saved_state_ = state_;
  track_supersedes(*result.config);
  if (!rebuild(std::move(*result.config), errors)) return false;
  apply_retention();
  return true;
}

void ControlPlane::attach(Server& server) {
  server_ = &server;
  started_ = true;
  uv_timer_init(loop_, &tick_);
  tick_.data = this;
  uv_timer_start(&tick_, on_tick, kTickMs, kTickMs);
  uv_async_init(loop_, &reports_async_, on_reports);
  reports_async_.data = this;
  reports_.set_notifier(&reports_async_);
  health_.update(*snapshot_);
  persist();
}

bool ControlPlane::reload(std::vector<std::string>& errors) {
  if (config_path_.empty()) {
    errors.push_back("running the embedded default: there is no file to reload");
    return false;
  }
  conf::LoadResult result = conf::load_file(config_path_);
  for (const auto& w : result.warnings) std::fprintf(stderr, "skewgate: warning: %s\n", w.to_string().c_str());
  if (!result.config) {
    errors = to_strings(result.errors);
    return false;
  }
  const PersistedState before = state_;
  track_supersedes(*result.config);
  if (!rebuild(std::move(*result.config), errors)) {
    state_ = before;
    return false;
  }
  apply_retention();
  persist();
  return true;
}

void ControlPlane::stop() {
  if (stopped_) return;
  stopped_ = true;
  health_.stop();
  if (!started_) return;
  reports_.set_notifier(nullptr);
  persist();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&reports_async_), nullptr);
}

// A build stops being current: its age starts now. A build made current
// (a promote or a rollback) is no longer superseded nor retired.
void ControlPlane::track_supersedes(const conf::Config& config) {
  const std::int64_t now = now_ms();
  for (const conf::AppConfig& app : config.apps) {
    for (const conf::BuildConfig& build : app.builds) {
      PersistedBuild& b = state_[routing::runtime_key(app.name, build.id)];
      if (build.id == app.current) {
        b.superseded_at_ms = 0;
        b.retired_by_retention = false;
      } else if (b.superseded_at_ms == 0) {
        b.superseded_at_ms = now;
      }
    }
  }
}

routing::RuntimeState ControlPlane::runtime_state() const {
  routing::RuntimeState runtime;
  const std::int64_t now = now_ms();
  for (const auto& [key, b] : state_) {
    routing::BuildRuntime r;
    r.superseded_at_ms = b.superseded_at_ms;
    r.retired_by_retention = b.retired_by_retention;
    auto unhealthy = active_unhealthy_.find(key);
    auto ejected = ejected_until_.find(key);
    r.healthy = !(unhealthy != active_unhealthy_.end() && unhealthy->second) &&
                !(ejected != ejected_until_.end() && ejected->second > now);
    runtime[key] = r;
  }
  return runtime;
}

bool ControlPlane::rebuild(conf::Config config, std::vector<std::string>& errors) {
  const routing::RuntimeState runtime = runtime_state();
  conf::Config copy = config;
  auto snapshot = routing::Snapshot::create(std::move(copy), errors, ++generation_, &runtime);
  if (!snapshot) return false;
  config_ = std::move(config);
  snapshot_ = std::move(snapshot);
  publish();
  return true;
}

void ControlPlane::publish() {
  if (!server_) return;
  server_->apply(snapshot_);
  health_.update(*snapshot_);
}

void ControlPlane::on_tick(uv_timer_t* timer) {
  auto* self = static_cast<ControlPlane*>(timer->data);
  const int ticks = ++self->ticks_;
  self->apply_reports();
  bool changed = false;
  const std::int64_t now = now_ms();
  for (auto it = self->ejected_until_.begin(); it != self->ejected_until_.end();) {
    if (it->second <= now) {
      std::fprintf(stderr, "skewgate: build %s back in rotation after passive ejection\n", printable(it->first).c_str());
      it = self->ejected_until_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (changed) {
    std::vector<std::string> errors;
    self->rebuild(self->config_, errors);
  }
  if (ticks % kRetentionEveryTicks == 0 && self->apply_retention()) self->persist();
  if (ticks % kPersistActivityEveryTicks == 0) self->persist();
}

void ControlPlane::on_reports(uv_async_t* async) { static_cast<ControlPlane*>(async->data)->apply_reports(); }

void ControlPlane::apply_reports() {
  RuntimeReports::Drained drained = reports_.drain();
  if (drained.connect_failures.empty() && drained.last_requests.empty()) return;
  // Workers speak in pool keys; the state speaks in (app, build).
  std::map<std::string, std::pair<std::string, const routing::App*>> by_pool_key;
  for (const routing::App& app : snapshot_->apps())
    for (const routing::Build& build : app.builds)
      by_pool_key[build.pool_key] = {routing::runtime_key(app.name, build.id), &app};
  for (const auto& [pool_key, ms] : drained.last_requests) {
    auto it = by_pool_key.find(pool_key);
    if (it == by_pool_key.end()) continue;
    PersistedBuild& b = state_[it->second.first];
    if (ms > b.last_request_ms) b.last_request_ms = ms;
  }
  const std::int64_t now = now_ms();
  bool ejected = false;
  for (const std::string& pool_key : drained.connect_failures) {
    auto it = by_pool_key.find(pool_key);
    if (it == by_pool_key.end()) continue;
    const std::string& key = it->second.first;
    auto& times = recent_failures_[key];
    times.push_back(now);
    std::erase_if(times, [now](std::int64_t t) { return t < now - kPassiveWindowMs; });
    const std::uint64_t fall = it->second.second->config->health.fall;
    if (times.size() >= fall && ejected_until_.find(key) == ejected_until_.end()) {
      ejected_until_[key] = now + kPassiveWindowMs;
      times.clear();
      ejected = true;
      std::fprintf(stderr, "skewgate: build %s ejected for %llds after %llu connect failures\n", printable(key).c_str(),
                   static_cast<long long>(kPassiveWindowMs / 1000), static_cast<unsigned long long>(fall));
    }
  }
  if (ejected) {
    std::vector<std::string> errors;
    rebuild(config_, errors);
  }
}

bool ControlPlane::apply_retention() {
  bool changed = false;
  const std::int64_t now = now_ms();
  for (const routing::App& app : snapshot_->apps()) {
    std::vector<skew::RetainedBuild> retained;
    for (const routing::Build* build : app.newest_first) {
      if (build->state != conf::BuildState::retained) continue;
      const PersistedBuild& b = state_[routing::runtime_key(app.name, build->id)];
      retained.push_back({build->id, b.superseded_at_ms, b.last_request_ms});
    }
    if (retained.empty()) continue;
    for (const std::string& id : skew::builds_to_retire(retained, 1, app.config->retention, now)) {
      state_[routing::runtime_key(app.name, id)].retired_by_retention = true;
      std::fprintf(stderr, "skewgate: retention retired build %s of app %s\n", id.c_str(), app.name.c_str());
      changed = true;
    }
  }
  if (changed) {
    std::vector<std::string> errors;
    rebuild(config_, errors);
  }
  return changed;
}

void ControlPlane::on_health_change(const std::string& build_key, bool healthy) {
  active_unhealthy_[build_key] = !healthy;
  std::fprintf(stderr, "skewgate: build %s is %s (active health checks)\n", printable(build_key).c_str(),
               healthy ? "healthy" : "unhealthy");
  std::vector<std::string> errors;
  rebuild(config_, errors);
}

void ControlPlane::persist() {
  if (state_ == saved_state_) return;
  std::string error;
  if (save_state(config_.state_dir, state_, error)) {
    saved_state_ = state_;
  } else {
    std::fprintf(stderr, "skewgate: %s\n", error.c_str());
  }
}

}  // namespace sg::gateway
