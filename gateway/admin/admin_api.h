// The admin API's routes (design.md section 11): authentication, paths,
// JSON bodies, error shapes. Operations themselves are the control plane's.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "gateway/admin/admin_server.h"
#include "metrics/collector.h"

namespace sg::gateway {

class ControlPlane;

class AdminApi {
 public:
  // `token` empty: no authentication (allowed only on a loopback admin address).
  // `metrics` (optional) answers GET /metrics.
  AdminApi(ControlPlane& control, std::string token, const metrics::Collector* metrics = nullptr)
      : control_(control), token_(std::move(token)), metrics_(metrics) {}
  // `reply` runs exactly once: at once, or (register, promote, reload,
  // which probe builds first) later on the loop.
  using Reply = std::function<void(AdminResponse)>;
  void handle(const AdminRequest& request, Reply respond);

 private:
  // The answer when it is ready now; nullopt when `reply` was handed on.
  std::optional<AdminResponse> route(const AdminRequest& request, Reply& respond);
  bool authorized(const AdminRequest& request) const;
  AdminResponse metrics_text(const AdminRequest& request) const;
  ControlPlane& control_;
  std::string token_;
  const metrics::Collector* metrics_;
};

// The admin token: env SKEWGATE_ADMIN_TOKEN, else the first line of
// `token_file`. False with `error` when the file cannot be read or is empty.
bool read_admin_token(const std::string& token_file, std::string& token, std::string& error);

}  // namespace sg::gateway
