#include "gateway/control/dns_resolver.h"

#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>

#include <algorithm>
#include <climits>

#include "gateway/control/upstream_names.h"

namespace sg::gateway {
namespace {

// c-ares retransmits: 1 s, then 2 s per server (it doubles per try), so a
// dead server is given up within about 3 s and the name counted as failed.
constexpr int kTimeoutMs = 1000;
constexpr int kTries = 2;

template <typename Handle>
void close_and_delete(Handle* handle) {
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
}

std::string text_of(int family, const void* bytes) {
  char buffer[INET6_ADDRSTRLEN];
  return inet_ntop(family, bytes, buffer, sizeof buffer) ? std::string(buffer) : std::string();
}

DnsAnswer answer_of(int status, const ares_addrinfo* result) {
  DnsAnswer answer;
  if (status != ARES_SUCCESS) {
    answer.error = ares_strerror(status);
    return answer;
  }
  int ttl = INT_MAX;
  for (const ares_addrinfo_node* node = result ? result->nodes : nullptr; node != nullptr; node = node->ai_next) {
    conf::SocketAddress address;
    if (node->ai_family == AF_INET && node->ai_addr) {
      address.family = conf::SocketAddress::Family::ipv4;
      address.host = text_of(AF_INET, &reinterpret_cast<const sockaddr_in*>(node->ai_addr)->sin_addr);
    } else if (node->ai_family == AF_INET6 && node->ai_addr) {
      address.family = conf::SocketAddress::Family::ipv6;
      address.host = text_of(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(node->ai_addr)->sin6_addr);
    } else {
      continue;
    }
    if (address.host.empty()) continue;
    answer.addresses.push_back(std::move(address));
    ttl = std::min(ttl, std::max(node->ai_ttl, 0));
  }
  if (answer.addresses.empty()) {
    answer.error = "no A or AAAA records";
    return answer;
  }
  answer.ok = true;
  answer.addresses = normalized_addresses(std::move(answer.addresses));
  answer.ttl = std::chrono::seconds(ttl);
  return answer;
}

}  // namespace

// One ares_getaddrinfo in flight: c-ares calls on_lookup exactly once for
// it, with ARES_EDESTRUCTION when the channel goes away first.
struct DnsResolver::Lookup {
  DnsResolver* self;
  std::string name;
};

struct DnsResolver::Poll {
  uv_poll_t handle;
  DnsResolver* self;
  int fd;
};

void DnsResolver::close_poll(Poll* poll) {
  uv_poll_stop(&poll->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll->handle), [](uv_handle_t* h) { delete static_cast<Poll*>(h->data); });
}

DnsResolver::DnsResolver(uv_loop_t* loop, OnAnswer on_answer) : loop_(loop), on_answer_(std::move(on_answer)) {
  ares_library_init(ARES_LIB_INIT_ALL);
  timeout_ = new uv_timer_t;
  uv_timer_init(loop_, timeout_);
  timeout_->data = this;
  schedule_ = new uv_timer_t;
  uv_timer_init(loop_, schedule_);
  schedule_->data = this;
}

DnsResolver::~DnsResolver() {
  stop();
  ares_library_cleanup();
}

