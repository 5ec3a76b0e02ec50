// The decision for one request, as data: the gateway executes it and makes
// no product decision of its own (STYLE.md rule 2).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "metrics/reason.h"
#include "routing/client_build.h"
#include "routing/request_kind.h"
#include "routing/snapshot.h"
#include "skew/pin.h"

namespace sg::skew {

// A response skewgate writes itself instead of proxying.
struct Answer {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // content-type etc.; framing is the gateway's
  std::string body;
};

enum class Outcome { served, rerouted, answered, error };
const char* to_string(Outcome outcome);

// The client build's state as metrics label it (client_build_state).
enum class ClientBuildState { current, retained, retired, unknown, preview };
const char* to_string(ClientBuildState state);

struct Verdict {
  const routing::App* app = nullptr;           // nullptr when no app matched
  routing::Classification classification;
  routing::ClientBuild client_build;
  ClientBuildState client_build_state = ClientBuildState::current;
  // Assets of gone builds go to current; a 404 from it is passed on with
  // cache-control: no-store so no cache keeps the miss.
  bool no_store_on_404 = false;
  const routing::Build* target = nullptr;      // set when proxying
  std::optional<Answer> answer;                // set when skewgate answers
  Outcome outcome = Outcome::served;
  metrics::Reason reason = metrics::Reason::none;  // why it was answered or rerouted; none when plainly served
  // The pin cookie's check when the request carried one (for
  // skewgate_pins_total{result}); nullopt when it had none.
  std::optional<PinResult> pin_result;
  // A full Set-Cookie value the response carries ("" = none): a new pin for
  // the build a document is served by, or the pin of a preview link.
  std::string set_cookie;
};

}  // namespace sg::skew
