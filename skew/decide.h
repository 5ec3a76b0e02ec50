// skew::decide(request, snapshot) -> Verdict: the product's routing rules in
// one pure function (design.md sections 3 to 5). No I/O.
#pragma once

#include <cstdint>
#include <string_view>

#include "routing/request_view.h"
#include "routing/snapshot.h"
#include "skew/pin.h"
#include "skew/verdict.h"

namespace sg::skew {

struct DecisionInput {
  const routing::RequestView& request;
  // The body's first actions.inspect_bytes when needs_body_peek() said so.
  std::string_view body_peek = {};
  // For the canary cohort of visitors without a pin: a stable hash of the
  // address and the user agent. The client's address: the peer's, or the one
  // trusted proxies forwarded (routing::client_address).
  std::string_view client_address = {};
  std::int64_t now_ms = 0;  // unix ms: client build ages, pin issue and expiry
  // Seals and opens pins and preview links; nullptr (or !ok()): no pins are
  // read or set.
  const PinKeyring* keyring = nullptr;
  // TLS downstream, or x-forwarded-proto: https from a trusted hop: pins get
  // `Secure`.
  bool downstream_secure = false;
  // The peer is a trusted proxy: its X-Forwarded-Host counts as the host in
  // the origin check.
  bool peer_trusted = false;
  // The worker's reusable pin cipher state (optional; see pin_scratch.h).
  PinScratch* pin_scratch = nullptr;
  // A plain request on a listener with redirect_https: answered with a 308
  // to https (skew/https_redirect.h) before anything else.
  bool redirect_https = false;
};

// The query parameter of a signed preview link (design.md section 7).
inline constexpr std::string_view kPreviewParam = "skewgate_preview";
// The cookie Next's experimental.useSkewCookie sets (also Vercel and
// Netlify): `__vdpl=<deployment id>`, a routing hint (design.md section 4).
inline constexpr std::string_view kVdplCookie = "__vdpl";

// How many of the body's first bytes the gateway must read before deciding
// (no-JS form posts, design.md section 3): the app's actions.inspect_bytes,
// or 0 when the request needs no peek.
std::uint64_t body_peek_bytes(const routing::RequestView& request, const routing::Snapshot& snapshot);

Verdict decide(const DecisionInput& input, const routing::Snapshot& snapshot);

}  // namespace sg::skew
