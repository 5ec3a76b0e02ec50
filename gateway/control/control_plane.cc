#include "gateway/control/control_plane.h"

#include <chrono>
#include <cstdio>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "conf/load.h"
#include "conf/manifest.h"
#include "conf/read_file.h"
#include "gateway/control/config_json.h"
#include "gateway/control/upstream_names.h"
#include "gateway/proxy/server.h"
#include "skew/decide.h"
#include "skew/retention.h"

namespace sg::gateway {
namespace {

constexpr std::uint64_t kTickMs = 1000;
// How long a start, reload, register or promote waits for a new upstream
// name's first answer before it goes on without its addresses (a name that
// has none serves nothing until it resolves). With a probe's 3 s
// (kProbeTimeout) it stays under the CLI's 5 s I/O timeout.
constexpr std::chrono::milliseconds kFirstAnswerWait{1500};
constexpr const char* kRegistryFile = "/registry.json";
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

// "dir/name" -> "dir/" ("." when there is no slash) and "name".
std::string directory_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash + 1);
}

std::string file_name_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
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

ControlPlane::ControlPlane(uv_loop_t* loop, std::string config_path, conf::ProcessOverrides overrides)
    : loop_(loop),
      config_path_(std::move(config_path)),
      overrides_(std::move(overrides)),
      health_(loop, [this](const std::string& key, bool healthy) { on_health_change(key, healthy); }),
      dns_(loop, [this](const std::string& name, const DnsAnswer& answer) { on_dns_answer(name, answer); }),
      verifier_(std::make_unique<ProbingVerifier>(loop)) {}

ControlPlane::~ControlPlane() { stop(); }

bool ControlPlane::load_config(std::vector<std::string>& errors) {
  conf::LoadResult result = config_path_.empty()
                                ? conf::load_string(conf::embedded_default_yaml(), "<embedded default>")
                                : conf::load_file(config_path_);
  conf::apply_overrides(overrides_, result);
  for (const auto& w : result.warnings) std::fprintf(stderr, "skewgate: warning: %s\n", w.to_string().c_str());
  if (!result.config) {
    errors = to_strings(result.errors);
    return false;
  }
  file_config_ = std::move(*result.config);
  std::string dns_error;
  if (!dns_.configure(file_config_.dns, dns_error)) {
    errors.push_back(dns_error);
    return false;
  }
  // Certificates are read now: a bad one stops start-up with the file and
  // OpenSSL's reason, before any socket is taken over.
  ticket_keys_ = std::make_shared<TicketKeyRing>(file_config_.tls.ticket_rotation);
  tls_ = TlsContexts::build(file_config_, ticket_keys_, errors);
  return tls_ != nullptr;
}

bool ControlPlane::load_state(std::vector<std::string>& errors) {
  std::string error;
  if (!ensure_dir(file_config_.state_dir, error) || !gateway::load_state(file_config_.state_dir, state_, error) ||
      !load_registry(file_config_.state_dir, error)) {
    errors.push_back(error);
    return false;
  }
  saved_state_ = state_;
  conf::Config effective = effective_config(file_config_, registry_);
  track_supersedes(effective);
  if (!rebuild(std::move(effective), errors)) return false;
  apply_retention();
  return true;
}

bool ControlPlane::load_registry(const std::string& state_dir, std::string& error) {
  const std::string path = state_dir + kRegistryFile;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return true;  // nothing registered yet
    error = "cannot read registry file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string why;
  auto registry = routing::decode_registry(text.str(), why);
  if (!registry) {
    error = "registry file " + path + " is corrupt or truncated: " + why;
    return false;
  }
  registry_ = std::move(*registry);
  return true;
}

conf::Config ControlPlane::effective_config(const conf::Config& file, const routing::Registry& registry) const {
  conf::Config config = file;
  std::vector<conf::AppConfig> apps;
  std::set<std::string> manifests;
  std::set<std::string> function_dirs;
  for (conf::AppConfig& app : config.apps) {
    if (app.registry == conf::RegistrySource::api) {
      auto it = registry.find(app.name);
      if (it != registry.end()) routing::apply_registry(it->second, app);
      for (conf::BuildConfig& build : app.builds) {
        if (!build.functions_from.empty()) {
          function_dirs.insert(build.functions_from);
          collect_function_ids(app, build);
        }
        if (build.manifest.empty()) continue;
        manifests.insert(build.manifest);
        // Never blocks (only regular files are opened) and parses only a
        // file that changed: a bad path spoils its own build, nothing else.
        conf::ManifestRead read = manifests_.read(build.manifest, app.actions.manifest_max_bytes);
        if (read.error.empty()) {
          build.action_ids = std::move(read.action_ids);
          build.action_id_source = conf::ActionIdSource::next_manifest;
        } else {
          std::fprintf(stderr, "skewgate: warning: app %s build %s: %s\n", app.name.c_str(), build.id.c_str(),
                       read.error.c_str());
        }
      }
      // Until its first promote an api app has no current build and
      // receives no traffic of its own.
      if (app.current.empty()) continue;
    }
    apps.push_back(std::move(app));
  }
  config.apps = std::move(apps);
  manifests_.keep_only(manifests);
  functions_.keep_only(function_dirs);
  return config;
}

