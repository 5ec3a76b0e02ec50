#include "gateway/proxy/upstream_pool.h"

#include <algorithm>

#include "gateway/proxy/upstream_connection.h"
#include "gateway/proxy/worker.h"

namespace sg::gateway {

UpstreamPool::BuildPool& UpstreamPool::pool_for(const routing::Build& build) {
  auto it = pools_.find(pool_key_of(build));
  if (it == pools_.end()) it = pools_.emplace(owned_pool_key(build), BuildPool{}).first;
  // Sized once: pool_key names every upstream address, so a key's count never
  // changes, and the lists never move under a parked connection's idle_list().
  if (it->second.idle.size() < build.upstreams.size()) it->second.idle.resize(build.upstreams.size());
  return it->second;
}

std::size_t UpstreamPool::next_upstream(const routing::Build& build) {
  BuildPool& pool = pool_for(build);
  if (build.upstreams.empty()) return 0;
  return pool.cursor++ % build.upstreams.size();
}

UpstreamConnection* UpstreamPool::take_idle(const routing::Build& build, std::size_t index) {
  BuildPool& pool = pool_for(build);
  auto& idle = pool.idle[index];
  while (!idle.empty()) {
    UpstreamConnection* c = idle.back();  // most recently used: warmest, least likely closed
    idle.pop_back();
    c->set_idle_list(nullptr);
    if (!c->closing()) return c;
  }
  return nullptr;
}

void UpstreamPool::put_idle(const routing::Build& build, UpstreamConnection* connection,
                            std::uint64_t idle_timeout_ms) {
  if (worker_.draining()) {  // nothing may keep a draining loop alive
    connection->close();
    return;
  }
  if (have_live_keys_ && !live_keys_.contains(pool_key_of(build))) {
    connection->close();  // its build or address left the running snapshot
    return;
  }
  BuildPool& pool = pool_for(build);
  auto& idle = pool.idle[connection->pool_slot()];
  idle.push_back(connection);
  connection->set_idle_list(&idle);
  connection->park(idle_timeout_ms);
}

void UpstreamPool::forget(UpstreamConnection* connection) {
  std::vector<UpstreamConnection*>* idle = connection->idle_list();
  if (idle == nullptr) return;
  idle->erase(std::remove(idle->begin(), idle->end(), connection), idle->end());
  connection->set_idle_list(nullptr);
}

void UpstreamPool::keep_only(const routing::Snapshot& snapshot) {
  live_keys_.clear();
  have_live_keys_ = true;
  for (const routing::App& app : snapshot.apps())
    for (const routing::Build& build : app.builds) live_keys_.insert(owned_pool_key(build));
  for (auto it = pools_.begin(); it != pools_.end();) {
    if (live_keys_.contains(it->first)) {
      ++it;
      continue;
    }
    std::vector<UpstreamConnection*> idle;
    for (const auto& slot : it->second.idle) idle.insert(idle.end(), slot.begin(), slot.end());
    for (UpstreamConnection* c : idle) c->close();  // close() calls forget()
    it = pools_.erase(it);
  }
}

void UpstreamPool::close_all() {
  std::vector<UpstreamConnection*> idle;
  for (const auto& [key, pool] : pools_)
    for (const auto& slot : pool.idle) idle.insert(idle.end(), slot.begin(), slot.end());
  for (UpstreamConnection* c : idle) c->close();  // close() calls forget()
}

}  // namespace sg::gateway
