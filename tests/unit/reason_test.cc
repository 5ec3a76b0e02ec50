// The reason catalogue (metrics/reason.h): one spelling per code, and the
// metric label sets derived from it, pinned to the strings skewgate exports
// (responses, access log, Prometheus labels, the Grafana dashboard).
#include <doctest/doctest.h>

#include <array>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "metrics/labels.h"
#include "metrics/reason.h"

using sg::metrics::Reason;

namespace {

bool snake_case(std::string_view s) {
  if (s.empty() || s.front() < 'a' || s.front() > 'z' || s.back() == '_') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok || (c == '_' && s[i - 1] == '_')) return false;
  }
  return true;
}

// Every code as it appears on the wire. Written out again on purpose: a
// renamed or reordered code fails here, not in a dashboard.
constexpr std::pair<Reason, std::string_view> kPinned[] = {
    {Reason::none, "none"},
    {Reason::build_retired, "build_retired"},
    {Reason::build_unknown, "build_unknown"},
    {Reason::build_unhealthy, "build_unhealthy"},
    {Reason::build_killed, "build_killed"},
    {Reason::action_not_found, "action_not_found"},
    {Reason::no_app, "no_app"},
    {Reason::origin_mismatch, "origin_mismatch"},
    {Reason::preview_link, "preview_link"},
    {Reason::action_not_in_build, "action_not_in_build"},
    {Reason::action_replayed, "action_replayed"},
    {Reason::asset_fallback, "asset_fallback"},
    {Reason::reload_module, "reload_module"},
    {Reason::redirect_https, "redirect_https"},
    {Reason::bad_request, "bad_request"},
    {Reason::header_too_large, "header_too_large"},
    {Reason::uri_too_long, "uri_too_long"},
    {Reason::body_too_large, "body_too_large"},
    {Reason::method_not_allowed, "method_not_allowed"},
    {Reason::client_header_timeout, "client_header_timeout"},
    {Reason::client_body_timeout, "client_body_timeout"},
    {Reason::client_send_timeout, "client_send_timeout"},
    {Reason::tunnel_idle_timeout, "tunnel_idle_timeout"},
    {Reason::invalid_version, "invalid_version"},
    {Reason::http_version_not_supported, "http_version_not_supported"},
    {Reason::invalid_target, "invalid_target"},
    {Reason::invalid_header_name, "invalid_header_name"},
    {Reason::missing_host, "missing_host"},
    {Reason::duplicate_host, "duplicate_host"},
    {Reason::invalid_host, "invalid_host"},
    {Reason::invalid_connection_header, "invalid_connection_header"},
    {Reason::duplicate_routing_header, "duplicate_routing_header"},
    {Reason::chunk_size_overflow, "chunk_size_overflow"},
    {Reason::invalid_chunk_size, "invalid_chunk_size"},
    {Reason::connect_refused, "connect_refused"},
    {Reason::connect_timeout, "connect_timeout"},
    {Reason::connect_failed, "connect_failed"},
    {Reason::response_timeout, "response_timeout"},
    {Reason::upstream_reset, "upstream_reset"},
    {Reason::upstream_closed, "upstream_closed"},
    {Reason::upstream_send_timeout, "upstream_send_timeout"},
    {Reason::bad_response, "bad_response"},
    {Reason::handshake_timeout, "handshake_timeout"},
    {Reason::not_tls, "not_tls"},
    {Reason::protocol_version, "protocol_version"},
    {Reason::no_shared_cipher, "no_shared_cipher"},
    {Reason::no_application_protocol, "no_application_protocol"},
    {Reason::certificate_rejected, "certificate_rejected"},
    {Reason::handshake_aborted, "handshake_aborted"},
    {Reason::handshake_failed, "handshake_failed"},
    {Reason::rapid_reset, "rapid_reset"},
    {Reason::continuation_flood, "continuation_flood"},
    {Reason::hpack_bomb, "hpack_bomb"},
    {Reason::settings_flood, "settings_flood"},
    {Reason::ping_flood, "ping_flood"},
    {Reason::empty_frame_flood, "empty_frame_flood"},
    {Reason::zero_window_timeout, "zero_window_timeout"},
    {Reason::h2_protocol_error, "h2_protocol_error"},
    {Reason::authority_mismatch, "authority_mismatch"},
    {Reason::malformed_request, "malformed_request"},
    {Reason::client_closed, "client_closed"},
    {Reason::reload_required, "reload_required"},
    {Reason::upstream_unavailable, "upstream_unavailable"},
};

