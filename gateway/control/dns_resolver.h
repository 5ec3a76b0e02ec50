// Upstream host names looked up with c-ares on the control loop (issue 17).
//
// Why c-ares and not uv_getaddrinfo: getaddrinfo(3) gives no TTL, so a
// record's lifetime could not bound the refresh; and libuv runs each
// uv_getaddrinfo on its thread pool (4 threads by default), where a lookup
// that stalls on an unreachable server holds a thread for the resolver's
// whole timeout and, with a few names, delays every other pool job (file
// reads of the control plane included). c-ares speaks DNS itself over
// non-blocking sockets: its sockets are watched with uv_poll and its
// retransmit timeouts driven by one uv_timer (ares_sock_state_cb /
// ares_timeout / ares_process_fd), so a lookup costs a few callbacks on the
// control loop and never a thread. Worker loops never see DNS.
//
// Each tracked name is asked for A and AAAA (ares_getaddrinfo, AF_UNSPEC),
// again after upstream_names.h's next_lookup_in (dns.refresh, sooner when
// the TTL is shorter, at least 1 s); a name that never resolved, every 1 s. Every answer, good or failed, goes to
// `on_answer`; keeping the last good set is the caller's business.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conf/config.h"

struct ares_channeldata;
struct ares_addrinfo;

namespace sg::gateway {

struct DnsAnswer {
  bool ok = false;
  std::vector<conf::SocketAddress> addresses;  // port 0, normalized (upstream_names.h)
  std::optional<std::chrono::seconds> ttl;     // the smallest of the records'
  std::string error;                           // c-ares' reason when !ok
};

class DnsResolver {
 public:
  using OnAnswer = std::function<void(const std::string& name, const DnsAnswer& answer)>;

  DnsResolver(uv_loop_t* loop, OnAnswer on_answer);
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // (Re)makes the channel: `dns.servers`, else /etc/resolv.conf. Lookups in
  // flight are dropped (asked again at once on the new channel). False with
  // `error` (then the previous channel, if any, stays).
  bool configure(const conf::DnsConfig& dns, std::string& error);
  // The names to keep fresh: new ones are asked now, gone ones forgotten.
  void track(const std::set<std::string>& names);
  // Periodic refresh on: before it, names are asked once (start-up runs the
  // loop until nothing is left on it, so no timer may wait there).
  void start_refresh();
  // `done` runs once each of `names` (tracked from now on) has had an
  // answer, good or failed, since it was first tracked, or after `wait`,
  // whichever comes first; at once when all have (and then before this
  // returns). Never after stop().
  void when_answered(const std::set<std::string>& names, std::chrono::milliseconds wait, std::function<void()> done);
  void stop();

 private:
  struct Name {
    bool in_flight = false;
    bool answered = false;
    bool ever_ok = false;      // some answer had addresses
    std::uint64_t due_ms = 0;  // uv_now of the next lookup
  };
  struct Lookup;
  struct Poll;
  static void on_sock_state(void* data, int fd, int readable, int writable);
  static void on_poll(uv_poll_t* handle, int status, int events);
  static void on_timeout(uv_timer_t* timer);
  static void on_schedule(uv_timer_t* timer);
  static void on_lookup(void* arg, int status, int timeouts, ::ares_addrinfo* result);
  void ask(const std::string& name);
  void answered(const std::string& name, const DnsAnswer& answer);
  void arm_timeout();
  void arm_schedule();
  void destroy_channel();
  static void close_poll(Poll* poll);
  void run_waiters();

  uv_loop_t* loop_;
  OnAnswer on_answer_;
  ares_channeldata* channel_ = nullptr;
  conf::Duration refresh_{std::chrono::seconds(5)};
  std::map<std::string, Name> names_;
  std::map<int, Poll*> polls_;  // by socket; each freed in its close callback
  uv_timer_t* timeout_ = nullptr;   // c-ares' retransmits; freed in its close callback
  uv_timer_t* schedule_ = nullptr;  // the next due lookup; likewise
  bool refreshing_ = false;
  bool stopped_ = false;
  struct Waiter {
    std::set<std::string> names;
    std::function<void()> done;
    uv_timer_t* deadline;  // freed in its close callback
  };
  static void on_deadline(uv_timer_t* timer);
  void finish_waiter(uv_timer_t* deadline);
  std::vector<Waiter> waiters_;
};

}  // namespace sg::gateway
