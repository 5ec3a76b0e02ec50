// The main thread's owner of the running configuration: it turns the YAML
// plus what the gateway learned at run time (health, supersede times,
// retention, last requests) into immutable snapshots and hands each new one to
// every worker. Product rules stay in skew/; this only gathers facts, calls
// them, and persists the results in state_dir.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/manifest.h"
#include "gateway/health_checker.h"
#include "gateway/runtime_reports.h"
#include "gateway/state_store.h"
#include "metrics/collector.h"
#include "routing/registry.h"
#include "routing/snapshot.h"
#include "skew/pin.h"
#include <nlohmann/json.hpp>

namespace sg::gateway {

class Server;

class ControlPlane {
 public:
  // `config_path` empty: the embedded default (nothing to reload).
  ControlPlane(uv_loop_t* loop, std::string config_path);
  ~ControlPlane();

  // Start-up in two steps, so that a restart with socket hand-over reads
  // state_dir only once the predecessor has stopped writing it (handover.h):
  // load_config() reads the YAML alone (enough to find state_dir);
  // load_state() reads registry.json and state.json and makes the first
  // snapshot. Both print nothing but warnings; false with every error in
  // `errors`.
  bool load_config(std::vector<std::string>& errors);
  bool load_state(std::vector<std::string>& errors);
  // The configuration file as read (valid after load_config()).
  const conf::Config& file_config() const { return file_config_; }
  std::shared_ptr<const routing::Snapshot> snapshot() const { return snapshot_; }
  RuntimeReports& reports() { return reports_; }
  // The process's pin keyring (chosen once at start), for minting preview
  // links. Without one, preview() answers without a link.
  void set_pin_keyring(const skew::PinKeyring* keyring) { keyring_ = keyring; }

  // Starts health checks and the retention timer; new snapshots go to `server`.
  void attach(Server& server);
  // SIGHUP: re-read the file. On any error the running configuration stays.
  // Counted in skewgate_config_reloads_total{result}.
  bool reload(std::vector<std::string>& errors);
  void stop();

  // Wall clock in unix ms.
  static std::int64_t now_ms();

  // --- the admin API's operations (JSON in and out) ---
  struct ApiResult {
    int status = 200;
    nlohmann::json body;
  };
  ApiResult list_apps() const;
  ApiResult describe_app(std::string_view app) const;
  ApiResult register_build(std::string_view app, const nlohmann::json& body);
  ApiResult promote(std::string_view app, std::string_view build);
  ApiResult rollback(std::string_view app);
  ApiResult retire(std::string_view app, std::string_view build);
  ApiResult preview(std::string_view app, std::string_view build);
  ApiResult reload_api();
  nlohmann::json config_json() const;
  // The registry and the reload counters, for /metrics.
  metrics::ControlFacts metric_facts() const;
  bool ready() const { return started_ && !draining_; }
  bool draining() const { return draining_; }
  void set_draining() { draining_ = true; }
  // A successor asked to take over: write the state now and nothing more
  // (registry.json included: mutations are refused) until it is ready, from
  // then on it owns the files. If it goes away before it is ready,
  // abort_handover() makes this process the owner again.
  void begin_handover();
  void abort_handover();
  bool handing_over() const { return handed_over_; }

 private:
  static void on_tick(uv_timer_t* timer);
  static void on_reports(uv_async_t* async);
  static void on_watch_event(uv_fs_event_t* handle, const char* filename, int events, int status);
  static void on_watch_settled(uv_timer_t* timer);
  void start_watch();
  std::size_t config_file_hash() const;
  void report_static_changes(const conf::Config& next) const;
  bool reload_file(std::vector<std::string>& errors);
  bool rebuild(conf::Config config, std::vector<std::string>& errors);
  bool load_registry(const std::string& state_dir, std::string& error);
  // The YAML with every `registry: api` app's builds taken from the registry.
  conf::Config effective_config(const conf::Config& file, const routing::Registry& registry) const;
  using RegistryOp = std::function<routing::OpResult(routing::AppRegistry&)>;
  ApiResult mutate(std::string_view app, const RegistryOp& op, const std::function<nlohmann::json()>& answer);
  ApiResult change_current(std::string_view app, const RegistryOp& op);
  nlohmann::json build_json(const routing::App& app, const routing::Build& build) const;
  const conf::AppConfig* file_app(std::string_view name) const;
  void track_supersedes(const conf::Config& config);
  void apply_reports();
  bool apply_retention();
  void on_health_change(const std::string& build_key, bool healthy);
  void persist();
  void publish();
  routing::RuntimeState runtime_state() const;

  uv_loop_t* loop_;
  std::string config_path_;
  conf::Config file_config_;  // as read from the YAML
  conf::Config config_;       // effective: file plus registry
  routing::Registry registry_;
  // Manifests of `registry: api` builds, read again only when their file
  // changes (effective_config runs on every registry change).
  mutable conf::ManifestCache manifests_;
  std::shared_ptr<const routing::Snapshot> snapshot_;
  std::uint64_t generation_ = 0;
  Server* server_ = nullptr;
  const skew::PinKeyring* keyring_ = nullptr;
  RuntimeReports reports_;
  HealthChecker health_;
  PersistedState state_;
  PersistedState saved_state_;
  std::map<std::string, bool> active_unhealthy_;       // by build key, from active checks
  std::map<std::string, std::int64_t> ejected_until_;  // by build key, passive ejection
  std::map<std::string, std::vector<std::int64_t>> recent_failures_;
  uv_timer_t tick_;
  uv_async_t reports_async_;
  // watch: true: the config file's directory is watched (a plain edit, or
  // the ..data symlink swap by which Kubernetes updates a ConfigMap volume).
  uv_fs_event_t watch_;
  uv_timer_t watch_settle_;
  bool watching_ = false;
  std::size_t loaded_hash_ = 0;
  int ticks_ = 0;
  std::array<std::uint64_t, metrics::kReloadResults.size()> config_reloads_{};  // success, failure
  bool draining_ = false;
  bool handed_over_ = false;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace sg::gateway
