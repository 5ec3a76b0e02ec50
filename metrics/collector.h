// The scrape: a prometheus::Collectable that adds up every worker's published
// stats and the control plane's facts into the metric families of design.md
// section 10, rendered with prometheus-cpp's text serializer.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "metrics/labels.h"
#include "metrics/stats_board.h"

namespace sg::metrics {

// One registered build, as the running snapshot has it.
struct BuildFacts {
  std::string app;
  std::string build;
  std::string state;  // current, retained, preview, retired
  bool healthy = true;
  std::int64_t superseded_at_ms = 0;  // 0: never superseded
  // Failed lookups of the build's upstream host names; absent for a build
  // that has none (no series).
  std::optional<std::uint64_t> dns_failures;
};

// What the main thread knows: the registry and its own counters.
struct ControlFacts {
  std::vector<BuildFacts> builds;
  std::vector<std::string> listeners;  // addresses, for connection gauges at 0
  std::array<std::uint64_t, kReloadResults.size()> config_reloads{};
};

class Collector final : public prometheus::Collectable {
 public:
  Collector(const StatsBoard& board, std::function<ControlFacts()> control)
      : board_(board), control_(std::move(control)) {}

  // Every registered app and build has its series from the start (at 0), so
  // rate() sees the first increment and the series set does not depend on
  // traffic.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const StatsBoard& board_;
  std::function<ControlFacts()> control_;
};

// The Prometheus text exposition format (version 0.0.4).
inline constexpr const char* kTextContentType = "text/plain; version=0.0.4; charset=utf-8";
std::string serialize_text(const std::vector<prometheus::MetricFamily>& families);

}  // namespace sg::metrics
