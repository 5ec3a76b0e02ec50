// Per-worker counters: plain fields owned by one loop thread, summed at
// scrape time (design.md section 10). The Prometheus registry and exposition
// come with the metrics issue; the gateway already counts here.
#pragma once

#include <cstdint>

namespace sg::metrics {

struct WorkerStats {
  std::uint64_t downstream_connections = 0;  // open now
  std::uint64_t requests = 0;
  std::uint64_t rejected_requests = 0;
  std::uint64_t upstream_errors = 0;
};

// Adds `other` into `total` (the scrape's sum over workers).
void accumulate(WorkerStats& total, const WorkerStats& other);

}  // namespace sg::metrics