// Today's exported label values, in their exported order.
constexpr std::array<std::string_view, 5> kReloadExported{"build_retired", "build_unknown", "build_unhealthy",
                                                          "build_killed", "action_not_found"};
constexpr std::array<std::string_view, 8> kUpstreamExported{
    "connect_refused", "connect_timeout", "connect_failed",        "response_timeout",
    "upstream_reset",  "upstream_closed", "upstream_send_timeout", "bad_response"};
constexpr std::array<std::string_view, 9> kRejectExported{
    "bad_request", "header_too_large",    "uri_too_long",        "body_too_large",     "method_not_allowed",
    "timeout",     "client_body_timeout", "client_send_timeout", "tunnel_idle_timeout"};

}  // namespace

TEST_CASE("reason catalogue: every value has one unique, non-empty snake_case code") {
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < sg::metrics::kReasonCount; ++i) {
    const std::string_view code = sg::metrics::to_string(static_cast<Reason>(i));
    CAPTURE(i);
    CAPTURE(std::string(code));
    CHECK(snake_case(code));
    CHECK(seen.insert(code).second);
  }
  CHECK(seen.size() == sg::metrics::kReasonCount);
}

TEST_CASE("reason catalogue: the exported codes are pinned") {
  REQUIRE(std::size(kPinned) == sg::metrics::kReasonCount);
  for (std::size_t i = 0; i < std::size(kPinned); ++i) {
    CAPTURE(std::string(kPinned[i].second));
    CHECK(static_cast<std::size_t>(kPinned[i].first) == i);
    CHECK(sg::metrics::to_string(kPinned[i].first) == kPinned[i].second);
  }
  // Out of range (a corrupt value) renders as none, never past the table.
  CHECK(sg::metrics::to_string(static_cast<Reason>(250)) == "none");
}

TEST_CASE("reason catalogue: each metric's label set is a run of it, in today's exported order") {
  CHECK(sg::metrics::kReloadReasons == kReloadExported);
  CHECK(sg::metrics::kUpstreamErrors == kUpstreamExported);
  CHECK(sg::metrics::kRejectReasons == kRejectExported);

  const std::pair<sg::metrics::ReasonLabels, std::string_view> sets[] = {
      {sg::metrics::kReloadLabels, "reload"},
      {sg::metrics::kUpstreamErrorLabels, "upstream"},
      {sg::metrics::kRejectLabels, "reject"},
  };
  for (const auto& [labels, name] : sets) {
    CAPTURE(std::string(name));
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const Reason reason = labels.at(i);
      CHECK(labels.index(reason) == i);
      // A label is the code itself, but for the one documented exception.
      if (reason != Reason::client_header_timeout) CHECK(sg::metrics::label_of(reason) == sg::metrics::to_string(reason));
    }
    CHECK_FALSE(labels.index(Reason::none));
    CHECK_FALSE(labels.index(Reason::client_closed));
  }
  CHECK(sg::metrics::label_of(Reason::client_header_timeout) == "timeout");
}

TEST_CASE("reason catalogue: a refusal without its own label counts as bad_request") {
  for (std::size_t i = 0; i < sg::metrics::kReasonCount; ++i) {
    const auto reason = static_cast<Reason>(i);
    CAPTURE(std::string(sg::metrics::to_string(reason)));
    const std::size_t index = sg::metrics::reject_reason_index(reason);
    REQUIRE(index < sg::metrics::kRejectReasons.size());
    if (sg::metrics::kRejectLabels.index(reason)) {
      CHECK(sg::metrics::kRejectReasons[index] == sg::metrics::label_of(reason));
    } else {
      CHECK(sg::metrics::kRejectReasons[index] == "bad_request");
    }
  }
}
