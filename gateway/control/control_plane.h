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
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/function_dir.h"
#include "conf/manifest.h"
#include "conf/overrides.h"
#include "gateway/control/build_verifier.h"
#include "gateway/control/dns_resolver.h"
#include "gateway/control/health_checker.h"
#include "gateway/control/state_store.h"
#include "gateway/net/tls_context.h"
#include "gateway/net/tls_ticket_keys.h"
#include "gateway/proxy/runtime_reports.h"
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
  // `overrides` (the command line's --listen, --admin-listen, --state-dir)
  // are laid over every load of the file, reloads included.
  ControlPlane(uv_loop_t* loop, std::string config_path, conf::ProcessOverrides overrides = {});
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
  // The listeners' TLS contexts of the running config (valid after
  // load_config(); a reload that fails to read a certificate keeps them).
  std::shared_ptr<const TlsContexts> tls() const { return tls_; }
  RuntimeReports& reports() { return reports_; }
  // The process's pin keyring (chosen once at start), for minting preview
  // links. Without one, preview() answers without a link.
  void set_pin_keyring(const skew::PinKeyring* keyring) { keyring_ = keyring; }

  // After load_config(), before anything serves: probes the file's builds
  // (build_verifier.h). `done` runs once every probe has answered; start-up
  // runs the loop until then and exits on a mismatch.
  void verify_at_start(BuildVerifier::Done done);
  // Tests and the fuzz target swap the probing verifier for their own.
  void set_verifier(std::unique_ptr<BuildVerifier> verifier) { verifier_ = std::move(verifier); }

  // Starts health checks and the retention timer; new snapshots go to `server`.
  void attach(Server& server);
  // SIGHUP, the file watch and POST /api/v1/reload: re-read the file, probe
  // its new builds, then apply it. On any error or mismatch the running
  // configuration stays. Reloads run one at a time; those asked for while
  // one runs share the next. Counted in skewgate_config_reloads_total{result}.
  struct ReloadOutcome {
    bool ok = false;
    std::vector<std::string> errors;   // every problem, one line each
    std::vector<Mismatch> mismatches;  // builds refused by verification
  };
  using ReloadDone = std::function<void(const ReloadOutcome&)>;
  void reload(ReloadDone done);
  void stop();

  // Wall clock in unix ms.
  static std::int64_t now_ms();

  // --- the admin API's operations (JSON in and out) ---
  struct ApiResult {
    int status = 200;
    nlohmann::json body;
  };
  // Register, promote and reload probe builds first: their answer comes
  // through `done`, on the loop, once the probes are done (at once when
  // nothing is probed). Nothing is written to state_dir before that.
  using Done = std::function<void(ApiResult)>;
  ApiResult list_apps() const;
  ApiResult describe_app(std::string_view app) const;
  // body: {"id", "upstreams", "manifest"?, "verify"?: false}
  void register_build(std::string_view app, const nlohmann::json& body, Done done);
  // body: {} or {"verify": false}
  void promote(std::string_view app, std::string_view build, const nlohmann::json& body, Done done);
  ApiResult rollback(std::string_view app);
  ApiResult retire(std::string_view app, std::string_view build);
  ApiResult preview(std::string_view app, std::string_view build);
  void reload_api(Done done);
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
  // watch: true also watches the directories of the certificate files.
  void update_certificate_watches();
  // The config file's bytes and the certificate and key files' identities
  // (device, inode, size, mtime: a key's content is never hashed), so a
  // replaced certificate counts as a change.
  std::size_t config_file_hash() const;
  std::size_t content_hash(std::size_t config_hash, const conf::Config& config) const;
  void report_static_changes(const conf::Config& next) const;
  using RegistryOp = std::function<routing::OpResult(routing::AppRegistry&)>;
  // A reload in two steps around the probes: the file read and checked
  // (nullopt with `errors`), then applied.
  struct LoadedFile {
    conf::Config config;
    std::shared_ptr<const TlsContexts> tls;
    std::size_t hash = 0;
  };
  std::optional<LoadedFile> load_reload_file(std::vector<std::string>& errors);
  bool apply_reload(LoadedFile loaded, std::vector<std::string>& errors);
  void start_reload();
  void finish_reload(std::vector<ReloadDone> waiters, ReloadOutcome outcome);
  void log_notes(const VerifyOutcome& outcome) const;
  // An API change that refuses before touching the registry (unknown app,
  // hand-over, registry: config), or nullopt.
  std::optional<ApiResult> refuse_change(std::string_view app) const;
  // Dry-runs `op`; when it would change the registry and `verify_build` is
  // set, probes that build first; then mutate().
  void verify_then_mutate(const std::string& app, RegistryOp op, std::function<nlohmann::json()> answer,
                          const std::string& verify_build, Done done);
  bool rebuild(conf::Config config, std::vector<std::string>& errors);
  // rebuild() in two steps, for a reload that changes sockets in between:
  // the snapshot is made (validated) before any socket changes, installed
  // and published after, so nothing can fail once the listeners moved.
  std::shared_ptr<const routing::Snapshot> make_snapshot(const conf::Config& config,
                                                         std::vector<std::string>& errors);
  void install(conf::Config config, std::shared_ptr<const routing::Snapshot> snapshot);
  bool load_registry(const std::string& state_dir, std::string& error);
  // The YAML with every `registry: api` app's builds taken from the registry.
  conf::Config effective_config(const conf::Config& file, const routing::Registry& registry) const;
  ApiResult mutate(std::string_view app, const RegistryOp& op, const std::function<nlohmann::json()>& answer);
  ApiResult change_current(std::string_view app, const RegistryOp& op);
  nlohmann::json build_json(const routing::App& app, const routing::Build& build) const;
  std::string functions_from_of(std::string_view app, std::string_view build) const;
  const conf::BuildConfig* config_build(std::string_view app, std::string_view build) const;
  void collect_function_ids(const conf::AppConfig& app, conf::BuildConfig& build) const;
  const conf::AppConfig* file_app(std::string_view name) const;
  void track_supersedes(const conf::Config& config);
  void apply_reports();
  bool apply_retention();
  void on_health_change(const std::string& build_key, bool healthy);
  // An answer for an upstream host name: a new address set is folded into a
  // new snapshot; the same set changes nothing; a failure keeps the last
  // good set and is counted per build (skewgate_dns_failures_total).
  void on_dns_answer(const std::string& name, const DnsAnswer& answer);
  // The names the running config uses are the ones kept fresh.
  void track_names();
  // Probes `targets` at their names' addresses once the targets' names and
  // `names` have had a first answer (a file's names resolve before it is
  // applied), then `done`.
  void verify_resolved(std::vector<VerifyTarget> targets, std::set<std::string> names, BuildVerifier::Done done);
  void persist();
  void publish();
  routing::RuntimeState runtime_state() const;

  uv_loop_t* loop_;
  std::string config_path_;
  conf::ProcessOverrides overrides_;
  conf::Config file_config_;  // as read from the YAML, overrides laid over
  conf::Config config_;       // effective: file plus registry
  routing::Registry registry_;
  // Manifests of `registry: api` builds, read again only when their file
  // changes (effective_config runs on every registry change).
  mutable conf::ManifestCache manifests_;
  // Likewise the client chunks of `functions_from` outDirs (react-server):
  // a re-walk stat()s, and reads only files that changed.
  mutable conf::FunctionIdsCache functions_;
  std::shared_ptr<const routing::Snapshot> snapshot_;
  // The process's ticket keys (made once, shared by every TLS context and
  // worker) and the running config's contexts.
  std::shared_ptr<TicketKeyRing> ticket_keys_;
  std::shared_ptr<const TlsContexts> tls_;
  std::uint64_t generation_ = 0;
  Server* server_ = nullptr;
  const skew::PinKeyring* keyring_ = nullptr;
  RuntimeReports reports_;
  HealthChecker health_;
  // Upstream host names: looked up on this (the control) loop, the last good
  // addresses of each, and failed lookups by build key (never reset: a
  // counter).
  DnsResolver dns_;
  routing::ResolvedNames resolved_;
  std::map<std::string, std::uint64_t> dns_failures_;
  std::set<std::string> dns_failing_;  // names whose last lookup failed (logged once per episode)
  std::unique_ptr<BuildVerifier> verifier_;
  bool reload_running_ = false;
  std::vector<ReloadDone> reload_waiters_;
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
  // Directories of certificate files outside the config's own, by path;
  // each handle is freed in its close callback.
  std::map<std::string, uv_fs_event_t*> certificate_watches_;
  std::set<std::string> watched_names_;  // base names a watch event may name
  std::size_t loaded_hash_ = 0;
  int ticks_ = 0;
  std::array<std::uint64_t, metrics::kReloadResults.size()> config_reloads_{};  // success, failure
  bool draining_ = false;
  bool handed_over_ = false;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace sg::gateway
