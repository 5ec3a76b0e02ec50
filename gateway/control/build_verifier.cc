#include "gateway/control/build_verifier.h"

#include <map>

#include <nlohmann/json.hpp>

namespace sg::gateway {
namespace {

using Outcome = ProbeResult::Outcome;

bool same_upstreams(const std::vector<conf::SocketAddress>& a, const std::vector<conf::SocketAddress>& b) {
  return a == b;
}

bool probed(const conf::BuildConfig& build) {
  return build.verify && !(build.state && *build.state == conf::BuildState::retired);
}

VerifyTarget target_of(const conf::AppConfig& app, const conf::BuildConfig& build) {
  return {app.name, build.id, build.upstreams, probe_host(app)};
}

}  // namespace

std::string Mismatch::message() const {
  return "build '" + build + "' of app '" + app + "' reports deployment ID '" + printable_reported_id(reported) +
         "' (" + std::string(to_string(source)) + " from " + upstream + "), not '" + build +
         "': every tab it served would be sent to reload again and again. Point the build at the upstream that "
         "serves " + build + ", or register it under the ID it reports (verify: false skips this check)";
}

nlohmann::json Mismatch::to_json() const {
  return {{"app", app},
          {"build", build},
          {"registered", build},
          {"reported", printable_reported_id(reported)},
          {"source", source == IdSource::header ? "header" : "html"},
          {"upstream", upstream}};
}

void judge(const VerifyTarget& target, const conf::SocketAddress& upstream, const ProbeResult& result,
           VerifyOutcome& into) {
  const std::string where = "app " + target.app + " build " + target.build + " upstream " + upstream.to_string();
  switch (result.outcome) {
    case Outcome::reported:
      if (result.id == target.build) return;
      into.mismatches.push_back({target.app, target.build, result.id, result.source, upstream.to_string()});
      return;
    case Outcome::no_id:
      into.notes.push_back(where + " reports no deployment ID (HTTP " + std::to_string(result.status) + ", " +
                           result.detail + "); passed");
      return;
    case Outcome::unreachable:
    case Outcome::timed_out:
    case Outcome::bad_response:
      into.notes.push_back(where + " could not be verified (" + std::string(to_string(result.outcome)) + ": " +
                           result.detail + "); passed, health checks decide whether it serves");
      return;
  }
}

std::string probe_host(const conf::AppConfig& app) {
  for (const std::string& host : app.hosts)
    if (host.rfind("*.", 0) != 0) return host;
  return "localhost";
}

std::vector<VerifyTarget> targets_at_start(const conf::Config& config) {
  std::vector<VerifyTarget> out;
  for (const conf::AppConfig& app : config.apps) {
    if (app.registry != conf::RegistrySource::config) continue;
    for (const conf::BuildConfig& build : app.builds)
      if (probed(build)) out.push_back(target_of(app, build));
  }
  return out;
}

std::vector<VerifyTarget> targets_at_reload(const conf::Config& running, const conf::Config& next) {
  std::vector<VerifyTarget> out;
  for (const conf::AppConfig& app : next.apps) {
    if (app.registry != conf::RegistrySource::config) continue;
    const conf::AppConfig* before = nullptr;
    for (const conf::AppConfig& a : running.apps)
      if (a.name == app.name && a.registry == conf::RegistrySource::config) before = &a;
    for (const conf::BuildConfig& build : app.builds) {
      if (!probed(build)) continue;
      const conf::BuildConfig* was = nullptr;
      if (before)
        for (const conf::BuildConfig& b : before->builds)
          if (b.id == build.id) was = &b;
      const bool becomes_current = build.id == app.current && (!before || before->current != app.current);
      if (!was || !same_upstreams(was->upstreams, build.upstreams) || becomes_current)
        out.push_back(target_of(app, build));
    }
  }
  return out;
}

// ---- ProbingVerifier ----

struct ProbingVerifier::Run {
  struct Job {
    std::size_t target;
    conf::SocketAddress upstream;
  };
  std::vector<VerifyTarget> targets;
  std::vector<Job> jobs;
  std::size_t next = 0;
  std::size_t answered = 0;
  std::map<std::size_t, BuildProbe*> in_flight;  // by job index
  std::map<std::size_t, ProbeResult> results;    // by job index: judged in job order
  Done done;
};

ProbingVerifier::ProbingVerifier(uv_loop_t* loop, std::chrono::milliseconds timeout)
    : loop_(loop), timeout_(timeout) {}

ProbingVerifier::~ProbingVerifier() { stop(); }

void ProbingVerifier::verify(std::vector<VerifyTarget> targets, Done done) {
  auto run = std::make_unique<Run>();
  run->targets = std::move(targets);
  for (std::size_t t = 0; t < run->targets.size(); ++t)
    for (const auto& upstream : run->targets[t].upstreams) run->jobs.push_back({t, upstream});
  run->done = std::move(done);
  if (run->jobs.empty()) {
    run->done(VerifyOutcome{});
    return;
  }
  runs_.push_back(std::move(run));
  pump(*runs_.back());
}

void ProbingVerifier::pump(Run& run) {
  while (run.next < run.jobs.size() && run.in_flight.size() < kMaxProbesInFlight) {
    const std::size_t index = run.next++;
    const Run::Job& job = run.jobs[index];
    Run* r = &run;
    run.in_flight[index] = start_build_probe(loop_, job.upstream, run.targets[job.target].host, timeout_,
                                             [this, r, index](const ProbeResult& result) {
                                               r->in_flight.erase(index);
                                               r->results[index] = result;
                                               ++r->answered;
                                               if (r->answered == r->jobs.size()) {
                                                 finished(*r);
                                               } else {
                                                 pump(*r);
                                               }
                                             });
  }
}

void ProbingVerifier::finished(Run& run) {
  VerifyOutcome outcome;
  for (const auto& [index, result] : run.results) {
    const Run::Job& job = run.jobs[index];
    judge(run.targets[job.target], job.upstream, result, outcome);
  }
  Done done = std::move(run.done);
  for (auto it = runs_.begin(); it != runs_.end(); ++it) {
    if (it->get() == &run) {
      runs_.erase(it);
      break;
    }
  }
  done(std::move(outcome));
}

void ProbingVerifier::stop() {
  for (auto& run : runs_)
    for (auto& [index, probe] : run->in_flight) probe->cancel();
  runs_.clear();
}

}  // namespace sg::gateway
