// Canary cohorts: FNV-1a 64 of address '\n' user agent, bucket % 10000.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "skew/canary.h"

using sg::skew::in_canary_cohort;

namespace {

// 100,000 synthetic visitors: IPv4 and IPv6 addresses and a few user agents.
double share(double percent) {
  const char* agents[] = {
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
      "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
      "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
  };
  int in = 0;
  constexpr int kVisitors = 100'000;
  for (int i = 0; i < kVisitors; ++i) {
    std::string address = i % 4 == 3 ? "2001:db8::" + std::to_string(i)
                                     : "10." + std::to_string((i >> 16) & 255) + "." + std::to_string((i >> 8) & 255) +
                                           "." + std::to_string(i & 255);
    if (in_canary_cohort(address, agents[i % 3], percent)) ++in;
  }
  return 100.0 * in / kVisitors;
}

}  // namespace

TEST_CASE("canary: the cohort share is within 2 points of percent") {
  for (const double percent : {5.0, 50.0}) {
    CAPTURE(percent);
    const double got = share(percent);
    CAPTURE(got);
    CHECK(std::abs(got - percent) <= 2.0);
  }
}

TEST_CASE("canary: stable for the same visitor, bounds") {
  for (int i = 0; i < 1000; ++i) {
    const std::string address = "192.0.2." + std::to_string(i % 256) + std::to_string(i);
    const bool first = in_canary_cohort(address, "ua", 30);
    for (int repeat = 0; repeat < 3; ++repeat) CHECK(in_canary_cohort(address, "ua", 30) == first);
    // Growing the percentage only adds visitors (buckets are fixed).
    if (first) CHECK(in_canary_cohort(address, "ua", 60));
  }
  CHECK_FALSE(in_canary_cohort("10.0.0.1", "ua", 0));
  CHECK_FALSE(in_canary_cohort("10.0.0.1", "ua", -5));
  CHECK_FALSE(in_canary_cohort("10.0.0.1", "ua", std::nan("")));
  CHECK(in_canary_cohort("10.0.0.1", "ua", 100));
  // The separator matters: ("a", "b\n") and ("a\nb", "") are different visitors in principle;
  // here just check the function is deterministic on empty input.
  CHECK(in_canary_cohort("", "", 50) == in_canary_cohort("", "", 50));
}
