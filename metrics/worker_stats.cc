#include "metrics/worker_stats.h"

namespace sg::metrics {
namespace {

template <typename Map>
typename Map::mapped_type& find_or_add(Map& map, std::string_view key) {
  if (auto it = map.find(key); it != map.end()) return it->second;
  return map.try_emplace(std::string(key)).first->second;
}

std::string_view or_none(std::string_view name) { return name.empty() ? kNone : name; }

template <std::size_t A, std::size_t B>
void add_grid(Grid<A, B>& into, const Grid<A, B>& from) {
  for (std::size_t a = 0; a < A; ++a)
    for (std::size_t b = 0; b < B; ++b) into[a][b] += from[a][b];
}

template <std::size_t N>
void add_row(std::array<std::uint64_t, N>& into, const std::array<std::uint64_t, N>& from) {
  for (std::size_t i = 0; i < N; ++i) into[i] += from[i];
}

}  // namespace

void BuildSeries::add(const BuildSeries& other) {
  add_grid(requests, other.requests);
  upstream_duration.add(other.upstream_duration);
  add_row(upstream_errors, other.upstream_errors);
}

BuildSeries& AppSeries::build(std::string_view id) { return find_or_add(builds, or_none(id)); }

void AppSeries::add(const AppSeries& other) {
  add_grid(skewed, other.skewed);
  add_grid(reload_required, other.reload_required);
  for (std::size_t k = 0; k < client_build_age.size(); ++k) client_build_age[k].add(other.client_build_age[k]);
  add_row(pins, other.pins);
  for (std::size_t k = 0; k < by_framework.size(); ++k) add_grid(by_framework[k], other.by_framework[k]);
  for (const auto& [id, series] : other.builds) build(id).add(series);
}

AppSeries& WorkerStats::app(std::string_view name) { return find_or_add(apps, or_none(name)); }

void WorkerStats::record(const RequestSample& s) {
  AppSeries& app_series = app(s.app);
  BuildSeries& build_series = app_series.build(s.build);
  ++build_series.requests[s.kind][s.outcome];
  if (s.upstream_duration_s) build_series.upstream_duration.observe(*s.upstream_duration_s);
  if (s.client_build_state) ++app_series.skewed[s.kind][*s.client_build_state];
  if (s.reload_reason) ++app_series.reload_required[s.kind][*s.reload_reason];
  if (s.client_build_age_s) app_series.client_build_age[s.kind].observe(*s.client_build_age_s);
  if (s.pin_result) ++app_series.pins[*s.pin_result];
  if (s.pin_issued) ++app_series.pins[kPinIssued];
  if (s.framework_kind) ++app_series.by_framework[*s.framework_kind][s.framework][s.outcome];
}

void WorkerStats::record_upstream_error(std::string_view app_name, std::string_view build, std::size_t reason) {
  ++app(app_name).build(build).upstream_errors[reason];
}

void WorkerStats::add(const WorkerStats& other) {
  for (const auto& [name, series] : other.apps) app(name).add(series);
  add_row(rejected, other.rejected);
  add_row(tls_handshake_errors, other.tls_handshake_errors);
  add_row(http2_errors, other.http2_errors);
  for (const auto& [listener, open] : other.downstream_connections) downstream_connections[listener] += open;
  connections_accepted += other.connections_accepted;
}

}  // namespace sg::metrics
