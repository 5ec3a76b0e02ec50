#include "skew/retention.h"

namespace sg::skew {

// Boundaries, all inclusive on the keeping side: a build superseded exactly
// max_age ago is kept (retired only when *more* than max_age ago); exactly
// max_builds newer builds keeps it; a request exactly active_window ago is
// still recent; a build exactly hard_max_age old is still kept while active.
std::vector<std::string> builds_to_retire(const std::vector<RetainedBuild>& retained, std::size_t newer_than_first,
                                          const conf::RetentionConfig& retention, std::int64_t now_ms) {
  std::vector<std::string> retire;
  for (std::size_t i = 0; i < retained.size(); ++i) {
    if (i < retention.min_retained) continue;  // the newest min_retained are always kept
    const RetainedBuild& build = retained[i];
    // An unknown supersede time counts as now: never retire on age we do not know.
    const std::int64_t superseded = build.superseded_at_ms == 0 ? now_ms : build.superseded_at_ms;
    const std::int64_t age = now_ms - superseded;
    const std::size_t newer = newer_than_first + i;
    const bool too_old = age > retention.max_age.count();
    const bool too_many = newer > retention.max_builds;
    if (!too_old && !too_many) continue;
    if (retention.keep_while_active && build.last_request_ms != 0) {
      const bool active = now_ms - build.last_request_ms <= retention.active_window.count();
      if (active && age <= retention.hard_max_age.count()) continue;
    }
    retire.push_back(build.id);
  }
  return retire;
}

}  // namespace sg::skew
