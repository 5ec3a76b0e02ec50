// What one worker counts, in plain fields owned by its loop thread (no locks
// or atomics on the request path: STYLE.md rule 6). The worker publishes a
// copy to the StatsBoard once a second; a scrape adds the copies up.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/histogram.h"
#include "metrics/labels.h"

namespace sg::metrics {

template <std::size_t A, std::size_t B>
using Grid = std::array<std::array<std::uint64_t, B>, A>;

// One (app, served build) pair; the build "none" holds requests skewgate
// answered itself.
struct BuildSeries {
  Grid<kKinds.size(), kOutcomes.size()> requests{};
  Histogram upstream_duration{kDurationBucketsSeconds};
  std::array<std::uint64_t, kUpstreamErrors.size()> upstream_errors{};

  void add(const BuildSeries& other);
};

struct AppSeries {
  Grid<kKinds.size(), kClientBuildStates.size()> skewed{};
  Grid<kKinds.size(), kReloadReasons.size()> reload_required{};
  std::vector<Histogram> client_build_age = std::vector<Histogram>(kKinds.size(), Histogram(kAgeBucketsSeconds));
  std::array<std::uint64_t, kPinResults.size()> pins{};
  // [kFrameworkKinds index][kFrameworks index][kOutcomes index]
  std::array<Grid<kFrameworks.size(), kOutcomes.size()>, kFrameworkKinds.size()> by_framework{};
  std::map<std::string, BuildSeries, std::less<>> builds;  // by build ID

  BuildSeries& build(std::string_view id);
  void add(const AppSeries& other);
};

// One finished request, as the metrics see it. Indices are into the lists
// of metrics/labels.h.
struct RequestSample {
  std::string_view app;    // "" when no app matched
  std::string_view build;  // the served build; "" when skewgate answered
  std::size_t kind = 0;
  std::size_t outcome = 0;
  std::optional<std::size_t> client_build_state;  // set for stale requests only
  std::optional<std::size_t> reload_reason;       // set for reload-required answers
  std::optional<double> client_build_age_s;       // since the client's build was superseded
  std::optional<std::size_t> pin_result;          // the request's pin cookie, checked
  bool pin_issued = false;                        // the response sets a new pin
  std::optional<std::size_t> framework_kind;      // kFrameworkKinds index: set for actions and rsc only
  std::size_t framework = 0;                      // kFrameworks index (with framework_kind)
  std::optional<double> upstream_duration_s;      // when an upstream answered
};

struct WorkerStats {
  std::map<std::string, AppSeries, std::less<>> apps;  // by app name
  std::array<std::uint64_t, kRejectReasons.size()> rejected{};
  std::array<std::uint64_t, kTlsHandshakeErrors.size()> tls_handshake_errors{};
  std::array<std::uint64_t, kHttp2Errors.size()> http2_errors{};
  std::map<std::string, std::int64_t, std::less<>> downstream_connections;  // open now, by listener
  // Labelled by worker at the scrape (StatsBoard::connections_accepted), so
  // SO_REUSEPORT's spread across workers can be read from /metrics.
  std::uint64_t connections_accepted = 0;

  AppSeries& app(std::string_view name);
  void record(const RequestSample& sample);
  void record_upstream_error(std::string_view app, std::string_view build, std::size_t reason);
  void add(const WorkerStats& other);
};

}  // namespace sg::metrics
