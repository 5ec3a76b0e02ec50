#include "metrics/collector.h"

#include <sstream>
#include <utility>

#include <prometheus/text_serializer.h>

namespace sg::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add_value(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  switch (f.type) {
    case MetricType::Counter: m.counter.value = value; break;
    case MetricType::Gauge: m.gauge.value = value; break;
    default: m.untyped.value = value; break;
  }
  f.metric.push_back(std::move(m));
}

void add_histogram(MetricFamily& f, Labels labels, const Histogram& h) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = h.count();
  m.histogram.sample_sum = h.sum();
  std::uint64_t cumulative = 0;
  const auto bounds = h.bounds();
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += h.counts()[i];
    m.histogram.bucket.push_back({cumulative, bounds[i]});
  }
  // The serializer writes the +Inf bucket from sample_count.
  f.metric.push_back(std::move(m));
}

Labels labels(std::initializer_list<std::pair<const char*, std::string_view>> pairs) {
  Labels out;
  out.reserve(pairs.size());
  for (const auto& [name, value] : pairs) out.push_back({name, std::string(value)});
  return out;
}

}  // namespace

std::vector<MetricFamily> Collector::Collect() const {
  const ControlFacts control = control_();
  WorkerStats total = board_.sum();
  for (const BuildFacts& b : control.builds) {
    AppSeries& app = total.app(b.app);
    app.build(b.build);
    app.build(kNone);
  }
  for (const std::string& listener : control.listeners) total.downstream_connections.try_emplace(listener, 0);

  auto requests = family("skewgate_requests_total",
                         "Requests by app, served build (none: answered by skewgate), kind and outcome.",
                         MetricType::Counter);
  auto skewed = family("skewgate_skewed_requests_total",
                       "Requests whose client build is not current, by the state of that build.", MetricType::Counter);
  auto reload = family("skewgate_reload_required_total",
                       "Requests answered with reload-required, by kind and reason.", MetricType::Counter);
  auto age = family("skewgate_client_build_age_seconds",
                    "Time since a stale request's client build was superseded.", MetricType::Histogram);
  auto pins = family("skewgate_pins_total", "Pin cookies issued, and received by the result of their check.",
                     MetricType::Counter);
  auto duration = family("skewgate_upstream_request_duration_seconds",
                         "Time from choosing an upstream (connect included) to the end of its response.",
                         MetricType::Histogram);
  auto frameworks = family("skewgate_framework_requests_total",
                           "Actions and RSC requests by the framework whose request shape they had (none: a no-JS "
                           "form post of an app with framework auto) and outcome.",
                           MetricType::Counter);
  auto errors = family("skewgate_upstream_errors_total", "Upstream failures by build and reason.",
                       MetricType::Counter);

  for (const auto& [app_name, app] : total.apps) {
    for (const auto& [build_name, build] : app.builds) {
      for (std::size_t k = 0; k < kKinds.size(); ++k)
        for (std::size_t o = 0; o < kOutcomes.size(); ++o)
          add_value(requests,
                    labels({{"app", app_name}, {"build", build_name}, {"kind", kKinds[k]}, {"outcome", kOutcomes[o]}}),
                    static_cast<double>(build.requests[k][o]));
      if (build_name == kNone) continue;  // no upstream was involved
      add_histogram(duration, labels({{"app", app_name}, {"build", build_name}}), build.upstream_duration);
      for (std::size_t r = 0; r < kUpstreamErrors.size(); ++r)
        add_value(errors, labels({{"app", app_name}, {"build", build_name}, {"reason", kUpstreamErrors[r]}}),
                  static_cast<double>(build.upstream_errors[r]));
    }
    for (std::size_t k = 0; k < kKinds.size(); ++k) {
      for (std::size_t s = 0; s < kClientBuildStates.size(); ++s)
        add_value(skewed, labels({{"app", app_name}, {"kind", kKinds[k]}, {"client_build_state", kClientBuildStates[s]}}),
                  static_cast<double>(app.skewed[k][s]));
      for (std::size_t r = 0; r < kReloadReasons.size(); ++r)
        add_value(reload, labels({{"app", app_name}, {"kind", kKinds[k]}, {"reason", kReloadReasons[r]}}),
                  static_cast<double>(app.reload_required[k][r]));
      add_histogram(age, labels({{"app", app_name}, {"kind", kKinds[k]}}), app.client_build_age[k]);
    }
    for (std::size_t k = 0; k < kFrameworkKinds.size(); ++k)
      for (std::size_t f = 0; f < kFrameworks.size(); ++f)
        for (std::size_t o = 0; o < kOutcomes.size(); ++o)
          add_value(frameworks,
                    labels({{"app", app_name}, {"framework", kFrameworks[f]}, {"kind", kFrameworkKinds[k]},
                            {"outcome", kOutcomes[o]}}),
                    static_cast<double>(app.by_framework[k][f][o]));
    for (std::size_t r = 0; r < kPinResults.size(); ++r)
      add_value(pins, labels({{"app", app_name}, {"result", kPinResults[r]}}), static_cast<double>(app.pins[r]));
  }

  auto dns_failures = family("skewgate_dns_failures_total",
                             "Failed lookups of a build's upstream host names (the last good addresses stay in use).",
                             MetricType::Counter);
  auto info = family("skewgate_build_info", "Registered builds: always 1, with state and health as labels.",
                     MetricType::Gauge);
  auto superseded = family("skewgate_build_superseded_timestamp_seconds",
                           "When a build stopped being current (unix seconds); absent for builds never superseded.",
                           MetricType::Gauge);
  for (const BuildFacts& b : control.builds) {
    if (b.dns_failures)
      add_value(dns_failures, labels({{"app", b.app}, {"build", b.build}}), static_cast<double>(*b.dns_failures));
    add_value(info,
              labels({{"app", b.app}, {"build", b.build}, {"state", b.state}, {"healthy", b.healthy ? "true" : "false"}}),
              1);
    if (b.superseded_at_ms > 0)
      add_value(superseded, labels({{"app", b.app}, {"build", b.build}}),
                static_cast<double>(b.superseded_at_ms) / 1000.0);
  }

  auto connections = family("skewgate_downstream_connections", "Open downstream connections by listener.",
                            MetricType::Gauge);
  for (const auto& [listener, open] : total.downstream_connections)
    add_value(connections, labels({{"listener", listener}}), static_cast<double>(open));
  auto accepted = family("skewgate_worker_connections_accepted_total",
                         "Downstream connections accepted, by worker (how SO_REUSEPORT spreads them).",
                         MetricType::Counter);
  const std::vector<std::uint64_t> accepted_by_worker = board_.connections_accepted();
  for (std::size_t w = 0; w < accepted_by_worker.size(); ++w)
    add_value(accepted, labels({{"worker", std::to_string(w)}}), static_cast<double>(accepted_by_worker[w]));
  auto rejected = family("skewgate_rejected_requests_total",
                         "Requests refused before routing (malformed, too large, too slow), by reason.",
                         MetricType::Counter);
  for (std::size_t r = 0; r < kRejectReasons.size(); ++r)
    add_value(rejected, labels({{"reason", kRejectReasons[r]}}), static_cast<double>(total.rejected[r]));
  auto tls_errors = family("skewgate_tls_handshake_errors_total",
                           "TLS handshakes that failed or timed out, by reason.", MetricType::Counter);
  for (std::size_t r = 0; r < kTlsHandshakeErrors.size(); ++r)
    add_value(tls_errors, labels({{"reason", kTlsHandshakeErrors[r]}}),
              static_cast<double>(total.tls_handshake_errors[r]));
  auto h2_errors = family("skewgate_http2_connection_errors_total",
                          "HTTP/2 connections ended for an attack or a protocol error (zero_window_timeout: the stream), by reason.",
                          MetricType::Counter);
  for (std::size_t r = 0; r < kHttp2Errors.size(); ++r)
    add_value(h2_errors, labels({{"reason", kHttp2Errors[r]}}), static_cast<double>(total.http2_errors[r]));
  auto reloads = family("skewgate_config_reloads_total", "Configuration reloads by result.", MetricType::Counter);
  for (std::size_t r = 0; r < kReloadResults.size(); ++r)
    add_value(reloads, labels({{"result", kReloadResults[r]}}), static_cast<double>(control.config_reloads[r]));

  std::vector<MetricFamily> out;
  for (MetricFamily* f : {&requests, &skewed, &reload, &frameworks, &age, &info, &superseded, &pins, &duration, &errors,
                          &connections, &accepted, &rejected, &tls_errors, &h2_errors, &reloads})
    out.push_back(std::move(*f));
  // Only when some build has an upstream host name.
  if (!dns_failures.metric.empty()) out.push_back(std::move(dns_failures));
  return out;
}

std::string serialize_text(const std::vector<MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return std::move(out).str();
}

}  // namespace sg::metrics
