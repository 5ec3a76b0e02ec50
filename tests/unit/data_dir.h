// Fixture files of the unit tests (tests/unit/data), found next to this
// header so the tests run from any working directory.
#pragma once

#include <string>
#include <string_view>

namespace sg::test {

inline std::string unit_data(std::string_view name) {
  std::string dir(__FILE__);
  dir.erase(dir.find_last_of('/') + 1);
  return dir + "data/" + std::string(name);
}

}  // namespace sg::test
