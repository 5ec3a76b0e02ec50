// The main thread's owner of the running configuration: it turns the YAML
// plus what the gateway learned at run time (health, supersede times,
// retention, last requests) into immutable snapshots and hands each new one to
// every worker. Product rules stay in skew/; this only gathers facts, calls
// them, and persists the results in state_dir.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "gateway/health_checker.h"
#include "gateway/runtime_reports.h"
#include "gateway/state_store.h"
#include "routing/snapshot.h"

namespace sg::gateway {

class Server;

class ControlPlane {
 public:
  // `config_path` empty: the embedded default (nothing to reload).
  ControlPlane(uv_loop_t* loop, std::string config_path);
  ~ControlPlane();

  // Loads the configuration and state_dir; prints nothing. False with every
  // error in `errors`.
  bool load(std::vector<std::string>& errors);
  std::shared_ptr<const routing::Snapshot> snapshot() const { return snapshot_; }
  RuntimeReports& reports() { return reports_; }

  // Starts health checks and the retention timer; new snapshots go to `server`.
  void attach(Server& server);
  // SIGHUP: re-read the file. On any error the running configuration stays.
  bool reload(std::vector<std::string>& errors);
  void stop();

  // Wall clock in unix ms; tests may pin it.
  static std::int64_t now_ms();

 private:
  static void on_tick(uv_timer_t* timer);
  static void on_reports(uv_async_t* async);
  bool rebuild(conf::Config config, std::vector<std::string>& errors);
  void track_supersedes(const conf::Config& config);
  void apply_reports();
  bool apply_retention();
  void on_health_change(const std::string& build_key, bool healthy);
  void persist();
  void publish();
  routing::RuntimeState runtime_state() const;

  uv_loop_t* loop_;
  std::string config_path_;
  conf::Config config_;
  std::shared_ptr<const routing::Snapshot> snapshot_;
  std::uint64_t generation_ = 0;
  Server* server_ = nullptr;
  RuntimeReports reports_;
  HealthChecker health_;
  PersistedState state_;
  PersistedState saved_state_;
  std::map<std::string, bool> active_unhealthy_;       // by build key, from active checks
  std::map<std::string, std::int64_t> ejected_until_;  // by build key, passive ejection
  std::map<std::string, std::vector<std::int64_t>> recent_failures_;
  uv_timer_t tick_;
  uv_async_t reports_async_;
  int ticks_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace sg::gateway
