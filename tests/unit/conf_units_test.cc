#include <doctest/doctest.h>

#include "conf/load.h"

namespace sg::conf {
namespace {

using std::chrono::milliseconds;

TEST_CASE("parse_duration accepts an integer with ms, s, m, h or d") {
  const struct {
    const char* text;
    std::int64_t ms;
  } cases[] = {
      {"0s", 0},         {"500ms", 500},      {"10s", 10'000},        {"5m", 300'000},
      {"2h", 7'200'000}, {"7d", 604'800'000}, {"30d", 2'592'000'000},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(parse_duration(c.text) == milliseconds(c.ms));
  }
}

TEST_CASE("parse_duration rejects bare numbers, other units and junk") {
  for (const char* text : {"", "10", "10S", "10 s", " 10s", "-1s", "+1s", "1.5s", "10sec", "s", "1w",
                           "99999999999999999999d", "9999999999999999d"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_duration(text).has_value());
  }
}

TEST_CASE("parse_size accepts bytes and binary units only") {
  const struct {
    const char* text;
    std::uint64_t bytes;
  } cases[] = {
      {"0", 0}, {"512", 512}, {"64KiB", 65'536}, {"10MiB", 10'485'760}, {"1GiB", 1'073'741'824},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(parse_size(c.text) == c.bytes);
  }
  for (const char* text :
       {"", "64KB", "64kb", "64k", "64K", "1MB", "1.5MiB", "-1", "64 KiB", "KiB", "17179869184GiB"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_size(text).has_value());
  }
}

}  // namespace
}  // namespace sg::conf
