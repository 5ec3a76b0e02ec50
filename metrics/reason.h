// The one catalogue of reason codes (STYLE.md; as Envoy's
// ResponseCodeDetails): every stable snake_case code that reaches a response
// (a JSON body's "error" or "reason", the x-skewgate-reload header), an
// access-log `detail` or a metric label is one Reason, spelled once, in
// kReasonNames. Code carries the enum; only the edges (answers, the access
// log, the scrape) render it with to_string. Renaming a value changes the
// wire: the unit test pins every string.
//
// The metric label sets are runs of this enum (ReasonLabels), in enum order,
// so a label set is derived here and never kept by hand a second time. The
// runs below are in the exported label order of today's metrics (Prometheus
// tests and the Grafana dashboard in docker/grafana read them): new codes go
// outside a run, or at its end when the metric is meant to gain a label.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sg::metrics {

enum class Reason : std::uint8_t {
  none,  // plainly served: no detail (the access log's detail stays empty)

  // Why a stale request was answered "reload required"
  // (skewgate_reload_required_total{reason}: kReloadLabels). A build that
  // cannot serve also reroutes with its reason (build_unhealthy is also the
  // detail of current's 503).
  build_retired,
  build_unknown,
  build_unhealthy,
  build_killed,
  action_not_found,

  // The other verdicts of skew::decide and of the answer-side rules
  // (skew/replay.h).
  no_app,               // 404: no app for the Host
  origin_mismatch,      // 403: an action from a foreign Origin
  preview_link,         // 302: a preview link sets its pin
  action_not_in_build,  // rerouted: the named build lacks the action, its holder serves
  action_replayed,      // rerouted: the answer said "unknown action", another build ran it
  asset_fallback,       // rerouted: current's 404 for an asset, an older kept build had it
  reload_module,        // answered: react-server's reload module
  redirect_https,       // 308: a plain request on a listener with redirect_https

  // Requests refused before routing
  // (skewgate_rejected_requests_total{reason}: kRejectLabels, where
  // client_header_timeout is labelled `timeout`). bad_request first: every
  // refusal outside the run is labelled bad_request.
  bad_request,
  header_too_large,
  uri_too_long,
  body_too_large,
  method_not_allowed,
  client_header_timeout,
  client_body_timeout,
  client_send_timeout,
  tunnel_idle_timeout,
  // Refusals of gateway/http1 (http_parser.cc lists why), labelled bad_request.
  invalid_version,
  http_version_not_supported,
  invalid_target,
  invalid_header_name,
  missing_host,
  duplicate_host,
  invalid_host,
  invalid_connection_header,
  duplicate_routing_header,
  chunk_size_overflow,
  invalid_chunk_size,

  // Upstream failures (skewgate_upstream_errors_total{reason}:
  // kUpstreamErrorLabels).
  connect_refused,
  connect_timeout,
  connect_failed,
  response_timeout,
  upstream_reset,
  upstream_closed,
  upstream_send_timeout,
  bad_response,

  // TLS handshakes that failed (skewgate_tls_handshake_errors_total{reason}:
  // kTlsHandshakeLabels; gateway/net/tls_transport.cc says which is which).
  handshake_timeout,        // nothing or too little within timeouts.tls_handshake
  not_tls,                  // plain HTTP or other bytes that are not a TLS record
  protocol_version,         // SSLv3, TLS 1.0 or 1.1 (or nothing the server accepts)
  no_shared_cipher,         // none of the client's ciphers is allowed
  no_application_protocol,  // ALPN offered without http/1.1
  certificate_rejected,     // the client refused our certificate (an alert)
  handshake_aborted,        // the client closed or reset during the handshake
  handshake_failed,         // any other handshake failure

  // HTTP/2 connections ended by a GOAWAY for an error
  // (skewgate_http2_connection_errors_total{reason}: kHttp2ErrorLabels;
  // gateway/http2/h2_connection.h says which is which).
  rapid_reset,          // RST_STREAM past http2.reset_budget (CVE-2023-44487)
  continuation_flood,   // CONTINUATION frames past nghttp2's bound (CVE-2024-27316)
  hpack_bomb,           // a header block past limits.header_bytes/headers, or HPACK that does not decode
  settings_flood,       // SETTINGS past http2.control_budget
  ping_flood,           // PING past http2.control_budget
  empty_frame_flood,    // DATA frames without payload or END_STREAM, many in a row
  zero_window_timeout,  // the client held our send window at 0 for timeouts.client_send
  h2_protocol_error,    // any other connection error (a bad preface, a frame out of place)

