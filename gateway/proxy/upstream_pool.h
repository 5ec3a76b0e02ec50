// Per-worker keep-alive pools, one per build (keyed by Build::pool_key) and
// per upstream address, plus the round-robin cursor of each build.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "gateway/proxy/pool_key.h"
#include "routing/snapshot.h"

namespace sg::gateway {

class UpstreamConnection;
class Worker;

class UpstreamPool {
 public:
  explicit UpstreamPool(Worker& worker) : worker_(worker) {}

  // The build's upstream to try first for a new request (round robin); 0
  // for a build without upstreams (skew::decide never picks one: unhealthy).
  std::size_t next_upstream(const routing::Build& build);

  // An idle connection to build.upstreams[index], or nullptr.
  UpstreamConnection* take_idle(const routing::Build& build, std::size_t index);
  // A connection whose last response was read to the end; it is parked.
  void put_idle(const routing::Build& build, UpstreamConnection* connection, std::uint64_t idle_timeout_ms);
  // A parked connection closed itself (idle timeout, EOF).
  void forget(UpstreamConnection* connection);
  void close_all();
  // A new snapshot: pools whose key it no longer has (a build gone, or its
  // upstreams changed: a re-resolve that lost an address) close their idle
  // connections now rather than at upstream_idle, and a connection finishing
  // a request of an older snapshot for such a key is closed, not parked.
  // In-flight requests are untouched.
  void keep_only(const routing::Snapshot& snapshot);

 private:
  struct BuildPool {
    std::size_t cursor = 0;
    std::vector<std::vector<UpstreamConnection*>> idle;  // per upstream index
  };
  BuildPool& pool_for(const routing::Build& build);

  Worker& worker_;
  std::unordered_map<PoolKey, BuildPool, PoolKeyHash, PoolKeyEqual> pools_;
  std::unordered_set<PoolKey, PoolKeyHash, PoolKeyEqual> live_keys_;
  bool have_live_keys_ = false;
};

}  // namespace sg::gateway
