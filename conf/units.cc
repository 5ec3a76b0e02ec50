// Durations and sizes as written in the config. Strict on purpose: a bare
// number is not a duration (is "30" seconds or milliseconds?), and sizes are
// binary units only (KiB, not KB) so nobody has to guess 1000 vs 1024.
#include <charconv>
#include <limits>

#include "conf/load.h"

namespace sg::conf {
namespace {

struct NumberAndUnit {
  std::uint64_t number = 0;
  std::string_view unit;
};

// Leading decimal digits, then the rest as the unit. No sign, no spaces.
std::optional<NumberAndUnit> split(std::string_view text) {
  NumberAndUnit result;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, result.number);
  if (ec != std::errc() || end == first) return std::nullopt;
  result.unit = std::string_view(end, static_cast<std::size_t>(last - end));
  return result;
}

std::optional<std::uint64_t> multiply(std::uint64_t number, std::uint64_t factor) {
  if (number > std::numeric_limits<std::uint64_t>::max() / factor) return std::nullopt;
  return number * factor;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text) {
  const auto parsed = split(text);
  if (!parsed) return std::nullopt;
  std::uint64_t ms_per_unit = 0;
  if (parsed->unit == "ms")
    ms_per_unit = 1;
  else if (parsed->unit == "s")
    ms_per_unit = 1000;
  else if (parsed->unit == "m")
    ms_per_unit = 60 * 1000;
  else if (parsed->unit == "h")
    ms_per_unit = 60 * 60 * 1000;
  else if (parsed->unit == "d")
    ms_per_unit = 24 * 60 * 60 * 1000;
  else
    return std::nullopt;

  const auto ms = multiply(parsed->number, ms_per_unit);
  if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max())) {
    return std::nullopt;
  }
  return Duration(static_cast<Duration::rep>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  const auto parsed = split(text);
  if (!parsed) return std::nullopt;
  if (parsed->unit.empty()) return parsed->number;
  if (parsed->unit == "KiB") return multiply(parsed->number, std::uint64_t{1} << 10);
  if (parsed->unit == "MiB") return multiply(parsed->number, std::uint64_t{1} << 20);
  if (parsed->unit == "GiB") return multiply(parsed->number, std::uint64_t{1} << 30);
  return std::nullopt;
}

}  // namespace sg::conf
