// skew::decide(request, snapshot) -> Verdict: the product's routing rules in
// one pure function (design.md sections 3 to 5). No I/O.
#pragma once

#include <cstdint>
#include <string_view>

#include "routing/request_view.h"
#include "routing/snapshot.h"
#include "skew/verdict.h"

namespace sg::skew {

struct DecisionInput {
  const routing::RequestView& request;
  // The body's first actions.inspect_bytes when needs_body_peek() said so.
  std::string_view body_peek = {};
  // For the canary cohort until pins exist: a stable hash of these two.
  std::string_view client_address = {};
  std::int64_t now_ms = 0;  // unix ms, for client build ages
};

// Must the gateway read the body's first bytes before deciding? (no-JS form
// posts, design.md section 3).
bool needs_body_peek(const routing::RequestView& request, const routing::Snapshot& snapshot);

Verdict decide(const DecisionInput& input, const routing::Snapshot& snapshot);

}  // namespace sg::skew
