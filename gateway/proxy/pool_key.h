// A build's pool key (routing::Build::pool_key) with the hash the snapshot
// computed once (Build::pool_hash), kept next to it so neither a lookup nor
// a rehash hashes the text again: the upstream pools and the worker's
// last-request times are keyed by it, once or twice per request each
// (hashing the key cost about 85 instructions per lookup).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "routing/snapshot.h"

namespace sg::gateway {

struct PoolKey {
  std::string text;
  std::size_t hash;
};

struct PoolKeyRef {
  std::string_view text;
  std::size_t hash;
};

inline PoolKeyRef pool_key_of(const routing::Build& build) { return {build.pool_key, build.pool_hash}; }
inline PoolKey owned_pool_key(const routing::Build& build) { return {build.pool_key, build.pool_hash}; }

struct PoolKeyHash {
  using is_transparent = void;
  std::size_t operator()(const PoolKey& key) const { return key.hash; }
  std::size_t operator()(const PoolKeyRef& key) const { return key.hash; }
};

struct PoolKeyEqual {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::string_view(a.text) == std::string_view(b.text);
  }
};

}  // namespace sg::gateway
