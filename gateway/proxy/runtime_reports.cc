#include "gateway/proxy/runtime_reports.h"

#include <algorithm>

namespace sg::gateway {

void RuntimeReports::set_notifier(uv_async_t* async) {
  std::lock_guard lock(mutex_);
  notifier_ = async;
}

void RuntimeReports::connect_failure(const std::string& pool_key) {
  std::lock_guard lock(mutex_);
  pending_.connect_failures.push_back(pool_key);
  if (notifier_) uv_async_send(notifier_);
}

void RuntimeReports::last_requests(const std::unordered_map<std::string, std::int64_t>& batch) {
  std::lock_guard lock(mutex_);
  for (const auto& [key, ms] : batch) {
    auto& slot = pending_.last_requests[key];
    slot = std::max(slot, ms);
  }
}

RuntimeReports::Drained RuntimeReports::drain() {
  std::lock_guard lock(mutex_);
  Drained out = std::move(pending_);
  pending_ = {};
  return out;
}

}  // namespace sg::gateway