bool DnsResolver::configure(const conf::DnsConfig& dns, std::string& error) {
  if (stopped_) return false;
  ares_options options{};
  options.sock_state_cb = on_sock_state;
  options.sock_state_cb_data = this;
  options.timeout = kTimeoutMs;
  options.tries = kTries;
  ares_channel channel = nullptr;
  // Reads /etc/resolv.conf (search list, ndots, servers) once, here.
  int rc = ares_init_options(&channel, &options, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (rc != ARES_SUCCESS) {
    error = std::string("dns: cannot set up the resolver: ") + ares_strerror(rc);
    return false;
  }
  if (!dns.servers.empty()) {
    std::string csv;  // "127.0.0.1:5353,[::1]:53"
    for (const conf::SocketAddress& server : dns.servers) csv += (csv.empty() ? "" : ",") + server.to_string();
    rc = ares_set_servers_ports_csv(channel, csv.c_str());
    if (rc != ARES_SUCCESS) {
      ares_destroy(channel);
      error = "dns.servers: " + std::string(ares_strerror(rc));
      return false;
    }
  }
  destroy_channel();  // lookups in flight end with ARES_EDESTRUCTION
  channel_ = channel;
  refresh_ = dns.refresh;
  const std::uint64_t now = uv_now(loop_);
  for (auto& [name, state] : names_) {
    if (!state.in_flight) continue;
    state.in_flight = false;  // asked again on the new channel
    state.due_ms = now;
  }
  arm_schedule();
  return true;
}

void DnsResolver::destroy_channel() {
  if (channel_ == nullptr) return;
  ares_channel channel = channel_;
  channel_ = nullptr;
  ares_destroy(channel);
  for (auto& [fd, poll] : polls_) close_poll(poll);
  polls_.clear();
  if (timeout_) uv_timer_stop(timeout_);
}

void DnsResolver::track(const std::set<std::string>& names) {
  if (stopped_) return;
  const auto awaited = [this](const std::string& name) {
    return std::any_of(waiters_.begin(), waiters_.end(), [&name](const Waiter& w) { return w.names.contains(name); });
  };
  for (auto it = names_.begin(); it != names_.end();) {
    if (names.contains(it->first) || awaited(it->first)) {
      ++it;
    } else {
      it = names_.erase(it);  // an answer still in flight finds no entry
    }
  }
  const std::uint64_t now = uv_now(loop_);
  for (const std::string& name : names) names_.try_emplace(name, Name{false, false, false, now});
  arm_schedule();
}

void DnsResolver::start_refresh() {
  refreshing_ = true;
  arm_schedule();
}

void DnsResolver::when_answered(const std::set<std::string>& names, std::chrono::milliseconds wait,
                                std::function<void()> done) {
  if (stopped_) return;
  const std::uint64_t now = uv_now(loop_);
  for (const std::string& name : names) names_.try_emplace(name, Name{false, false, false, now});
  auto* deadline = new uv_timer_t;
  uv_timer_init(loop_, deadline);
  deadline->data = this;
  uv_timer_start(deadline, on_deadline, static_cast<std::uint64_t>(wait.count()), 0);
  waiters_.push_back({names, std::move(done), deadline});
  arm_schedule();
  run_waiters();
}

void DnsResolver::on_deadline(uv_timer_t* timer) { static_cast<DnsResolver*>(timer->data)->finish_waiter(timer); }

void DnsResolver::finish_waiter(uv_timer_t* deadline) {
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (it->deadline != deadline) continue;
    std::function<void()> done = std::move(it->done);
    waiters_.erase(it);
    close_and_delete(deadline);
    done();
    return;
  }
}

void DnsResolver::run_waiters() {
  std::vector<uv_timer_t*> ready;
  for (const Waiter& waiter : waiters_) {
    const bool all = std::all_of(waiter.names.begin(), waiter.names.end(), [this](const std::string& name) {
      const auto found = names_.find(name);
      return found == names_.end() || found->second.answered;  // forgotten: nothing to wait for
    });
    if (all) ready.push_back(waiter.deadline);
  }
  // One at a time: a `done` may add waiters or stop the resolver.
  for (uv_timer_t* deadline : ready) {
    if (stopped_) return;
    finish_waiter(deadline);
  }
}

// Lookups start only from this timer's callback (a zero delay when a name is
// new): a hosts-file answer comes back inside ares_getaddrinfo, and the
// answer's consumer may call track() again, which must never find itself
// inside its own loop.
void DnsResolver::arm_schedule() {
  if (stopped_ || schedule_ == nullptr) return;
  std::optional<std::uint64_t> earliest;
  for (const auto& [name, state] : names_) {
    if (state.in_flight || (state.answered && !refreshing_)) continue;
    if (!earliest || state.due_ms < *earliest) earliest = state.due_ms;
  }
  if (!earliest) {
    uv_timer_stop(schedule_);
    return;
  }
  const std::uint64_t now = uv_now(loop_);
  uv_timer_start(schedule_, on_schedule, *earliest > now ? *earliest - now : 0, 0);
}

void DnsResolver::on_schedule(uv_timer_t* timer) {
  auto* self = static_cast<DnsResolver*>(timer->data);
  const std::uint64_t now = uv_now(self->loop_);
  std::vector<std::string> due;
  for (const auto& [name, state] : self->names_)
    if (!state.in_flight && (!state.answered || self->refreshing_) && state.due_ms <= now) due.push_back(name);
  for (const std::string& name : due) {
    if (self->stopped_) return;
    self->ask(name);
  }
  self->arm_schedule();
}