  // An HTTP/2 request refused on its stream (labelled bad_request): a host
  // header other than :authority; a request nghttp2 found malformed (RFC 9113
  // section 8.1.1: pseudo-headers, connection-specific fields, te).
  authority_mismatch,
  malformed_request,

  client_closed,  // the client closed or reset before its response was complete

  // The "error" of a JSON answer whose "reason" says more.
  reload_required,
  upstream_unavailable,
};

inline constexpr std::size_t kReasonCount = static_cast<std::size_t>(Reason::upstream_unavailable) + 1;

// Indexed by Reason: the single place a code is spelled.
inline constexpr std::array<std::string_view, kReasonCount> kReasonNames{
    "none",
    "build_retired",
    "build_unknown",
    "build_unhealthy",
    "build_killed",
    "action_not_found",
    "no_app",
    "origin_mismatch",
    "preview_link",
    "action_not_in_build",
    "action_replayed",
    "asset_fallback",
    "reload_module",
    "redirect_https",
    "bad_request",
    "header_too_large",
    "uri_too_long",
    "body_too_large",
    "method_not_allowed",
    "client_header_timeout",
    "client_body_timeout",
    "client_send_timeout",
    "tunnel_idle_timeout",
    "invalid_version",
    "http_version_not_supported",
    "invalid_target",
    "invalid_header_name",
    "missing_host",
    "duplicate_host",
    "invalid_host",
    "invalid_connection_header",
    "duplicate_routing_header",
    "chunk_size_overflow",
    "invalid_chunk_size",
    "connect_refused",
    "connect_timeout",
    "connect_failed",
    "response_timeout",
    "upstream_reset",
    "upstream_closed",
    "upstream_send_timeout",
    "bad_response",
    "handshake_timeout",
    "not_tls",
    "protocol_version",
    "no_shared_cipher",
    "no_application_protocol",
    "certificate_rejected",
    "handshake_aborted",
    "handshake_failed",
    "rapid_reset",
    "continuation_flood",
    "hpack_bomb",
    "settings_flood",
    "ping_flood",
    "empty_frame_flood",
    "zero_window_timeout",
    "h2_protocol_error",
    "authority_mismatch",
    "malformed_request",
    "client_closed",
    "reload_required",
    "upstream_unavailable",
};
// Every entry filled: a value added to the enum without its name fails here.
static_assert(!kReasonNames.back().empty());

constexpr std::string_view to_string(Reason reason) {
  const auto i = static_cast<std::size_t>(reason);
  return i < kReasonCount ? kReasonNames[i] : kReasonNames[0];
}

// A metric's reason label set: the Reasons first..last, in enum order.
struct ReasonLabels {
  Reason first;
  Reason last;

  constexpr std::size_t size() const {
    return static_cast<std::size_t>(last) - static_cast<std::size_t>(first) + 1;
  }
  constexpr Reason at(std::size_t index) const {
    return static_cast<Reason>(static_cast<std::size_t>(first) + index);
  }
  // The label's index (into the metric's counters); nullopt outside the set.
  constexpr std::optional<std::size_t> index(Reason reason) const {
    if (reason < first || reason > last) return std::nullopt;
    return static_cast<std::size_t>(reason) - static_cast<std::size_t>(first);
  }
};

inline constexpr ReasonLabels kReloadLabels{Reason::build_retired, Reason::action_not_found};
inline constexpr ReasonLabels kRejectLabels{Reason::bad_request, Reason::tunnel_idle_timeout};
inline constexpr ReasonLabels kUpstreamErrorLabels{Reason::connect_refused, Reason::bad_response};
inline constexpr ReasonLabels kTlsHandshakeLabels{Reason::handshake_timeout, Reason::handshake_failed};
inline constexpr ReasonLabels kHttp2ErrorLabels{Reason::rapid_reset, Reason::h2_protocol_error};

// The label value of a Reason: its name, but for the client-header timeout,
// which skewgate_rejected_requests_total has always called `timeout` (the
// first deadline, named before the others had theirs).
constexpr std::string_view label_of(Reason reason) {
  return reason == Reason::client_header_timeout ? std::string_view("timeout") : to_string(reason);
}

// A label set's values, in order, for the scrape.
template <std::size_t N>
constexpr std::array<std::string_view, N> label_values(ReasonLabels labels) {
  std::array<std::string_view, N> values{};
  for (std::size_t i = 0; i < N; ++i) values[i] = label_of(labels.at(i));
  return values;
}

// A refusal's index in kRejectLabels: its own label when it has one, else
// bad_request (the label set stays fixed whatever the parser learns to refuse).
constexpr std::size_t reject_reason_index(Reason reason) { return kRejectLabels.index(reason).value_or(0); }
static_assert(kRejectLabels.first == Reason::bad_request);

}  // namespace sg::metrics
