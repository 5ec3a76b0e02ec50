// Per-worker keep-alive pools, one per build (keyed by Build::pool_key) and
// per upstream address, plus the round-robin cursor of each build.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

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
  // Pools are keyed by Build::pool_key with the hash the snapshot computed
  // once (Build::pool_hash), kept next to the key so a rehash needs no other.
  struct Key {
    std::string text;
    std::size_t hash;
  };
  struct KeyRef {
    std::string_view text;
    std::size_t hash;
  };
  static KeyRef key_of(const routing::Build& build) { return {build.pool_key, build.pool_hash}; }
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(const Key& key) const { return key.hash; }
    std::size_t operator()(const KeyRef& key) const { return key.hash; }
  };
  struct KeyEqual {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::string_view(a.text) == std::string_view(b.text);
    }
  };
  BuildPool& pool_for(const routing::Build& build);

  Worker& worker_;
  std::unordered_map<Key, BuildPool, KeyHash, KeyEqual> pools_;
  std::unordered_set<Key, KeyHash, KeyEqual> live_keys_;
  bool have_live_keys_ = false;
};

}  // namespace sg::gateway
