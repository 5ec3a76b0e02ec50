// Metrics: per-worker counts, the scrape's sum over workers, histogram
// buckets, the exposition, and how a verdict maps onto label values.
#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "gateway/proxy/request_metrics.h"
#include "gateway/proxy/upstream_connection.h"
#include "metrics/collector.h"
#include "metrics/stats_board.h"
#include "routing/request_kind.h"
#include "skew/verdict.h"

using sg::metrics::BuildFacts;
using sg::metrics::Collector;
using sg::metrics::ControlFacts;
using sg::metrics::Histogram;
using sg::metrics::RequestSample;
using sg::metrics::StatsBoard;
using sg::metrics::WorkerStats;

namespace {

// The family's samples as "name{labels} value" lines of the exposition.
std::vector<std::string> lines_of(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t end = text.find('\n', i);
    std::string line = text.substr(i, end - i);
    if (line.starts_with(prefix)) out.push_back(line);
    i = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

RequestSample served(std::string_view app, std::string_view build, std::size_t kind) {
  RequestSample s;
  s.app = app;
  s.build = build;
  s.kind = kind;
  s.outcome = 0;  // served
  return s;
}

}  // namespace

TEST_CASE("histogram buckets are inclusive upper bounds, with +Inf last") {
  static constexpr double kBounds[] = {0.1, 1, 10};
  Histogram h(kBounds);
  for (double v : {0.0, 0.1, 0.5, 1.0, 1.5, 10.0, 11.0, 1e9}) h.observe(v);
  CHECK(h.counts() == std::vector<std::uint64_t>{2, 2, 2, 2});
  CHECK(h.count() == 8);
  CHECK(h.sum() == doctest::Approx(0.1 + 0.5 + 1 + 1.5 + 10 + 11 + 1e9));
  Histogram other(kBounds);
  other.observe(0.2);
  h.add(other);
  CHECK(h.counts() == std::vector<std::uint64_t>{2, 3, 2, 2});
  CHECK(h.count() == 9);
}

TEST_CASE("the scrape adds up every worker's published stats") {
  constexpr unsigned kWorkers = 4;
  constexpr int kRequests = 10000;
  StatsBoard board(kWorkers);
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&board, w] {
      WorkerStats stats;
      for (int i = 0; i < kRequests; ++i) {
        RequestSample s = served("shop", i % 2 ? "dpl-a" : "dpl-b", 2 /* rsc */);
        s.client_build_state = 0;
        s.client_build_age_s = 30.0 * (w + 1);
        s.upstream_duration_s = 0.003;
        stats.record(s);
        if (i % 100 == 0) board.publish(w, stats);  // as the worker's timer would, mid-way
      }
      stats.record_upstream_error("shop", "dpl-a", 1);
      ++stats.rejected[sg::metrics::reject_reason_index(sg::metrics::Reason::client_header_timeout)];
      stats.downstream_connections["127.0.0.1:8080"] = w;
      board.publish(w, stats);
    });
  }
  for (auto& t : threads) t.join();

  const WorkerStats total = board.sum();
  const auto& app = total.apps.at("shop");
  CHECK(app.builds.at("dpl-a").requests[2][0] == kWorkers * kRequests / 2);
  CHECK(app.builds.at("dpl-b").requests[2][0] == kWorkers * kRequests / 2);
  CHECK(app.skewed[2][0] == kWorkers * kRequests);
  CHECK(app.client_build_age[2].count() == kWorkers * kRequests);
  // Ages 30, 60, 90, 120 s: two workers' worth in le=60, two in le=300.
  CHECK(app.client_build_age[2].counts()[0] == 2 * kRequests);
  CHECK(app.client_build_age[2].counts()[1] == 2 * kRequests);
  CHECK(app.builds.at("dpl-a").upstream_duration.count() == kWorkers * kRequests / 2);
  CHECK(app.builds.at("dpl-a").upstream_errors[1] == kWorkers);
  CHECK(total.rejected[5] == kWorkers);  // "timeout"
  CHECK(total.downstream_connections.at("127.0.0.1:8080") == 0 + 1 + 2 + 3);
}

