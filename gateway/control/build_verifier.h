// A build is what it claims (issue 14 item 6). Before a build is registered
// or promoted (admin API, CLI) and before builds of the config file are used
// (at start, at reload), each of its upstreams is probed (build_probe.h):
// one that reports a deployment ID other than the build's is refused, since
// every tab it served would carry the wrong ID and be sent to reload, again
// and again.
//
// What passes, and why:
// - the build's own ID;
// - no ID at all: apps built without a deployment ID report none, and the
//   check exists to catch a wrong one, not to demand one;
// - no answer (refused, timed out, not HTTP): logged and passed. A deploy
//   registers a build before its processes are up; whether a build can
//   serve is the health checks' business (design.md section 7), and a
//   refusal here would turn a slow start into a failed deploy. The promote
//   that follows probes again, by then against a running build.
//
// `verify: false` on a build (YAML, API body) or `--no-verify` (CLI) skips it.
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "gateway/control/build_probe.h"
#include <nlohmann/json_fwd.hpp>

namespace sg::gateway {

struct VerifyTarget {
  std::string app;
  std::string build;  // the registered deployment ID
  std::vector<conf::SocketAddress> upstreams;
  std::string host;   // Host header of the probe
};

struct Mismatch {
  std::string app;
  std::string build;     // registered
  std::string reported;  // as reported (may hold any bytes: print with printable_reported_id)
  IdSource source = IdSource::header;
  std::string upstream;
  // "build 'dpl-b' of app 'shop' reports deployment ID 'dpl-a' (...)": the
  // admin error's message and the log line.
  std::string message() const;
  // {"app","build","registered","reported","source","upstream"}.
  nlohmann::json to_json() const;
};

struct VerifyOutcome {
  std::vector<Mismatch> mismatches;
  std::vector<std::string> notes;  // passes worth a log line (no ID, no answer)
  bool ok() const { return mismatches.empty(); }
};

// One upstream's probe result, judged: a mismatch, a note, or silence (the
// build's own ID).
void judge(const VerifyTarget& target, const conf::SocketAddress& upstream, const ProbeResult& result,
           VerifyOutcome& into);

// The Host a probe sends: the app's first exact host name, else localhost.
std::string probe_host(const conf::AppConfig& app);

// Builds of `registry: config` apps to probe at start: every build not
// retired and not `verify: false`.
std::vector<VerifyTarget> targets_at_start(const conf::Config& config);
// At a reload from `running` to `next`: the builds that are new, whose
// upstreams changed, or that become current (a promote written in the file).
std::vector<VerifyTarget> targets_at_reload(const conf::Config& running, const conf::Config& next);

class BuildVerifier {
 public:
  using Done = std::function<void(VerifyOutcome)>;
  virtual ~BuildVerifier() = default;
  // Probes every upstream of every target; `done` runs once, when all have
  // answered (it may run before verify() returns when there is nothing to
  // probe).
  virtual void verify(std::vector<VerifyTarget> targets, Done done) = 0;
  // Cancels what is in flight: those `done`s never run.
  virtual void stop() = 0;
};

// The real one, on `loop`, at most kMaxProbesInFlight connections at once:
// a start with n builds behind a black hole waits ceil(n / 64) probe
// timeouts, and a file of any size opens a bounded number of sockets.
class ProbingVerifier final : public BuildVerifier {
 public:
  static constexpr std::size_t kMaxProbesInFlight = 64;
  explicit ProbingVerifier(uv_loop_t* loop, std::chrono::milliseconds timeout = kProbeTimeout);
  ~ProbingVerifier() override;
  void verify(std::vector<VerifyTarget> targets, Done done) override;
  void stop() override;

 private:
  struct Run;
  void pump(Run& run);
  void finished(Run& run);
  uv_loop_t* loop_;
  std::chrono::milliseconds timeout_;
  std::list<std::unique_ptr<Run>> runs_;
};

}  // namespace sg::gateway
