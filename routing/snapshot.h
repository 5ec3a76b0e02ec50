// The immutable routing view of one configuration: apps with their builds,
// precomputed for lookup. Shared (shared_ptr to const) by every worker; a
// request keeps the snapshot it started with until it ends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "conf/config.h"

namespace sg::routing {

struct TransparentHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// What the running gateway knows of a build beyond its config: health,
// retention, supersede time. Kept by the gateway (persisted in state_dir) and
// folded into each new snapshot.
struct BuildRuntime {
  std::int64_t superseded_at_ms = 0;
  bool retired_by_retention = false;
  bool healthy = true;
};
// Keyed by app name + '\n' + build id (see runtime_key()).
using RuntimeState = std::unordered_map<std::string, BuildRuntime>;
std::string runtime_key(std::string_view app, std::string_view build);

// What the control plane's resolver (gateway/control/dns_resolver.h) last
// learned of each upstream host name: its addresses (port 0, sorted, no
// duplicates), keyed by the lower-case name. Runtime knowledge like
// BuildRuntime, folded into each new snapshot; a name that is absent has
// never resolved. No lookup happens in routing/.
using ResolvedNames = std::map<std::string, std::vector<conf::SocketAddress>, std::less<>>;

// A build's configured upstreams with each `name:port` replaced by its
// resolved addresses on that port (config order; a name's addresses in
// sorted order; an address listed twice is kept once). A name that has not
// resolved contributes nothing; `unresolved` (optional) counts such names.
std::vector<conf::SocketAddress> resolve_upstreams(const std::vector<conf::SocketAddress>& configured,
                                                   const ResolvedNames* resolved, std::size_t* unresolved = nullptr);

// Why a build is retired: written in the config / retired through the admin
// API (the kill switch), or by retention.
enum class RetiredBy { none, kill_switch, retention };

struct Build {
  std::string id;  // deployment ID
  conf::BuildState state = conf::BuildState::retained;
  RetiredBy retired_by = RetiredBy::none;
  bool healthy = true;
  std::int64_t superseded_at_ms = 0;  // unix ms when it stopped being current; 0 = never / unknown
  // Action IDs from the build's server-reference-manifest.json (ids only),
  // or react-server function IDs from its client chunks (`ids_from` says which).
  bool has_manifest = false;
  conf::ActionIdSource ids_from = conf::ActionIdSource::none;
  std::unordered_set<std::string, TransparentHash, std::equal_to<>> action_ids;
  // Numeric and unix: addresses only: the configured ones with every host
  // name replaced by what it resolved to (resolve_upstreams). Empty when the
  // build's only upstreams are names that never resolved; such a build is
  // unhealthy. The configured spelling stays in config().
  std::vector<conf::SocketAddress> upstreams;
  // Upstream host names of this build that have no address yet.
  std::size_t unresolved_names = 0;
  // Stable across snapshots for the same (app, build id, upstreams): the
  // gateway keys its upstream pools by it so a reload, or a re-resolve that
  // finds the same addresses, keeps warm connections.
  std::string pool_key;
  // std::hash<std::string_view> of pool_key, computed once with it: the
  // gateway looks its pools up by key several times per request.
  std::size_t pool_hash = 0;

  // A build that may serve the requests of its clients: current, or
  // retained and healthy (design.md section 7). Never preview (reachable
  // only through a signed pin), never retired. An unhealthy current build is
  // still kept: skew::decide answers 503 for it rather than look elsewhere.
  bool kept() const {
    return state == conf::BuildState::current || (state == conf::BuildState::retained && healthy);
  }
};

struct App {
  std::string name;
  const conf::AppConfig* config = nullptr;  // points into Snapshot::config()
  std::vector<Build> builds;                // config order
  const Build* current = nullptr;           // never null after Snapshot::create succeeds
  // Current first, then the others newest first (config lists builds oldest
  // first): the order in which action manifests are searched.
  std::vector<const Build*> newest_first;

  const Build* find_build(std::string_view id) const;  // nullptr when unknown
};

class Snapshot {
 public:
  // Apps and the host tables point into the snapshot itself: never copied.
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  // Validates what YAML alone cannot (current names a build, ids unique,
  // hosts unique across apps); on failure returns nullptr and fills `errors`.
  // `runtime` (optional) supplies health, supersede times and retention
  // decisions; a build it marks retired_by_retention gets state retired.
  // `resolved` (optional) supplies the addresses of upstream host names.
  static std::shared_ptr<const Snapshot> create(conf::Config config, std::vector<std::string>& errors,
                                                std::uint64_t generation = 0, const RuntimeState* runtime = nullptr,
                                                const ResolvedNames* resolved = nullptr);

  const conf::Config& config() const { return config_; }
  std::span<const App> apps() const { return apps_; }
  std::uint64_t generation() const { return generation_; }

  // Host header value (any case, optional ":port", optional trailing dot):
  // exact name, then the longest matching "*.suffix", then the default app.
  // nullptr only when no app is configured.
  const App* find_app(std::string_view host_header) const;

 private:
  Snapshot() = default;
  conf::Config config_;
  std::vector<App> apps_;
  // Transparent so find_app can look up a string_view without building a std::string.
  struct HostHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view host) const noexcept { return std::hash<std::string_view>{}(host); }
  };
  std::unordered_map<std::string, const App*, HostHash, std::equal_to<>> exact_hosts_;
  std::vector<std::pair<std::string, const App*>> wildcard_suffixes_;  // ".shop.example.com", longest first
  const App* default_app_ = nullptr;
  std::uint64_t generation_ = 0;
};

}  // namespace sg::routing