TEST_CASE("the exposition: every family of design.md section 10, zero series for registered builds") {
  StatsBoard board(2);
  WorkerStats w0, w1;
  RequestSample stale = served("shop", "", 1 /* action */);
  stale.outcome = 2;  // answered
  stale.client_build_state = 1;
  stale.reload_reason = 3;  // build_killed
  stale.client_build_age_s = 7200;
  stale.pin_result = 2;  // tampered
  stale.framework_kind = 0;  // action (issue 15)
  stale.framework = 2;       // react-server
  w0.record(stale);
  w1.record(stale);
    RequestSample doc = served("shop", "dpl-b", 4 /* document */);
  doc.pin_issued = true;
  doc.upstream_duration_s = 0.02;
  w1.record(doc);
  w0.connections_accepted = 5;
  w1.connections_accepted = 7;
  board.publish(0, w0);
  board.publish(1, w1);
  ControlFacts facts;
  facts.builds = {BuildFacts{"shop", "dpl-a", "retired", true, 1'700'000'000'000},
                  BuildFacts{"shop", "dpl-b", "current", false, 0}};
  facts.listeners = {"127.0.0.1:8080"};
  facts.config_reloads = {3, 1};
  const Collector collector(board, [&facts] { return facts; });
  const std::string text = sg::metrics::serialize_text(collector.Collect());

  for (const char* family :
       {"skewgate_requests_total counter", "skewgate_skewed_requests_total counter",
        "skewgate_reload_required_total counter", "skewgate_framework_requests_total counter",
        "skewgate_client_build_age_seconds histogram",
        "skewgate_build_info gauge", "skewgate_build_superseded_timestamp_seconds gauge",
        "skewgate_pins_total counter", "skewgate_upstream_request_duration_seconds histogram",
        "skewgate_upstream_errors_total counter", "skewgate_downstream_connections gauge",
        "skewgate_worker_connections_accepted_total counter", "skewgate_rejected_requests_total counter", "skewgate_tls_handshake_errors_total counter",
        "skewgate_http2_connection_errors_total counter", "skewgate_config_reloads_total counter"}) {
    CAPTURE(family);
    CHECK(text.find(std::string("# TYPE ") + family + "\n") != std::string::npos);
  }
  CHECK(has_line(text, R"(skewgate_requests_total{app="shop",build="none",kind="action",outcome="answered"} 2)"));
  CHECK(has_line(text, R"(skewgate_requests_total{app="shop",build="dpl-b",kind="document",outcome="served"} 1)"));
  // dpl-a served nothing, yet its series exist at 0 (rate() sees the first increment).
  CHECK(has_line(text, R"(skewgate_requests_total{app="shop",build="dpl-a",kind="rsc",outcome="served"} 0)"));
  CHECK(has_line(text, R"(skewgate_skewed_requests_total{app="shop",kind="action",client_build_state="retired"} 2)"));
  CHECK(has_line(text, R"(skewgate_reload_required_total{app="shop",kind="action",reason="build_killed"} 2)"));
  CHECK(has_line(text,
                 R"(skewgate_framework_requests_total{app="shop",framework="react-server",kind="action",outcome="answered"} 2)"));
  CHECK(has_line(text, R"(skewgate_framework_requests_total{app="shop",framework="next",kind="rsc",outcome="served"} 0)"));
  CHECK(has_line(text, R"(skewgate_framework_requests_total{app="shop",framework="none",kind="action",outcome="served"} 0)"));
  // Bounded: 3 frameworks x 2 kinds x 4 outcomes per app, whatever was sent.
  std::size_t framework_series = 0;
  for (std::size_t at = text.find("\nskewgate_framework_requests_total{"); at != std::string::npos;
       at = text.find("\nskewgate_framework_requests_total{", at + 1))
    ++framework_series;
  CHECK(framework_series == 3 * 2 * 4);
  CHECK(has_line(text, R"(skewgate_client_build_age_seconds_bucket{app="shop",kind="action",le="3600"} 0)"));
  CHECK(has_line(text, R"(skewgate_client_build_age_seconds_bucket{app="shop",kind="action",le="14400"} 2)"));
  CHECK(has_line(text, R"(skewgate_client_build_age_seconds_bucket{app="shop",kind="action",le="+Inf"} 2)"));
  CHECK(has_line(text, R"(skewgate_client_build_age_seconds_count{app="shop",kind="action"} 2)"));
  // Per worker, not summed: SO_REUSEPORT's spread.
  CHECK(has_line(text, R"(skewgate_worker_connections_accepted_total{worker="0"} 5)"));
  CHECK(has_line(text, R"(skewgate_worker_connections_accepted_total{worker="1"} 7)"));
  CHECK(lines_of(text, "skewgate_worker_connections_accepted_total{").size() == 2);
  CHECK(has_line(text, R"(skewgate_pins_total{app="shop",result="tampered"} 2)"));
  CHECK(has_line(text, R"(skewgate_pins_total{app="shop",result="issued"} 1)"));
  CHECK(has_line(text, R"(skewgate_build_info{app="shop",build="dpl-a",state="retired",healthy="true"} 1)"));
  CHECK(has_line(text, R"(skewgate_build_info{app="shop",build="dpl-b",state="current",healthy="false"} 1)"));
  CHECK(has_line(text, R"(skewgate_build_superseded_timestamp_seconds{app="shop",build="dpl-a"} 1700000000)"));
  CHECK(lines_of(text, "skewgate_build_superseded_timestamp_seconds{").size() == 1);
  CHECK(has_line(text, R"(skewgate_upstream_request_duration_seconds_bucket{app="shop",build="dpl-b",le="0.025"} 1)"));
  // No upstream is involved in a local answer: no latency or error series for "none".
  CHECK(text.find(R"(skewgate_upstream_request_duration_seconds_count{app="shop",build="none")") == std::string::npos);
  CHECK(text.find(R"(skewgate_upstream_errors_total{app="shop",build="none")") == std::string::npos);
  CHECK(has_line(text, R"(skewgate_downstream_connections{listener="127.0.0.1:8080"} 0)"));
  CHECK(has_line(text, R"(skewgate_config_reloads_total{result="success"} 3)"));
  CHECK(has_line(text, R"(skewgate_config_reloads_total{result="failure"} 1)"));
  CHECK(has_line(text, R"(skewgate_rejected_requests_total{reason="header_too_large"} 0)"));
  // Every reason is a series from the start, at 0.
  CHECK(has_line(text, R"(skewgate_tls_handshake_errors_total{reason="handshake_timeout"} 0)"));
  CHECK(has_line(text, R"(skewgate_tls_handshake_errors_total{reason="not_tls"} 0)"));
  CHECK(has_line(text, R"(skewgate_http2_connection_errors_total{reason="rapid_reset"} 0)"));
  CHECK(has_line(text, R"(skewgate_http2_connection_errors_total{reason="h2_protocol_error"} 0)"));
}

