#include "metrics/worker_stats.h"

namespace sg::metrics {

void accumulate(WorkerStats& total, const WorkerStats& other) {
  total.downstream_connections += other.downstream_connections;
  total.requests += other.requests;
  total.rejected_requests += other.rejected_requests;
  total.upstream_errors += other.upstream_errors;
}

}  // namespace sg::metrics
