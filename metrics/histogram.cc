#include "metrics/histogram.h"

#include <algorithm>

namespace sg::metrics {

void Histogram::observe(double value) {
  // Prometheus buckets are inclusive upper bounds: `value <= le`.
  const auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[static_cast<std::size_t>(bucket)];
  ++count_;
  sum_ += value;
}

void Histogram::add(const Histogram& other) {
  const std::size_t n = std::min(counts_.size(), other.counts_.size());
  for (std::size_t i = 0; i < n; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
}

}  // namespace sg::metrics