// Never blocks nor follows a symlink (conf/function_dir.h) and reads only
// chunks that changed: a bad outDir spoils its own build (no ids: its calls
// are not known to be its own, as without a manifest), nothing else.
void ControlPlane::collect_function_ids(const conf::AppConfig& app, conf::BuildConfig& build) const {
  conf::FunctionsRead read = functions_.read(build.functions_from, conf::function_limits(app.actions));
  if (!read.error.empty()) {
    std::fprintf(stderr, "skewgate: warning: app %s build %s: %s\n", app.name.c_str(), build.id.c_str(),
                 read.error.c_str());
    return;
  }
  if (read.skipped_ids > 0 || read.skipped_entries > 0)
    std::fprintf(stderr,
                 "skewgate: warning: app %s build %s: functions_from %s: skipped %llu ids (too long, control bytes or "
                 "undecodable escapes) and %llu entries (symlinks, FIFOs, devices, sockets)\n",
                 app.name.c_str(), build.id.c_str(), build.functions_from.c_str(),
                 static_cast<unsigned long long>(read.skipped_ids),
                 static_cast<unsigned long long>(read.skipped_entries));
  if (read.ids.empty())
    std::fprintf(stderr,
                 "skewgate: warning: app %s build %s: functions_from %s: no createServerReference ids in %llu chunk "
                 "files under client/: every server-function call counts as not in this build\n",
                 app.name.c_str(), build.id.c_str(), build.functions_from.c_str(),
                 static_cast<unsigned long long>(read.files));
  build.action_ids = std::move(read.ids);
  build.action_id_source = conf::ActionIdSource::react_server_chunks;
}

void ControlPlane::attach(Server& server) {
  server_ = &server;
  started_ = true;
  uv_timer_init(loop_, &tick_);
  tick_.data = this;
  uv_timer_start(&tick_, on_tick, kTickMs, kTickMs);
  dns_.start_refresh();
  uv_async_init(loop_, &reports_async_, on_reports);
  reports_async_.data = this;
  reports_.set_notifier(&reports_async_);
  health_.update(*snapshot_);
  persist();
  loaded_hash_ = config_file_hash();
  if (file_config_.watch && !config_path_.empty()) start_watch();
}

std::size_t ControlPlane::content_hash(std::size_t config_hash, const conf::Config& config) const {
  std::size_t hash = config_hash;
  const auto mix = [&hash](std::uint64_t value) { hash ^= std::hash<std::uint64_t>{}(value) + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2); };
  const auto add_file = [&](const std::string& path) {
    const conf::RegularFile file = conf::stat_regular_file(path, UINT64_MAX);
    mix(static_cast<std::uint64_t>(file.error));
    mix(file.identity.device);
    mix(file.identity.inode);
    mix(file.identity.size);
    mix(static_cast<std::uint64_t>(file.identity.mtime_ns));
  };
  for (const auto& l : config.listeners)
    if (l.tls) {
      add_file(l.tls->cert);
      add_file(l.tls->key);
    }
  for (const auto& app : config.apps)
    if (app.tls) {
      add_file(app.tls->cert);
      add_file(app.tls->key);
    }
  return hash;
}

// Settings that belong to the process, not to a snapshot: reported, kept.
void ControlPlane::report_static_changes(const conf::Config& next) const {
  auto note = [](const char* what) {
    std::fprintf(stderr, "skewgate: reload: %s changed; it applies at the next restart\n", what);
  };
  if (!(next.admin.address == file_config_.admin.address) || next.admin.token_file != file_config_.admin.token_file)
    note("admin");
  if (next.state_dir != file_config_.state_dir) note("state_dir");
  if (next.access_log.path != file_config_.access_log.path || next.access_log.format != file_config_.access_log.format)
    note("access_log");
  if (next.watch != file_config_.watch) note("watch");
  // The keyring is chosen once per process (environment, files, state_dir).
  if (next.pins.secret != file_config_.pins.secret || next.pins.secret_file != file_config_.pins.secret_file ||
      next.pins.previous_secrets != file_config_.pins.previous_secrets)
    note("pins secret");
}

