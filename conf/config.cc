#include "conf/config.h"

namespace sg::conf {

const char* to_string(BuildState state) {
  switch (state) {
    case BuildState::current:
      return "current";
    case BuildState::retained:
      return "retained";
    case BuildState::preview:
      return "preview";
    case BuildState::retired:
      return "retired";
  }
  return "unknown";
}

}  // namespace sg::conf
