// Where workers publish their counts for the scrape. Each worker copies its
// WorkerStats into its own slot once a second (and when it stops), so the
// request path never takes a lock; a scrape adds the slots up. A scrape's
// numbers are at most one publish interval old, as Envoy's flushed stats are.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "metrics/worker_stats.h"

namespace sg::metrics {

class StatsBoard {
 public:
  explicit StatsBoard(unsigned workers);

  // Thread-safe; `worker` < the count given at construction.
  void publish(unsigned worker, const WorkerStats& stats);
  WorkerStats sum() const;
  // Each worker's count of accepted connections, by worker index.
  std::vector<std::uint64_t> connections_accepted() const;

 private:
  struct Slot {
    mutable std::mutex mutex;
    WorkerStats stats;
  };
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace sg::metrics