std::size_t ControlPlane::config_file_hash() const {
  std::ifstream in(config_path_, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return content_hash(std::hash<std::string>{}(text.str()), file_config_);
}

void ControlPlane::start_watch() {
  uv_timer_init(loop_, &watch_settle_);
  watch_settle_.data = this;
  uv_fs_event_init(loop_, &watch_);
  watch_.data = this;
  const std::string dir = directory_of(config_path_);
  if (uv_fs_event_start(&watch_, on_watch_event, dir.c_str(), 0) != 0) {
    std::fprintf(stderr, "skewgate: warning: cannot watch %s; use SIGHUP or POST /api/v1/reload\n", dir.c_str());
    uv_close(reinterpret_cast<uv_handle_t*>(&watch_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&watch_settle_), nullptr);
    return;
  }
  watching_ = true;
  update_certificate_watches();
}

// Certificates are often renewed in their own directory (certbot's live/,
// a Kubernetes secret volume): watch each directory that holds one.
void ControlPlane::update_certificate_watches() {
  if (!watching_) return;
  const std::string config_dir = directory_of(config_path_);
  std::set<std::string> dirs;
  watched_names_.clear();
  for (const std::string& file : tls_ ? tls_->files() : std::vector<std::string>{}) {
    watched_names_.insert(file_name_of(file));
    if (std::string dir = directory_of(file); dir != config_dir) dirs.insert(std::move(dir));
  }
  for (auto it = certificate_watches_.begin(); it != certificate_watches_.end();) {
    if (dirs.contains(it->first)) {
      ++it;
      continue;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(it->second),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
    it = certificate_watches_.erase(it);
  }
  for (const std::string& dir : dirs) {
    if (certificate_watches_.contains(dir)) continue;
    auto* handle = new uv_fs_event_t;
    uv_fs_event_init(loop_, handle);
    handle->data = this;
    if (uv_fs_event_start(handle, on_watch_event, dir.c_str(), 0) != 0) {
      std::fprintf(stderr, "skewgate: warning: cannot watch %s; use SIGHUP or POST /api/v1/reload\n", dir.c_str());
      uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
      continue;
    }
    certificate_watches_.emplace(dir, handle);
  }
}

// Editors and ConfigMap updates touch several entries in a row: wait for
// the directory to settle, then reload only if the file's bytes changed.
void ControlPlane::on_watch_event(uv_fs_event_t* handle, const char* filename, int, int) {
  auto* self = static_cast<ControlPlane*>(handle->data);
  // Only the file itself, or the `..data` link a ConfigMap update swaps;
  // other files in the directory (an access log) must not delay a reload.
  const std::string name = filename ? filename : "";
  const std::string base = file_name_of(self->config_path_);
  if (!name.empty() && name != base && name != "..data" && !self->watched_names_.contains(name)) return;
  // Settle once, never postponed again: a busy directory cannot starve it.
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&self->watch_settle_)))
    uv_timer_start(&self->watch_settle_, on_watch_settled, 200, 0);
}

