// Active health checks (design.md section 7): `GET health.path` on every
// upstream of every kept build, each `interval`; an upstream turns unhealthy
// after `fall` failed checks in a row and healthy again after `rise` passes.
// A build is healthy while any of its upstreams is. Runs on the main loop.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "routing/snapshot.h"

namespace sg::gateway {

class HealthProbe;

class HealthChecker {
 public:
  // Called with routing::runtime_key(app, build) when a build's health flips.
  using OnChange = std::function<void(const std::string& build_key, bool healthy)>;

  HealthChecker(uv_loop_t* loop, OnChange on_change);
  ~HealthChecker();

  // Probes follow the snapshot: new builds get probes, gone ones lose them;
  // an unchanged (build, upstream, settings) keeps its counters.
  void update(const routing::Snapshot& snapshot);
  void stop();
  bool has_checks(const std::string& build_key) const;
  // Some upstream of the build has passed a check since its probe started:
  // what a deploy waits for before promoting (routing stays optimistic).
  bool has_passed(const std::string& build_key) const;

  // Called by a probe when its upstream's health flips.
  void probe_changed(const std::string& build_key);

 private:
  uv_loop_t* loop_;
  OnChange on_change_;
  std::map<std::string, HealthProbe*> probes_;  // by build key + upstream + settings
  std::map<std::string, bool> build_health_;
};

}  // namespace sg::gateway
