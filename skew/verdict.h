// The decision for one request, as data: the gateway executes it and makes
// no product decision of its own (STYLE.md rule 2).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "routing/client_build.h"
#include "routing/snapshot.h"

namespace sg::skew {

// A response skewgate writes itself instead of proxying.
struct Answer {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // content-type etc.; framing is the gateway's
  std::string body;
};

enum class Outcome { served, rerouted, answered, error };
const char* to_string(Outcome outcome);

struct Verdict {
  const routing::App* app = nullptr;           // nullptr when no app matched
  routing::ClientBuild client_build;
  const routing::Build* target = nullptr;      // set when proxying
  std::optional<Answer> answer;                // set when skewgate answers
  Outcome outcome = Outcome::served;
  std::string reason;                          // stable snake_case code, "" when plainly served
};

}  // namespace sg::skew
