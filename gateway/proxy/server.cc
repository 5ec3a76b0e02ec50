#include "gateway/proxy/server.h"

#include <sched.h>
#include <algorithm>
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

Server::Server(std::shared_ptr<const routing::Snapshot> snapshot, AccessLogSink& log_sink, RuntimeReports* reports,
               const skew::PinKeyring* keyring)
    : snapshot_(std::move(snapshot)), log_sink_(log_sink), reports_(reports), keyring_(keyring) {}

Server::~Server() {
  if (!threads_.empty() && !drained_) drain_and_join();
  for (auto& s : handover_) ::close(s.fd);
}

// The sockets of one configured listener: those a predecessor passed over
// (the same sockets, queues and all), topped up with freshly bound
// SO_REUSEPORT sockets when it ran fewer workers than we do.
std::vector<BoundListener> Server::sockets_for(const conf::SocketAddress& address, unsigned count,
                                               std::vector<PassedSocket>* passed, std::string& error) {
  std::vector<BoundListener> sockets;
  const std::string name = address.to_string();
  if (passed) {
    for (PassedSocket& p : *passed) {
      if (p.role != "proxy" || p.fd < 0 || p.name != name) continue;
      sockets.push_back({p.fd, p.name, p.is_unix, name});
      p.fd = -1;  // ours now
    }
  }
  if (sockets.size() >= count || (!sockets.empty() && sockets.front().is_unix)) return sockets;
  conf::SocketAddress resolved = address;
  if (!sockets.empty()) resolved = conf::SocketAddress::parse(sockets.front().name).value_or(address);
  std::vector<BoundListener> fresh = bind_listener(resolved, count - static_cast<unsigned>(sockets.size()), error);
  if (fresh.empty()) {
    for (auto& b : sockets) ::close(b.fd);
    return {};
  }
  for (auto& b : fresh) b.config_name = name;
  sockets.insert(sockets.end(), fresh.begin(), fresh.end());
  return sockets;
}

bool Server::start(std::string& error, std::vector<PassedSocket>* passed) {
  const conf::Config& config = snapshot_->config();
  const unsigned count = resolve_worker_count(config.workers);
  std::vector<std::vector<BoundListener>> per_worker(count);
  for (const auto& listener : config.listeners) {
    std::vector<BoundListener> bound = sockets_for(listener.address, count, passed, error);
    if (bound.empty()) {
      for (auto& list : per_worker)
        for (auto& b : list) ::close(b.fd);
      return false;
    }
    listener_names_.push_back(bound.front().name);
    // Every socket gets a worker, even when a predecessor passed more
    // sockets than we have workers: an unserved socket's queue would be lost.
    for (std::size_t i = 0; i < bound.size(); ++i) {
      per_worker[i % count].push_back(bound[i]);
      handover_.push_back({"proxy", bound[i].name, bound[i].is_unix, ::dup(bound[i].fd)});
    }
  }
  leaked_.assign(count, 0);
  board_ = std::make_unique<metrics::StatsBoard>(count);
  for (unsigned i = 0; i < count; ++i)
    workers_.push_back(std::make_unique<Worker>(i, snapshot_, std::move(per_worker[i]), &log_sink_, reports_,
                                                keyring_, board_.get()));
  for (unsigned i = 0; i < count; ++i) {
    workers_[i]->set_tls(tls_);
    threads_.emplace_back([this, i] { leaked_[i] = workers_[i]->run(); });
  }
  return true;
}

bool Server::update_listeners(const conf::Config& next, std::vector<std::string>& notes, std::string& error,
                              std::shared_ptr<const TlsContexts> tls) {
  const conf::Config& running = snapshot_->config();
  const unsigned count = static_cast<unsigned>(workers_.size());
  auto names = [](const conf::Config& c) {
    std::vector<std::string> out;
    for (const auto& l : c.listeners) out.push_back(l.address.to_string());
    return out;
  };
  const std::vector<std::string> before = names(running), after = names(next);
  auto contains = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  // Bind every new listener first: if one fails, nothing changes.
  std::vector<std::vector<BoundListener>> added;
  for (const auto& l : next.listeners) {
    if (contains(before, l.address.to_string())) continue;
    std::vector<BoundListener> bound = bind_listener(l.address, count, error);
    if (bound.empty()) {
      for (auto& list : added)
        for (auto& b : list) ::close(b.fd);
      return false;
    }
    for (auto& b : bound) b.config_name = l.address.to_string();
    added.push_back(std::move(bound));
  }
  std::vector<std::string> removed;
  for (const std::string& name : before)
    if (!contains(after, name)) removed.push_back(name);
  for (auto& bound : added) {
    notes.push_back("listening on " + bound.front().name);
    listener_names_.push_back(bound.front().name);
    for (auto& b : bound) handover_.push_back({"proxy", b.name, b.is_unix, ::dup(b.fd)});
  }
  for (const std::string& name : removed) {
    notes.push_back("stopped listening on " + name);
    std::erase(listener_names_, name);
    std::erase_if(handover_, [&](const PassedSocket& p) {
      if (p.name != name) return false;
      ::close(p.fd);
      return true;
    });
  }
  for (unsigned i = 0; i < count; ++i) {
    std::vector<BoundListener> add;
    for (auto& bound : added) add.push_back(bound[i]);
    if (!add.empty() || !removed.empty() || tls) workers_[i]->post_listener_changes(std::move(add), removed, tls);
  }
  if (tls) tls_ = std::move(tls);
  if (resolve_worker_count(next.workers) != count)
    notes.push_back("workers: the new count applies at the next restart (a hand-over restart drops nothing)");
  return true;
}

std::vector<PassedSocket> Server::handover_sockets() const {
  std::vector<PassedSocket> out;
  for (const auto& s : handover_) out.push_back({s.role, s.name, s.is_unix, ::dup(s.fd)});
  return out;
}

void Server::apply(std::shared_ptr<const routing::Snapshot> snapshot) {
  if (drained_) return;
  snapshot_ = snapshot;
  for (auto& worker : workers_) worker->post_snapshot(snapshot);
}

int Server::drain_and_join() {
  if (drained_) return 0;
  drained_ = true;
  // Our dups would keep the sockets listening (the kernel would go on
  // completing handshakes nobody accepts): close them first.
  for (auto& socket : handover_) ::close(socket.fd);
  handover_.clear();
  const auto timeout = snapshot_->config().timeouts.drain.count();
  for (auto& worker : workers_) worker->post_drain(static_cast<std::uint64_t>(timeout));
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  int leaked = 0;
  for (int n : leaked_) leaked += n;
  return leaked;
}

}  // namespace sg::gateway
