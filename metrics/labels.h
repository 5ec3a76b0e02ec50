// The fixed label values of skewgate's metrics (design.md section 10). Label
// values come only from these lists and from the registry (app and build
// names), so the number of series is bounded whatever clients send.
//
// The request-side lists are in the order of the enums they label
// (routing::RequestKind, skew::Outcome); the
// gateway indexes them by enum value and a unit test pins the two together.
// The reason label sets are derived from the reason catalogue
// (metrics/reason.h), never listed here.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "metrics/reason.h"

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
inline constexpr auto kReloadReasons = label_values<kReloadLabels.size()>(kReloadLabels);
inline constexpr std::array<std::string_view, 5> kPinResults{"issued", "valid", "tampered", "expired", "unknown_key"};
inline constexpr std::size_t kPinIssued = 0;
inline constexpr auto kUpstreamErrors = label_values<kUpstreamErrorLabels.size()>(kUpstreamErrorLabels);
inline constexpr auto kRejectReasons = label_values<kRejectLabels.size()>(kRejectLabels);
inline constexpr std::array<std::string_view, 2> kReloadResults{"success", "failure"};
inline constexpr auto kTlsHandshakeErrors = label_values<kTlsHandshakeLabels.size()>(kTlsHandshakeLabels);
inline constexpr auto kHttp2Errors = label_values<kHttp2ErrorLabels.size()>(kHttp2ErrorLabels);

// The label used when a request has no served build (skewgate answered it)
// or matched no app.
inline constexpr std::string_view kNone = "none";

}  // namespace sg::metrics
