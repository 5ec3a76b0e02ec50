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

}  // namespace sg::skew
