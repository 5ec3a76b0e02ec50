// skew::decide(request, snapshot) -> Verdict: the product's routing rules in
// one pure function (design.md section 5). No I/O.
#pragma once

#include "routing/request_view.h"
#include "routing/snapshot.h"
#include "skew/verdict.h"

namespace sg::skew {

Verdict decide(const routing::RequestView& request, const routing::Snapshot& snapshot);

}  // namespace sg::skew
