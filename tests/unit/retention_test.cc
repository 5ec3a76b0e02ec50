// Retention (design.md section 7) with explicit clocks.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "skew/retention.h"

using sg::conf::RetentionConfig;
using sg::skew::builds_to_retire;
using sg::skew::RetainedBuild;
using Ids = std::vector<std::string>;

namespace {

constexpr std::int64_t kSecond = 1000;
constexpr std::int64_t kMinute = 60 * kSecond;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kDay = 24 * kHour;
constexpr std::int64_t kNow = 1'800'000'000'000;  // 2027-01-15

RetentionConfig config(std::uint64_t max_builds = 10, std::uint64_t min_retained = 1) {
  RetentionConfig r;  // max_age 7d, active_window 15m, hard_max_age 30d
  r.max_builds = max_builds;
  r.min_retained = min_retained;
  return r;
}

}  // namespace

TEST_CASE("retention: max_age boundary (more than max_age ago retires)") {
  const RetentionConfig r = config(10, 0);
  const std::vector<RetainedBuild> builds = {
      {"exactly", kNow - 7 * kDay, 0},
      {"one-ms-over", kNow - 7 * kDay - 1, 0},
      {"young", kNow - kHour, 0},
      {"ancient", kNow - 90 * kDay, 0},
  };
  CHECK(builds_to_retire(builds, 1, r, kNow) == Ids{"one-ms-over", "ancient"});
}

TEST_CASE("retention: max_builds counts the builds newer than each one") {
  std::vector<RetainedBuild> builds;
  for (int i = 0; i < 6; ++i) builds.push_back({"r" + std::to_string(i), kNow - kHour, 0});
  // r0 has 1 newer build (current), r1 has 2, ... r5 has 6.
  CHECK(builds_to_retire(builds, 1, config(3, 0), kNow) == Ids{"r3", "r4", "r5"});
  CHECK(builds_to_retire(builds, 1, config(6, 0), kNow) == Ids{});
  CHECK(builds_to_retire(builds, 1, config(0, 0), kNow) == Ids{"r0", "r1", "r2", "r3", "r4", "r5"});
  // With a preview or canary counted as newer, each has one more.
  CHECK(builds_to_retire(builds, 2, config(3, 0), kNow) == Ids{"r2", "r3", "r4", "r5"});
}

TEST_CASE("retention: the newest min_retained are always kept") {
  const std::vector<RetainedBuild> builds = {
      {"newest", kNow - 30 * kDay, 0},
      {"second", kNow - 31 * kDay, 0},
      {"third", kNow - 32 * kDay, 0},
  };
  CHECK(builds_to_retire(builds, 1, config(10, 1), kNow) == Ids{"second", "third"});
  CHECK(builds_to_retire(builds, 1, config(10, 2), kNow) == Ids{"third"});
  CHECK(builds_to_retire(builds, 1, config(0, 3), kNow) == Ids{});
  CHECK(builds_to_retire(builds, 1, config(10, 0), kNow) == Ids{"newest", "second", "third"});
  CHECK(builds_to_retire({}, 1, config(), kNow) == Ids{});
}

TEST_CASE("retention: keep_while_active inside and outside active_window, up to hard_max_age") {
  RetentionConfig r = config(10, 0);
  r.keep_while_active = true;
  const std::vector<RetainedBuild> builds = {
      {"active", kNow - 8 * kDay, kNow - 14 * kMinute},
      {"window-edge", kNow - 8 * kDay, kNow - 15 * kMinute},
      {"idle", kNow - 8 * kDay, kNow - 15 * kMinute - 1},
      {"never-used", kNow - 8 * kDay, 0},
      {"hard-edge", kNow - 30 * kDay, kNow - kSecond},
      {"past-hard", kNow - 30 * kDay - 1, kNow - kSecond},
  };
  CHECK(builds_to_retire(builds, 1, r, kNow) == Ids{"idle", "never-used", "past-hard"});
  // Activity also holds a build past max_builds, within hard_max_age.
  RetentionConfig few = r;
  few.max_builds = 1;
  CHECK(builds_to_retire({{"a", kNow - kHour, 0}, {"b", kNow - kHour, kNow - kMinute}, {"c", kNow - kHour, 0}}, 1,
                         few, kNow) == Ids{"c"});
  // Without keep_while_active, activity does not matter.
  r.keep_while_active = false;
  CHECK(builds_to_retire(builds, 1, r, kNow) ==
        Ids{"active", "window-edge", "idle", "never-used", "hard-edge", "past-hard"});
}

TEST_CASE("retention: an unknown supersede time counts as now") {
  const RetentionConfig r = config(10, 0);
  CHECK(builds_to_retire({{"unknown", 0, 0}}, 1, r, kNow) == Ids{});
  // ...but max_builds still applies to it.
  CHECK(builds_to_retire({{"unknown", 0, 0}}, 1, config(0, 0), kNow) == Ids{"unknown"});
}