void ControlPlane::on_watch_settled(uv_timer_t* timer) {
  auto* self = static_cast<ControlPlane*>(timer->data);
  const std::size_t hash = self->config_file_hash();
  if (hash == self->loaded_hash_) return;
  self->reload([self, hash](const ReloadOutcome& outcome) {
    if (outcome.ok) {
      std::fprintf(stderr, "skewgate: configuration reloaded (file changed)\n");
      return;
    }
    for (const auto& e : outcome.errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::fprintf(stderr, "skewgate: reload refused, the running configuration stays\n");
    self->loaded_hash_ = hash;  // do not retry the same bad bytes
  });
}

// The names are resolved before anything is probed or served, so the first
// snapshot already holds their addresses.
void ControlPlane::verify_at_start(BuildVerifier::Done done) {
  std::set<std::string> names;
  for (const auto& [name, users] : upstream_names(file_config_)) names.insert(name);
  verify_resolved(targets_at_start(file_config_), std::move(names), [this, done = std::move(done)](VerifyOutcome outcome) {
    log_notes(outcome);
    done(std::move(outcome));
  });
}

void ControlPlane::verify_resolved(std::vector<VerifyTarget> targets, std::set<std::string> names,
                                   BuildVerifier::Done done) {
  for (const VerifyTarget& target : targets) names.merge(names_in(target.upstreams));
  dns_.when_answered(names, kFirstAnswerWait, [this, targets = std::move(targets), done = std::move(done)]() mutable {
    std::vector<std::string> notes;
    std::vector<VerifyTarget> resolved = resolve_targets(std::move(targets), resolved_, notes);
    verifier_->verify(std::move(resolved), [notes = std::move(notes), done = std::move(done)](VerifyOutcome outcome) {
      outcome.notes.insert(outcome.notes.begin(), notes.begin(), notes.end());
      done(std::move(outcome));
    });
  });
}

void ControlPlane::log_notes(const VerifyOutcome& outcome) const {
  for (const auto& note : outcome.notes) std::fprintf(stderr, "skewgate: verify: %s\n", note.c_str());
}

void ControlPlane::reload(ReloadDone done) {
  reload_waiters_.push_back(std::move(done));
  if (!reload_running_) start_reload();
}

// The file is read and checked now; its new builds are probed; the result
// is applied against the registry and state as they are when the probes
// are done (an admin change may have happened meanwhile).
void ControlPlane::start_reload() {
  reload_running_ = true;
  std::vector<ReloadDone> waiters = std::move(reload_waiters_);
  reload_waiters_.clear();
  ReloadOutcome outcome;
  std::optional<LoadedFile> loaded = load_reload_file(outcome.errors);
  if (!loaded) {
    finish_reload(std::move(waiters), std::move(outcome));
    return;
  }
  std::vector<VerifyTarget> targets = targets_at_reload(file_config_, loaded->config);
  auto file = std::make_shared<LoadedFile>(std::move(*loaded));
  // New names are resolved first: a build the file adds by name is probed
  // at its addresses, and does not start out without any.
  std::set<std::string> names;
  for (const auto& [name, users] : upstream_names(file->config)) names.insert(name);
  verify_resolved(std::move(targets), std::move(names), [this, file, waiters = std::move(waiters)](VerifyOutcome verified) mutable {
    log_notes(verified);
    ReloadOutcome result;
    if (!verified.ok()) {
      for (const Mismatch& m : verified.mismatches) result.errors.push_back(m.message());
      result.mismatches = std::move(verified.mismatches);
    } else {
      result.ok = apply_reload(std::move(*file), result.errors);
    }
    finish_reload(std::move(waiters), std::move(result));
  });
}

void ControlPlane::finish_reload(std::vector<ReloadDone> waiters, ReloadOutcome outcome) {
  ++config_reloads_[outcome.ok ? 0 : 1];
  reload_running_ = false;
  for (auto& waiter : waiters) waiter(outcome);
  if (!reload_running_ && !reload_waiters_.empty() && !stopped_) start_reload();
}

std::optional<ControlPlane::LoadedFile> ControlPlane::load_reload_file(std::vector<std::string>& errors) {
  if (config_path_.empty()) {
    errors.push_back("running the embedded default: there is no file to reload");
    return std::nullopt;
  }
  LoadedFile loaded;
  std::ifstream in(config_path_, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const std::size_t bytes_hash = std::hash<std::string>{}(bytes.str());
  conf::LoadResult result = conf::load_file(config_path_);
  conf::apply_overrides(overrides_, result);
  for (const auto& w : result.warnings) std::fprintf(stderr, "skewgate: warning: %s\n", w.to_string().c_str());
  if (!result.config) {
    errors = to_strings(result.errors);
    return std::nullopt;
  }
  // Validate the whole snapshot before probing anything.
  const PersistedState before = state_;
  conf::Config effective = effective_config(*result.config, registry_);
  track_supersedes(effective);
  const routing::RuntimeState runtime = runtime_state();
  state_ = before;
  if (!routing::Snapshot::create(std::move(effective), errors, 0, &runtime, &resolved_)) return std::nullopt;
  // Certificate files are looked at before they are read: a file replaced
  // while it is read shows as a change and is read again.
  loaded.hash = content_hash(bytes_hash, *result.config);
  loaded.tls = TlsContexts::build(*result.config, ticket_keys_, errors);
  if (!loaded.tls) return std::nullopt;
  loaded.config = std::move(*result.config);
  return loaded;
}

bool ControlPlane::apply_reload(LoadedFile loaded, std::vector<std::string>& errors) {
  conf::Config file = std::move(loaded.config);
  const PersistedState before = state_;
  conf::Config effective = effective_config(file, registry_);
  track_supersedes(effective);
  // Validate again: the registry or the state may have changed while the
  // builds were probed. Before touching any socket.
  std::shared_ptr<const routing::Snapshot> snapshot = make_snapshot(effective, errors);
  if (!snapshot) {
    state_ = before;
    return false;
  }
  if (file.dns.servers != file_config_.dns.servers || file.dns.refresh != file_config_.dns.refresh) {
    std::string dns_error;
    if (!dns_.configure(file.dns, dns_error)) {
      state_ = before;
      errors.push_back(dns_error);
      return false;
    }
  }
  report_static_changes(file);
  if (server_) {
    std::vector<std::string> notes;
    std::string error;
    if (!server_->update_listeners(file, notes, error, loaded.tls)) {
      state_ = before;
      errors.push_back(error);
      return false;
    }
    for (const auto& note : notes) std::fprintf(stderr, "skewgate: reload: %s\n", note.c_str());
  }
  install(std::move(effective), std::move(snapshot));
  file_config_ = std::move(file);
  loaded_hash_ = loaded.hash;
  tls_ = std::move(loaded.tls);
  ticket_keys_->set_rotation(file_config_.tls.ticket_rotation);
  update_certificate_watches();
  apply_retention();
  persist();
  return true;
}

void ControlPlane::stop() {
  if (stopped_) return;
  stopped_ = true;
  health_.stop();
  verifier_->stop();
  dns_.stop();
  if (!started_) return;
  reports_.set_notifier(nullptr);
  persist();
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&reports_async_), nullptr);
  if (watching_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&watch_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&watch_settle_), nullptr);
    for (auto& [dir, handle] : certificate_watches_)
      uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<uv_fs_event_t*>(h); });
    certificate_watches_.clear();
  }
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
  auto snapshot = make_snapshot(config, errors);
  if (!snapshot) return false;
  install(std::move(config), std::move(snapshot));
  return true;
}

std::shared_ptr<const routing::Snapshot> ControlPlane::make_snapshot(const conf::Config& config,
                                                                     std::vector<std::string>& errors) {
  const routing::RuntimeState runtime = runtime_state();
  conf::Config copy = config;
  return routing::Snapshot::create(std::move(copy), errors, generation_ + 1, &runtime, &resolved_);
}