TEST_CASE("the series set depends on the registry, not on traffic") {
  StatsBoard board(1);
  ControlFacts facts;
  facts.builds = {BuildFacts{"shop", "dpl-a", "current", true, 0}};
  const Collector collector(board, [&facts] { return facts; });
  const std::size_t before = sg::metrics::serialize_text(collector.Collect()).size();
  WorkerStats stats;
  RequestSample s = served("shop", "", 2);
  s.outcome = 2;
  s.client_build_state = 2;  // unknown: whatever ID the client sent
  s.reload_reason = 1;       // build_unknown
  for (int i = 0; i < 1000; ++i) stats.record(s);
  board.publish(0, stats);
  const std::string after = sg::metrics::serialize_text(collector.Collect());
  // Same series, some values now 1000 instead of 0: three more digits on three lines.
  CHECK(after.size() == before + 3 * 3);
}

TEST_CASE("the label lists follow the enums they label") {
  using sg::routing::RequestKind;
  for (std::size_t i = 0; i < sg::metrics::kKinds.size(); ++i)
    CHECK(sg::metrics::kKinds[i] == sg::routing::to_string(static_cast<RequestKind>(i)));
  for (std::size_t i = 0; i < sg::metrics::kOutcomes.size(); ++i)
    CHECK(sg::metrics::kOutcomes[i] == sg::skew::to_string(static_cast<sg::skew::Outcome>(i)));
  using sg::gateway::UpstreamFailure;
  using sg::metrics::Reason;
  for (auto f : {UpstreamFailure::connect_refused, UpstreamFailure::connect_timeout, UpstreamFailure::connect_failed,
                 UpstreamFailure::response_timeout, UpstreamFailure::reset, UpstreamFailure::closed,
                 UpstreamFailure::send_timeout}) {
    const Reason reason = sg::gateway::reason_of(f);
    REQUIRE(sg::metrics::kUpstreamErrorLabels.index(reason));
    CHECK(sg::metrics::kUpstreamErrors[*sg::metrics::kUpstreamErrorLabels.index(reason)] ==
          sg::metrics::to_string(reason));
  }
  CHECK(sg::metrics::kUpstreamErrors[*sg::metrics::kUpstreamErrorLabels.index(Reason::bad_response)] ==
        "bad_response");
  for (std::size_t i = 0; i < sg::metrics::kFrameworks.size(); ++i)
    CHECK(sg::metrics::kFrameworks[i] == sg::routing::to_string(static_cast<sg::routing::RequestFramework>(i)));
  CHECK(sg::metrics::kRejectReasons[sg::metrics::reject_reason_index(Reason::uri_too_long)] == "uri_too_long");
  CHECK(sg::metrics::kRejectReasons[sg::metrics::reject_reason_index(Reason::client_header_timeout)] == "timeout");
  for (Reason code : {Reason::client_body_timeout, Reason::client_send_timeout, Reason::tunnel_idle_timeout})
    CHECK(sg::metrics::kRejectReasons[sg::metrics::reject_reason_index(code)] == sg::metrics::to_string(code));
  CHECK(sg::metrics::kRejectReasons[sg::metrics::reject_reason_index(Reason::client_closed)] == "bad_request");
  // Issue 13's precise 400 codes stay in the access log and the JSON body; the
  // metric keeps its fixed label set and counts them as bad_request.
  for (Reason code : {Reason::invalid_target, Reason::invalid_header_name, Reason::missing_host, Reason::duplicate_host,
                      Reason::invalid_host, Reason::invalid_connection_header, Reason::duplicate_routing_header,
                      Reason::chunk_size_overflow, Reason::invalid_chunk_size, Reason::invalid_version,
                      Reason::http_version_not_supported}) {
    CAPTURE(sg::metrics::to_string(code));
    CHECK(sg::metrics::kRejectReasons[sg::metrics::reject_reason_index(code)] == "bad_request");
  }
}

