#include "skew/verdict.h"

namespace sg::skew {

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::served: return "served";
    case Outcome::rerouted: return "rerouted";
    case Outcome::answered: return "answered";
    case Outcome::error: return "error";
  }
  return "error";
}

const char* to_string(ClientBuildState state) {
  switch (state) {
    case ClientBuildState::current: return "current";
    case ClientBuildState::retained: return "retained";
    case ClientBuildState::retired: return "retired";
    case ClientBuildState::unknown: return "unknown";
    case ClientBuildState::preview: return "preview";
  }
  return "unknown";
}

}  // namespace sg::skew
