// A fixed-bucket histogram as plain counts, owned by one worker thread and
// added up at scrape time. Buckets follow Prometheus: `le` upper bounds,
// plus +Inf; counts are kept per bucket and made cumulative on export.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace sg::metrics {

// Client build age: a minute to a month (retention's max_age defaults to 7d).
inline constexpr double kAgeBucketsSeconds[] = {60,     300,    900,    3600,    4 * 3600, 12 * 3600,
                                                86400,  3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400};
// Upstream request duration: Prometheus client defaults plus 30 s and 60 s
// (timeouts.upstream_response defaults to 60 s).
inline constexpr double kDurationBucketsSeconds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,     2.5,  5,     10,   30,  60};

class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds) : bounds_(bounds), counts_(bounds.size() + 1, 0) {}

  void observe(double value);
  // Adds `other` (same bounds) into this one.
  void add(const Histogram& other);

  std::span<const double> bounds() const { return bounds_; }
  // Per bucket, not cumulative; the last is +Inf.
  const std::vector<std::uint64_t>& counts() const { return counts_; }
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }

 private:
  std::span<const double> bounds_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace sg::metrics
