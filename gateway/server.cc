#include "gateway/server.h"

#include <sched.h>
#include <unistd.h>



namespace sg::gateway {

unsigned resolve_worker_count(unsigned configured) {
  if (configured > 0) return configured;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

Server::Server(std::shared_ptr<const routing::Snapshot> snapshot, AccessLogSink& log_sink, RuntimeReports* reports)
    : snapshot_(std::move(snapshot)), log_sink_(log_sink), reports_(reports) {}

Server::~Server() {
  if (!threads_.empty() && !drained_) drain_and_join();
}

bool Server::start(std::string& error) {
  const conf::Config& config = snapshot_->config();
  const unsigned count = resolve_worker_count(config.workers);
  std::vector<std::vector<BoundListener>> per_worker(count);
  for (const auto& listener : config.listeners) {
    std::vector<BoundListener> bound = bind_listener(listener.address, count, error);
    if (bound.empty()) {
      for (auto& list : per_worker)
        for (auto& b : list) ::close(b.fd);
      return false;
    }
    listener_names_.push_back(bound.front().name);
    for (unsigned i = 0; i < count; ++i) per_worker[i].push_back(bound[i]);
  }
  leaked_.assign(count, 0);
  for (unsigned i = 0; i < count; ++i)
    workers_.push_back(std::make_unique<Worker>(i, snapshot_, std::move(per_worker[i]), &log_sink_, reports_));
  for (unsigned i = 0; i < count; ++i)
    threads_.emplace_back([this, i] { leaked_[i] = workers_[i]->run(); });
  return true;
}

void Server::apply(std::shared_ptr<const routing::Snapshot> snapshot) {
  if (drained_) return;
  snapshot_ = snapshot;
  for (auto& worker : workers_) worker->post_snapshot(snapshot);
}

int Server::drain_and_join() {
  if (drained_) return 0;
  drained_ = true;
  const auto timeout = snapshot_->config().timeouts.drain.count();
  for (auto& worker : workers_) worker->post_drain(static_cast<std::uint64_t>(timeout));
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  int leaked = 0;
  for (int n : leaked_) leaked += n;
  return leaked;
}

}  // namespace sg::gateway