TEST_CASE("a verdict as a metrics sample") {
  sg::routing::App app;
  app.name = "shop";
  sg::routing::Build old_build;
  old_build.id = "dpl-a";
  old_build.superseded_at_ms = 1'000'000;
  sg::routing::Build current;
  current.id = "dpl-b";

  SUBCASE("a stale action answered with reload-required") {
    sg::skew::Verdict v;
    v.app = &app;
    v.classification.kind = sg::routing::RequestKind::action;
    v.client_build.build = &old_build;
    v.client_build_state = sg::skew::ClientBuildState::retired;
    v.outcome = sg::skew::Outcome::answered;
    v.reason = sg::metrics::Reason::build_retired;
    v.answer = sg::skew::Answer{};
    v.target = &current;  // an answer has no served build, whatever target says
    v.pin_result = sg::skew::PinResult::foreign_app;
    const RequestSample s = sg::gateway::request_sample(v, 1'090'000, std::nullopt);
    CHECK(s.app == "shop");
    CHECK(s.build.empty());
    CHECK(s.kind == 1);
    CHECK(s.outcome == 2);
    CHECK(s.client_build_state == 1u);
    CHECK(s.reload_reason == 0u);
    CHECK(s.client_build_age_s == doctest::Approx(90.0));
    CHECK(s.pin_result == 2u);  // tampered
    CHECK_FALSE(s.pin_issued);
  }
  SUBCASE("a current document: not skewed, no age, a new pin") {
    sg::skew::Verdict v;
    v.app = &app;
    v.classification.kind = sg::routing::RequestKind::document;
    v.client_build.build = &current;
    v.target = &current;
    v.set_cookie = "skewgate_pin=x";
    const RequestSample s = sg::gateway::request_sample(v, 1'090'000, 0.25);
    CHECK(s.build == "dpl-b");
    CHECK_FALSE(s.client_build_state);
    CHECK_FALSE(s.client_build_age_s);
    CHECK_FALSE(s.reload_reason);
    CHECK(s.pin_issued);
    CHECK(s.upstream_duration_s == 0.25);
  }
  SUBCASE("a preview-link redirect is answered but not reload-required") {
    sg::skew::Verdict v;
    v.app = &app;
    v.outcome = sg::skew::Outcome::answered;
    v.reason = sg::metrics::Reason::preview_link;
    v.client_build_state = sg::skew::ClientBuildState::preview;
    const RequestSample s = sg::gateway::request_sample(v, 0, std::nullopt);
    CHECK_FALSE(s.reload_reason);
    CHECK_FALSE(s.client_build_state);
  }
}

// Issue 15: the framework label rides only on actions and rsc requests.
TEST_CASE("a verdict as a metrics sample: the framework of actions and rsc requests only") {
  using sg::routing::RequestFramework;
  using sg::routing::RequestKind;
  sg::routing::App app;
  app.name = "todo";
  const struct {
    RequestKind kind;
    RequestFramework framework;
    std::optional<std::size_t> framework_kind;
    std::size_t framework_index;
  } rows[] = {
      {RequestKind::action, RequestFramework::react_server, 0, 2},
      {RequestKind::action, RequestFramework::next, 0, 1},
      {RequestKind::action, RequestFramework::none, 0, 0},
      {RequestKind::rsc, RequestFramework::react_server, 1, 2},
      {RequestKind::rsc, RequestFramework::next, 1, 1},
      {RequestKind::document, RequestFramework::none, std::nullopt, 0},
      {RequestKind::other, RequestFramework::none, std::nullopt, 0},
      {RequestKind::asset, RequestFramework::none, std::nullopt, 0},
  };
  for (const auto& row : rows) {
    CAPTURE(sg::routing::to_string(row.kind));
    sg::skew::Verdict v;
    v.app = &app;
    v.classification.kind = row.kind;
    v.classification.framework = row.framework;
    const auto s = sg::gateway::request_sample(v, 0, std::nullopt);
    CHECK(s.framework_kind == row.framework_kind);
    if (row.framework_kind) CHECK(s.framework == row.framework_index);
  }
}
