// YAML -> Config with every problem reported at once, each naming file,
// line, column and key. Never throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace sg::conf {

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no position (missing file)
  int column = 0;  // 1-based
  std::string key;      // dotted path, e.g. "apps[0].builds[1].upstreams[0]"
  std::string message;  // what was expected, plus "did you mean 'x'?" for unknown keys

  // "file:line:col: key: message"
  std::string to_string() const;
};

struct LoadResult {
  std::optional<Config> config;  // set only when errors is empty
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
};

LoadResult load_file(const std::string& path);
LoadResult load_string(std::string_view yaml, const std::string& source_name);

// The configuration used when skewgate runs without -c: the demo of the
// README's first command (two builds on 127.0.0.1:3001 and :3002).
std::string_view embedded_default_yaml();

// Values with units: "500ms", "10s", "5m", "2h", "7d"; "512", "64KiB", "10MiB", "1GiB".
std::optional<Duration> parse_duration(std::string_view text);
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace sg::conf
