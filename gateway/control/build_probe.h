// One probe of one upstream of a build (issue 14 item 6): `GET /` as a
// browser navigation, and the deployment ID the answer reports
// (deployment_id_reader.h). Runs on the main loop and never blocks it:
// connect, write and read are callbacks, one timer bounds the whole probe,
// and at most kProbeBodyBytes of the body are looked at.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "conf/address.h"
#include "gateway/control/deployment_id_reader.h"

namespace sg::gateway {

// The whole probe (connect, request, answer). Below the CLI's 5 s I/O
// timeout and the admin connection's 10 s, so a register or promote is
// always answered; a production Next.js server renders `/` far faster once
// it accepts connections.
inline constexpr std::chrono::milliseconds kProbeTimeout{3000};
// `<html>` is the first tag of a document; 64 KiB is far more than any
// doctype and comments before it.
inline constexpr std::size_t kProbeBodyBytes = 64 * 1024;

struct ProbeResult {
  enum class Outcome {
    reported,      // the answer names a deployment ID: `id`, read from `source`
    no_id,         // an answer without one
    unreachable,   // no connection
    timed_out,     // no complete answer within the timeout
    bad_response,  // not HTTP/1.x we can read
  };
  Outcome outcome = Outcome::no_id;
  std::string id;
  IdSource source = IdSource::header;
  int status = 0;      // the answer's status, when one came
  std::string detail;  // for logs: why no ID, or the socket error
};

std::string_view to_string(ProbeResult::Outcome outcome);

// A probe in flight. `done` runs exactly once on the loop unless cancel()
// is called first; the probe frees itself once its handles are closed.
class BuildProbe {
 public:
  using Done = std::function<void(const ProbeResult&)>;
  // No callback any more; the socket closes at once.
  virtual void cancel() = 0;

 protected:
  ~BuildProbe() = default;
};

// `host` is the Host header (one of the app's names).
BuildProbe* start_build_probe(uv_loop_t* loop, const conf::SocketAddress& address, const std::string& host,
                              std::chrono::milliseconds timeout, BuildProbe::Done done);

}  // namespace sg::gateway