void DnsResolver::ask(const std::string& name) {
  auto found = names_.find(name);
  if (found == names_.end() || found->second.in_flight) return;
  if (channel_ == nullptr) {
    answered(name, DnsAnswer{false, {}, std::nullopt, "the resolver is not set up"});
    return;
  }
  found->second.in_flight = true;
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;  // A and AAAA: every address joins the round robin
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = ARES_AI_NOSORT;  // the set is sorted by value (normalized_addresses)
  ares_getaddrinfo(channel_, name.c_str(), nullptr, &hints, on_lookup, new Lookup{this, name});
  arm_timeout();
}

void DnsResolver::on_lookup(void* arg, int status, int, ares_addrinfo* result) {
  auto* lookup = static_cast<Lookup*>(arg);
  const DnsAnswer answer = answer_of(status, result);
  if (result) ares_freeaddrinfo(result);
  DnsResolver* self = lookup->self;
  const std::string name = std::move(lookup->name);
  delete lookup;
  // The channel is being destroyed (stop, or configure() made a new one,
  // which asks again): no answer.
  if (status == ARES_EDESTRUCTION) return;
  self->answered(name, answer);
}

void DnsResolver::answered(const std::string& name, const DnsAnswer& answer) {
  auto found = names_.find(name);
  if (found == names_.end()) return;  // forgotten meanwhile
  Name& state = found->second;
  state.in_flight = false;
  state.answered = true;
  state.ever_ok = state.ever_ok || answer.ok;
  // A name that never resolved is asked again soon (a container's name often
  // appears a moment after skewgate starts); one with a last good set at the
  // usual pace.
  const auto wait = state.ever_ok ? next_lookup_in(refresh_, answer.ok ? answer.ttl : std::nullopt)
                                  : std::chrono::milliseconds(conf::kMinDnsRefresh);
  state.due_ms = uv_now(loop_) + static_cast<std::uint64_t>(wait.count());
  on_answer_(name, answer);  // may track() or stop(): `state` is not used after it
  if (stopped_) return;
  run_waiters();
  arm_schedule();
}

void DnsResolver::on_sock_state(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<DnsResolver*>(data);
  auto found = self->polls_.find(fd);
  if (!readable && !writable) {
    if (found == self->polls_.end()) return;
    // Stopped before c-ares closes the fd (libuv's rule for uv_poll).
    close_poll(found->second);
    self->polls_.erase(found);
    return;
  }
  Poll* poll = found == self->polls_.end() ? nullptr : found->second;
  if (poll == nullptr) {
    poll = new Poll{};
    poll->self = self;
    poll->fd = fd;
    if (uv_poll_init_socket(self->loop_, &poll->handle, fd) != 0) {
      delete poll;  // never initialised: no close callback
      return;       // c-ares times the query out
    }
    poll->handle.data = poll;
    self->polls_.emplace(fd, poll);
  }
  uv_poll_start(&poll->handle, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0), on_poll);
}

void DnsResolver::on_poll(uv_poll_t* handle, int status, int events) {
  auto* poll = static_cast<Poll*>(handle->data);
  DnsResolver* self = poll->self;
  const int fd = poll->fd;  // `poll` may be closed by what follows
  if (self->channel_ == nullptr) return;
  // An error on the socket: let c-ares read it and fail or retry the query.
  const bool readable = status < 0 || (events & UV_READABLE);
  const bool writable = status < 0 || (events & UV_WRITABLE);
  ares_process_fd(self->channel_, readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
  if (!self->stopped_) self->arm_timeout();
}

void DnsResolver::arm_timeout() {
  if (channel_ == nullptr || timeout_ == nullptr) return;
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) {
    uv_timer_stop(timeout_);  // nothing in flight
    return;
  }
  const std::uint64_t ms = static_cast<std::uint64_t>(tv.tv_sec) * 1000 + (static_cast<std::uint64_t>(tv.tv_usec) + 999) / 1000;
  uv_timer_start(timeout_, on_timeout, ms, 0);
}

void DnsResolver::on_timeout(uv_timer_t* timer) {
  auto* self = static_cast<DnsResolver*>(timer->data);
  if (self->channel_ == nullptr) return;
  ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  if (!self->stopped_) self->arm_timeout();
}

void DnsResolver::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (Waiter& waiter : waiters_) close_and_delete(waiter.deadline);
  waiters_.clear();
  destroy_channel();
  names_.clear();
  if (timeout_) close_and_delete(timeout_);
  if (schedule_) close_and_delete(schedule_);
  timeout_ = nullptr;
  schedule_ = nullptr;
}

}  // namespace sg::gateway
