// Which retained builds retention retires now (design.md section 7). Pure:
// the gateway supplies the clock and the per-build history.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "conf/config.h"

namespace sg::skew {

struct RetainedBuild {
  std::string id;
  std::int64_t superseded_at_ms = 0;  // 0 = unknown: treated as superseded `now`
  std::int64_t last_request_ms = 0;   // 0 = never
};

// `retained` is newest first. `newer_than_first` = how many builds are newer
// than retained[0] (1: just the current build). Returns the IDs to retire:
// superseded more than max_age ago, or more than max_builds newer builds;
// never the newest min_retained; with keep_while_active, a build that served a
// request within active_window is kept until hard_max_age.
std::vector<std::string> builds_to_retire(const std::vector<RetainedBuild>& retained, std::size_t newer_than_first,
                                          const conf::RetentionConfig& retention, std::int64_t now_ms);

}  // namespace sg::skew
