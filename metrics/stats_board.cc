#include "metrics/stats_board.h"

namespace sg::metrics {

StatsBoard::StatsBoard(unsigned workers) {
  for (unsigned i = 0; i < workers; ++i) slots_.push_back(std::make_unique<Slot>());
}

void StatsBoard::publish(unsigned worker, const WorkerStats& stats) {
  if (worker >= slots_.size()) return;
  Slot& slot = *slots_[worker];
  std::lock_guard lock(slot.mutex);
  slot.stats = stats;
}

WorkerStats StatsBoard::sum() const {
  WorkerStats total;
  for (const auto& slot : slots_) {
    std::lock_guard lock(slot->mutex);
    total.add(slot->stats);
  }
  return total;
}

std::vector<std::uint64_t> StatsBoard::connections_accepted() const {
  std::vector<std::uint64_t> out;
  out.reserve(slots_.size());
  for (const auto& slot : slots_) {
    std::lock_guard lock(slot->mutex);
    out.push_back(slot->stats.connections_accepted);
  }
  return out;
}

}  // namespace sg::metrics
