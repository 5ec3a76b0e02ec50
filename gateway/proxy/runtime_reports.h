// What workers tell the control plane: connect failures (passive health
// ejection) and, once a second, when each build last served a request
// (retention's keep_while_active). Thread-safe; never touched per request:
// workers batch locally and hand over at most once a second or on a failure.
#pragma once

#include <uv.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sg::gateway {

class RuntimeReports {
 public:
  // The control plane's async handle, woken on a connect failure.
  void set_notifier(uv_async_t* async);

  void connect_failure(const std::string& pool_key);
  // Merges the newest times (unix ms) per build pool key.
  void last_requests(const std::unordered_map<std::string, std::int64_t>& batch);

  struct Drained {
    std::vector<std::string> connect_failures;
    std::unordered_map<std::string, std::int64_t> last_requests;
  };
  Drained drain();

 private:
  std::mutex mutex_;
  uv_async_t* notifier_ = nullptr;
  Drained pending_;
};

}  // namespace sg::gateway