void ControlPlane::install(conf::Config config, std::shared_ptr<const routing::Snapshot> snapshot) {
  ++generation_;
  config_ = std::move(config);
  snapshot_ = std::move(snapshot);
  publish();
  track_names();
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

void ControlPlane::track_names() {
  std::set<std::string> names;
  for (const auto& [name, users] : upstream_names(config_)) names.insert(name);
  // Registered builds of an api app that has no current yet are not in the
  // config: their names are kept fresh too, for the promote that follows.
  for (const auto& [app, registry] : registry_)
    for (const routing::RegisteredBuild& build : registry.builds)
      if (build.state != conf::BuildState::retired) names.merge(names_in(build.upstreams));
  dns_.track(names);
  // Addresses of names no build uses any more are forgotten: if one comes
  // back, it starts as never resolved rather than with a stale set.
  std::erase_if(resolved_, [&names](const auto& entry) { return !names.contains(entry.first); });
}

void ControlPlane::on_dns_answer(const std::string& name, const DnsAnswer& answer) {
  const NameUsers users = upstream_names(config_);
  const auto used = users.find(name);
  if (!answer.ok) {
    if (used != users.end())
      for (const std::string& key : used->second) ++dns_failures_[key];
    if (dns_failing_.insert(name).second)
      std::fprintf(stderr, "skewgate: warning: upstream name %s: lookup failed (%s); %s\n", name.c_str(),
                   answer.error.c_str(),
                   resolved_.contains(name) ? "keeping its last addresses" : "it has no addresses: its builds serve nothing");
    return;
  }
  if (dns_failing_.erase(name) > 0)
    std::fprintf(stderr, "skewgate: upstream name %s resolves again\n", name.c_str());
  if (!answer_changes(resolved_, name, answer.addresses)) return;  // same set: same snapshot, warm pools kept
  std::string list;
  for (const conf::SocketAddress& a : answer.addresses) list += (list.empty() ? "" : ", ") + a.host;
  std::fprintf(stderr, "skewgate: upstream name %s resolves to %s\n", name.c_str(), list.c_str());
  resolved_[name] = answer.addresses;
  // Before the first snapshot (start-up) or for a name no build uses yet
  // (a registration being probed): nothing to rebuild.
  if (!snapshot_ || used == users.end()) return;
  std::vector<std::string> errors;
  rebuild(config_, errors);
}

void ControlPlane::begin_handover() {
  apply_reports();
  persist();
  handed_over_ = true;
}

// The successor went away before it was ready: it wrote nothing (it writes
// only once it runs, after READY), so what this process holds is still the
// truth, and what happened meanwhile is persisted at the next occasion.
void ControlPlane::abort_handover() {
  handed_over_ = false;
  persist();
}

void ControlPlane::persist() {
  if (handed_over_ || state_ == saved_state_) return;
  std::string error;
  if (save_state(config_.state_dir, state_, error)) {
    saved_state_ = state_;
  } else {
    std::fprintf(stderr, "skewgate: %s\n", error.c_str());
  }
}

// ---- the admin API ----

namespace {

using nlohmann::json;

json error_json(std::string_view code, std::string_view message) { return {{"error", code}, {"message", message}}; }

json iso_time(std::int64_t ms) {
  if (ms <= 0) return nullptr;
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json addresses_json(const std::vector<conf::SocketAddress>& addresses) {
  json out = json::array();
  for (const auto& a : addresses) out.push_back(a.to_string());
  return out;
}

const char* retired_by_name(routing::RetiredBy by) {
  switch (by) {
    case routing::RetiredBy::kill_switch: return "kill_switch";
    case routing::RetiredBy::retention: return "retention";
    case routing::RetiredBy::none: break;
  }
  return nullptr;
}

}  // namespace

const conf::AppConfig* ControlPlane::file_app(std::string_view name) const {
  for (const auto& app : file_config_.apps)
    if (app.name == name) return &app;
  return nullptr;
}

json ControlPlane::build_json(const routing::App& app, const routing::Build& build) const {
  const std::string key = routing::runtime_key(app.name, build.id);
  const auto it = state_.find(key);
  const std::int64_t last = it == state_.end() ? 0 : it->second.last_request_ms;
  const char* retired_by = retired_by_name(build.retired_by);
  // As configured (names as written); the addresses they resolved to below.
  const conf::BuildConfig* configured = config_build(app.name, build.id);
  json out = {{"id", build.id},
          {"state", conf::to_string(build.state)},
          {"healthy", build.healthy && (!health_.has_checks(key) || health_.has_passed(key))},
          {"upstreams", addresses_json(configured ? configured->upstreams : build.upstreams)},
          {"superseded_at", iso_time(build.superseded_at_ms)},
          {"age_seconds", build.superseded_at_ms > 0 ? json((now_ms() - build.superseded_at_ms) / 1000) : json(nullptr)},
          {"last_request_at", iso_time(last)},
          {"retired_by", retired_by ? json(retired_by) : json(nullptr)},
          {"has_manifest", build.has_manifest}};
  // react-server builds only (the other builds' views are unchanged): the
  // outDir and how many function ids it gave (null: the walk failed). Never
  // the ids themselves: there may be thousands, and newer releases make them
  // encrypted tokens.
  if (configured && !names_in(configured->upstreams).empty()) {
    out["addresses"] = addresses_json(build.upstreams);
    out["unresolved_names"] = build.unresolved_names;
  }
  if (const std::string dir = functions_from_of(app.name, build.id); !dir.empty()) {
    out["functions_from"] = dir;
    out["function_ids"] = build.ids_from == conf::ActionIdSource::react_server_chunks ? json(build.action_ids.size())
                                                                                       : json(nullptr);
  }
  return out;
}

const conf::BuildConfig* ControlPlane::config_build(std::string_view app, std::string_view build) const {
  for (const conf::AppConfig& a : config_.apps)
    if (a.name == app)
      for (const conf::BuildConfig& b : a.builds)
        if (b.id == build) return &b;
  return nullptr;
}

std::string ControlPlane::functions_from_of(std::string_view app, std::string_view build) const {
  for (const conf::AppConfig& a : config_.apps)
    if (a.name == app)
      for (const conf::BuildConfig& b : a.builds)
        if (b.id == build) return b.functions_from;
  return "";
}

ControlPlane::ApiResult ControlPlane::list_apps() const {
  json apps = json::array();
  for (const conf::AppConfig& app : file_config_.apps) {
    const routing::App* live = nullptr;
    for (const routing::App& a : snapshot_->apps())
      if (a.name == app.name) live = &a;
    apps.push_back({{"name", app.name},
                    {"registry", app.registry == conf::RegistrySource::api ? "api" : "config"},
                    {"current", live ? json(live->current->id) : json(nullptr)},
                    {"hosts", app.hosts}});
  }
  return {200, {{"apps", apps}}};
}

ControlPlane::ApiResult ControlPlane::describe_app(std::string_view name) const {
  const conf::AppConfig* app = file_app(name);
  if (!app) return {404, error_json("app_not_found", "no app named '" + std::string(name) + "'")};
  json builds = json::array();
  json current = nullptr;
  for (const routing::App& live : snapshot_->apps()) {
    if (live.name != name) continue;
    current = live.current->id;
    for (const routing::Build& build : live.builds) builds.push_back(build_json(live, build));
  }
  if (builds.empty() && app->registry == conf::RegistrySource::api) {
    // Registered but never promoted: not in the snapshot yet.
    auto it = registry_.find(std::string(name));
    if (it != registry_.end())
      for (const auto& b : it->second.builds) {
        builds.push_back({{"id", b.id}, {"state", conf::to_string(b.state)}, {"healthy", true},
                          {"upstreams", addresses_json(b.upstreams)}, {"superseded_at", nullptr}, {"age_seconds", nullptr},
                          {"last_request_at", nullptr}, {"retired_by", nullptr}, {"has_manifest", !b.manifest.empty()}});
        if (!b.functions_from.empty()) {
          // Not collected yet for a build that is not in the snapshot: the count comes with its first promote.
          builds.back()["functions_from"] = b.functions_from;
          builds.back()["function_ids"] = nullptr;
        }
      }
  }
  return {200,
          {{"name", app->name},
           {"registry", app->registry == conf::RegistrySource::api ? "api" : "config"},
           {"current", current},
           {"builds", builds}}};
}

// Every registry change: apply to a copy, check that it makes a valid
// snapshot, persist it (fsync) and only then swap it in and answer 2xx, so a
// kill -9 right after the answer loses nothing.
std::optional<ControlPlane::ApiResult> ControlPlane::refuse_change(std::string_view name) const {
  const conf::AppConfig* app = file_app(name);
  if (!app) return ApiResult{404, error_json("app_not_found", "no app named '" + std::string(name) + "'")};
  // The admin API refuses changes first (with Retry-After); this is the
  // guarantee that registry.json is never written once a successor may
  // have read it.
  if (handed_over_) return ApiResult{503, error_json("handover_in_progress", "a new skewgate process is taking over")};
  if (app->registry != conf::RegistrySource::api)
    return ApiResult{409, error_json("registry_is_config",
                                     "app '" + std::string(name) +
                                         "' takes its builds from the config file (registry: config); "
                                         "edit the file and reload")};
  return std::nullopt;
}

namespace {

// 409: the build is not what it is registered as. The stable code, the
// message, and the registered and reported IDs with how they were read.
json mismatch_error(const Mismatch& mismatch) {
  json body = {{"error", "deployment_id_mismatch"}, {"message", mismatch.message()}};
  body.update(mismatch.to_json());
  return body;
}

}  // namespace

// The probe runs between the dry run and the real change, and nothing is
// written before it passed: a refused build never reaches registry.json. The
// change itself is applied to the registry as it is after the probe.
void ControlPlane::verify_then_mutate(const std::string& app, RegistryOp op, std::function<json()> answer,
                                      const std::string& verify_build, Done done) {
  if (!verify_build.empty() && !refuse_change(app)) {
    routing::Registry dry = registry_;
    routing::AppRegistry& dry_app = dry[app];
    const routing::OpResult result = op(dry_app);
    if (!result.ok()) {
      done({result.status, error_json(result.error, result.message)});
      return;
    }
    const routing::RegisteredBuild* build = nullptr;
    for (const auto& b : dry_app.builds)
      if (b.id == verify_build) build = &b;
    if (result.changed && build != nullptr) {
      // A name is probed at its addresses: a new one is looked up first (a
      // bounded wait), so a promote never makes current a build that has none.
      verify_resolved({VerifyTarget{app, build->id, build->upstreams, probe_host(*file_app(app))}}, {},
                      [this, app, op = std::move(op), answer = std::move(answer),
                       done = std::move(done)](VerifyOutcome outcome) {
        log_notes(outcome);
        if (!outcome.ok()) {
          std::fprintf(stderr, "skewgate: refused: %s\n", outcome.mismatches.front().message().c_str());
          done({409, mismatch_error(outcome.mismatches.front())});
          return;
        }
        done(mutate(app, op, answer));
      });
      return;
    }
  }
  done(mutate(app, op, answer));
}

ControlPlane::ApiResult ControlPlane::mutate(std::string_view name, const RegistryOp& op,
                                             const std::function<json()>& answer) {
  if (auto refusal = refuse_change(name)) return *refusal;
  routing::Registry next = registry_;
  const routing::OpResult result = op(next[std::string(name)]);
  if (!result.ok()) return {result.status, error_json(result.error, result.message)};
  if (!result.changed) {
    registry_ = std::move(next);
    return {result.status, answer()};
  }
  const PersistedState before = state_;
  conf::Config effective = effective_config(file_config_, next);
  track_supersedes(effective);
  std::vector<std::string> errors;
  const routing::RuntimeState runtime = runtime_state();
  conf::Config copy = effective;
  auto snapshot = routing::Snapshot::create(std::move(copy), errors, generation_ + 1, &runtime, &resolved_);
  if (!snapshot) {
    state_ = before;
    std::string message = "the change would make an invalid configuration";
    for (const auto& e : errors) message += "; " + e;
    return {409, error_json("invalid_transition", message)};
  }
  std::string error;
  if (!write_file_atomically(file_config_.state_dir + kRegistryFile, routing::encode_registry(next), error) &&
      !(save_state(file_config_.state_dir, state_, error) &&  // creates state_dir, then retry
        write_file_atomically(file_config_.state_dir + kRegistryFile, routing::encode_registry(next), error))) {
    state_ = before;
    return {500, error_json("state_write_failed", error)};
  }
  registry_ = std::move(next);
  ++generation_;
  config_ = std::move(effective);
  snapshot_ = std::move(snapshot);
  publish();
  track_names();
  persist();
  return {result.status, answer()};
}

namespace {

// `"verify": false` in a register or promote body; absent means true.
bool read_verify(const json& body, bool& verify) {
  verify = true;
  if (!body.is_object() || !body.contains("verify")) return true;
  if (!body["verify"].is_boolean()) return false;
  verify = body["verify"].get<bool>();
  return true;
}

}  // namespace

void ControlPlane::register_build(std::string_view app, const json& body, Done done) {
  if (!body.is_object() || !body.contains("id") || !body["id"].is_string() || !body.contains("upstreams") ||
      !body["upstreams"].is_array())
    return done({400, error_json("invalid_body",
                                 R"(expected {"id": "...", "upstreams": ["host:port", ...], "manifest": "...", "functions_from": "...", "verify": true})")});
  bool verify = true;
  if (!read_verify(body, verify)) return done({400, error_json("invalid_body", "verify: expected true or false")});
  routing::RegisteredBuild build;
  build.id = body["id"].get<std::string>();
  for (const auto& u : body["upstreams"]) {
    auto address = u.is_string() ? conf::SocketAddress::parse_upstream(u.get<std::string>()) : std::nullopt;
    if (!address)
      return done({400, error_json("invalid_body",
                                   "upstreams: expected host:port, name:port, [v6]:port or unix:/path strings "
                                   "(a name: letters, digits, '-' and dots; no '_')")});
    build.upstreams.push_back(*address);
  }
  if (body.contains("manifest") && body.contains("functions_from"))
    return done({400, error_json("invalid_body",
                                 "a build has either manifest (Next.js) or functions_from (react-server), not both")});
  if (body.contains("manifest")) {
    if (!body["manifest"].is_string()) return done({400, error_json("invalid_body", "manifest: expected a path")});
    build.manifest = body["manifest"].get<std::string>();
    const conf::AppConfig* config_app = file_app(app);
    const std::uint64_t max_bytes =
        config_app ? config_app->actions.manifest_max_bytes : conf::kDefaultManifestMaxBytes;
    const conf::ManifestRead read = manifests_.read(build.manifest, max_bytes);
    if (!read.error.empty()) return done({400, error_json("invalid_manifest", read.error)});
  }
  if (body.contains("functions_from")) {
    if (!body["functions_from"].is_string() || body["functions_from"].get_ref<const std::string&>().empty())
      return done({400, error_json("invalid_body", "functions_from: expected a directory path")});
    build.functions_from = body["functions_from"].get<std::string>();
    const conf::AppConfig* config_app = file_app(app);
    const conf::FunctionsRead read = functions_.read(build.functions_from, conf::function_limits(config_app ? config_app->actions : conf::ActionsConfig{}));
    if (!read.error.empty()) return done({400, error_json("invalid_functions_from", read.error)});
  }
  const std::string id = build.id;
  const std::string app_name(app);
  verify_then_mutate(
      app_name, [build](routing::AppRegistry& r) { return routing::register_build(r, build, now_ms()); },
      [this, id, app_name]() -> json {
        for (const routing::App& live : snapshot_->apps())
          if (live.name == app_name)
            if (const routing::Build* b = live.find_build(id)) return {{"app", app_name}, {"build", build_json(live, *b)}};
        return {{"app", app_name}, {"build", {{"id", id}, {"state", "retained"}, {"healthy", true}}}};
      },
      verify ? id : std::string(), std::move(done));
}

// Promote and rollback both move `current`; both answer with the new
// current and the one it replaced.
ControlPlane::ApiResult ControlPlane::change_current(std::string_view app, const RegistryOp& op) {
  std::string previous;
  const std::string app_name(app);
  return mutate(
      app,
      [&](routing::AppRegistry& r) {
        previous = r.current;
        return op(r);
      },
      [&]() -> json {
        return {{"app", app_name}, {"current", registry_[app_name].current},
                {"previous", previous.empty() ? json(nullptr) : json(previous)}};
      });
}

void ControlPlane::promote(std::string_view app, std::string_view build, const json& body, Done done) {
  bool verify = true;
  if (!body.is_null() && !body.is_object())
    return done({400, error_json("invalid_body", R"(expected {} or {"verify": false})")});
  if (!read_verify(body, verify)) return done({400, error_json("invalid_body", "verify: expected true or false")});
  // The answer names the build it replaced: kept across the probe.
  auto previous = std::make_shared<std::string>();
  const std::string app_name(app), id(build);
  verify_then_mutate(
      app_name,
      [previous, id](routing::AppRegistry& r) {
        *previous = r.current;
        return routing::promote(r, id);
      },
      [this, app_name, previous]() -> json {
        return {{"app", app_name}, {"current", registry_[app_name].current},
                {"previous", previous->empty() ? json(nullptr) : json(*previous)}};
      },
      verify ? id : std::string(), std::move(done));
}

ControlPlane::ApiResult ControlPlane::rollback(std::string_view app) {
  return change_current(app, [](routing::AppRegistry& r) { return routing::rollback(r); });
}

ControlPlane::ApiResult ControlPlane::retire(std::string_view app, std::string_view build) {
  const std::string app_name(app), id(build);
  return mutate(
      app, [&](routing::AppRegistry& r) { return routing::retire(r, build); },
      [&]() -> json { return {{"app", app_name}, {"build", id}, {"state", "retired"}}; });
}

// The signed preview link (design.md section 7): opening it pins that browser
// to the preview build. Sealed like a pin, as another kind, so neither opens
// as the other.
constexpr std::int64_t kPreviewLinkTtlSeconds = 24 * 60 * 60;

ControlPlane::ApiResult ControlPlane::preview(std::string_view app, std::string_view build) {
  const std::string app_name(app), id(build);
  auto answer = [this, app_name, id]() -> json {
    json out = {{"app", app_name}, {"build", id}, {"state", "preview"}};
    if (keyring_ == nullptr || !keyring_->ok()) return out;
    const std::int64_t now_s = now_ms() / 1000;
    const std::int64_t expires_s = now_s + kPreviewLinkTtlSeconds;
    const std::string token = keyring_->seal({app_name, id, now_s, expires_s, skew::Pin::Kind::preview});
    if (token.empty()) return out;
    out["preview_url"] = "/?" + std::string(skew::kPreviewParam) + "=" + token;
    out["expires_at"] = iso_time(expires_s * 1000);
    return out;
  };
  // registry: config: the YAML says `state: preview`; the API only mints
  // the link for such a build.
  const conf::AppConfig* config_app = file_app(app);
  if (config_app && config_app->registry == conf::RegistrySource::config) {
    for (const routing::App& live : snapshot_->apps()) {
      if (live.name != app) continue;
      const routing::Build* b = live.find_build(build);
      if (b == nullptr) return {404, error_json("build_not_found", "no build '" + id + "' in app '" + app_name + "'")};
      if (b->state != conf::BuildState::preview)
        return {409, error_json("registry_is_config",
                                "build '" + id + "' is not `state: preview` in the config file; set it there and reload")};
      return {200, answer()};
    }
  }
  return mutate(
      app, [&](routing::AppRegistry& r) { return routing::make_preview(r, build); }, answer);
}

metrics::ControlFacts ControlPlane::metric_facts() const {
  metrics::ControlFacts facts;
  if (snapshot_) {
    for (const routing::App& app : snapshot_->apps()) {
      for (const routing::Build& build : app.builds) {
        facts.builds.push_back(
            {app.name, build.id, conf::to_string(build.state), build.healthy, build.superseded_at_ms});
        // Only builds with a host name among their upstreams have the series.
        const conf::BuildConfig* configured = config_build(app.name, build.id);
        if (configured && !names_in(configured->upstreams).empty()) {
          const auto failures = dns_failures_.find(routing::runtime_key(app.name, build.id));
          facts.builds.back().dns_failures = failures == dns_failures_.end() ? 0 : failures->second;
        }
      }
    }
  }
  if (server_) facts.listeners = server_->listener_names();
  facts.config_reloads = config_reloads_;
  return facts;
}

void ControlPlane::reload_api(Done done) {
  reload([this, done = std::move(done)](const ReloadOutcome& outcome) {
    if (outcome.ok) {
      done({200, {{"reloaded", true}, {"generation", generation_}}});
      return;
    }
    if (!outcome.mismatches.empty()) {
      json mismatches = json::array();
      for (const Mismatch& m : outcome.mismatches) mismatches.push_back(m.to_json());
      done({409,
            {{"error", "deployment_id_mismatch"},
             {"message", "the configuration was not reloaded: a build reports another deployment ID than the "
                         "file gives it; the running configuration stays"},
             {"errors", outcome.errors},
             {"mismatches", mismatches}}});
      return;
    }
    done({400,
          {{"error", "invalid_config"},
           {"message", "the configuration was not reloaded; the running configuration stays"},
           {"errors", outcome.errors}}});
  });
}

json ControlPlane::config_json() const { return config_to_json(config_); }

}  // namespace sg::gateway
