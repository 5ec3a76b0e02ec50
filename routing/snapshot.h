// The immutable routing view of one configuration: apps with their builds,
// precomputed for lookup. Shared (shared_ptr to const) by every worker; a
// request keeps the snapshot it started with until it ends.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.h"

namespace sg::routing {

struct Build {
  std::string id;  // deployment ID
  conf::BuildState state = conf::BuildState::retained;
  bool healthy = true;
  std::vector<conf::SocketAddress> upstreams;
  // Stable across snapshots for the same (app, build id, upstreams): the
  // gateway keys its upstream pools by it so a reload keeps warm connections.
  std::string pool_key;
};

struct App {
  std::string name;
  const conf::AppConfig* config = nullptr;  // points into Snapshot::config()
  std::vector<Build> builds;                // config order
  const Build* current = nullptr;           // never null after Snapshot::create succeeds

  const Build* find_build(std::string_view id) const;  // nullptr when unknown
};

class Snapshot {
 public:
  // Validates what YAML alone cannot (current names a build, ids unique,
  // hosts unique across apps); on failure returns nullptr and fills `errors`.
  static std::shared_ptr<const Snapshot> create(conf::Config config, std::vector<std::string>& errors,
                                                std::uint64_t generation = 0);

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
  std::unordered_map<std::string, const App*> exact_hosts_;
  std::vector<std::pair<std::string, const App*>> wildcard_suffixes_;  // ".shop.example.com", longest first
  const App* default_app_ = nullptr;
  std::uint64_t generation_ = 0;
};

}  // namespace sg::routing
