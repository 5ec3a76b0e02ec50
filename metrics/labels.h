// The fixed label values of skewgate's metrics (design.md section 10). Label
// values come only from these lists and from the registry (app and build
// names), so the number of series is bounded whatever clients send.
//
// The request-side lists are in the order of the enums they label
// (routing::RequestKind, skew::Outcome, gateway::UpstreamFailure,
// gateway::TlsHandshakeError); the
// gateway indexes them by enum value and a unit test pins the two together.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace sg::metrics {

inline constexpr std::array<std::string_view, 6> kKinds{"upgrade", "action", "rsc", "asset", "document", "other"};
inline constexpr std::array<std::string_view, 4> kOutcomes{"served", "rerouted", "answered", "error"};
// A stale request's client build: kept, gone, or not registered at all.
// Whose request shape a request had (routing::RequestFramework order, issue
// 15); labels skewgate_framework_requests_total, which counts the two kinds
// whose routing depends on it (kFrameworkKinds: action and rsc).
inline constexpr std::array<std::string_view, 3> kFrameworks{"none", "next", "react-server"};
inline constexpr std::array<std::string_view, 2> kFrameworkKinds{"action", "rsc"};
inline constexpr std::array<std::string_view, 3> kClientBuildStates{"retained", "retired", "unknown"};
inline constexpr std::array<std::string_view, 5> kReloadReasons{"build_retired", "build_unknown", "build_unhealthy",
                                                                "build_killed", "action_not_found"};
inline constexpr std::array<std::string_view, 5> kPinResults{"issued", "valid", "tampered", "expired", "unknown_key"};
inline constexpr std::size_t kPinIssued = 0;
inline constexpr std::array<std::string_view, 8> kUpstreamErrors{
    "connect_refused", "connect_timeout",  "connect_failed",        "response_timeout",
    "upstream_reset",  "upstream_closed", "upstream_send_timeout", "bad_response"};
// `timeout` is the client_header timeout (the first deadline, named before
// the others); the later ones carry their own names, as in the access log.
inline constexpr std::array<std::string_view, 9> kRejectReasons{
    "bad_request",        "header_too_large",    "uri_too_long",        "body_too_large",     "method_not_allowed",
    "timeout",            "client_body_timeout", "client_send_timeout", "tunnel_idle_timeout"};
inline constexpr std::array<std::string_view, 2> kReloadResults{"success", "failure"};
// Why a TLS handshake failed (gateway::TlsHandshakeError order).
inline constexpr std::array<std::string_view, 8> kTlsHandshakeErrors{
    "handshake_timeout",       "not_tls",              "protocol_version", "no_shared_cipher",
    "no_application_protocol", "certificate_rejected", "peer_closed",      "other"};

// The label used when a request has no served build (skewgate answered it)
// or matched no app.
inline constexpr std::string_view kNone = "none";

template <std::size_t N>
std::optional<std::size_t> index_of(const std::array<std::string_view, N>& values, std::string_view value) {
  for (std::size_t i = 0; i < N; ++i)
    if (values[i] == value) return i;
  return std::nullopt;
}

// A rejection's stable code (ParseRejection::code) as a reject reason:
// the client-header timeout is `timeout`; an unlisted code is `bad_request`.
// The other timeouts (client_body_timeout, ...) are listed as they are.
std::size_t reject_reason_index(std::string_view code);

}  // namespace sg::metrics
