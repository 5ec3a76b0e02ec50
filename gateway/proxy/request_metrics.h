// A finished request as the metrics see it: the verdict (skew::decide) and
// what happened on the wire, mapped onto the fixed label lists of
// metrics/labels.h (reasons: the label sets of metrics/reason.h). Label
// values come from the snapshot and those lists only, never from what the
// client sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "metrics/worker_stats.h"
#include "skew/verdict.h"

namespace sg::gateway {

// `now_ms` is unix ms; `upstream_duration_s` is set when an upstream response
// ended. The sample's strings point into the verdict's snapshot.
metrics::RequestSample request_sample(const skew::Verdict& verdict, std::int64_t now_ms,
                                      std::optional<double> upstream_duration_s);

}  // namespace sg::gateway
