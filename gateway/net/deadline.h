// Deadlines without a libuv handle each: the timeouts of a worker's
// connections come in a few durations (client_header, client_idle,
// client_send, ...), and for one duration the deadlines fall in the order
// they were set. So each duration keeps a FIFO list, sorted by deadline for
// free, and one uv_timer_t per list serves every connection on it (h2o's
// h2o_timeout_t; nginx keeps an rbtree of timers). A connection holds a
// 32-byte Deadline instead of a LazyTimer's 152-byte uv_timer_t, and needs
// no close callback for it: setting, moving and clearing are list
// operations. The lists are the loop's (LoopShared::deadlines, stream_io.h).
//
// set() replaces the deadline, clear() forgets it; the fire callback runs
// at most once per set(), never after clear() or destruction, and may set,
// clear or free any Deadline (its own included). The callback gets the
// Deadline itself, not an owner pointer (8 bytes less in every idle
// connection): the owner derives from Deadline, or from a class that does,
// and casts back.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace sg::gateway {

class DeadlineQueues;

// The links of one list entry; a list's own head is one too (circular).
struct DeadlineLink {
  DeadlineLink* prev = this;
  DeadlineLink* next = this;
  bool linked() const { return next != this; }
  void unlink() {
    prev->next = next;
    next->prev = prev;
    prev = next = this;
  }
};

class Deadline : private DeadlineLink {
 public:
  using Fire = void (*)(Deadline& deadline);

  explicit Deadline(Fire fire) : fire_(fire) {}
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  ~Deadline() { clear(); }

  // Fires `ms` from now (0: on the loop's next turn), whatever was set
  // before. `loop`'s data is its LoopShared, whose deadline lists are used.
  void set(uv_loop_t* loop, std::uint64_t ms);
  // Fires in this turn's check phase, after every I/O callback of the turn
  // (or at once, in the check phase, when called from it), whatever was set
  // before: a deferred free. Unlike set(loop, 0) it needs no timer start and
  // stop and no extra loop turn (about 600 instructions per closed connection).
  void defer(uv_loop_t* loop);
  void clear() { unlink(); }
  bool armed() const { return linked(); }

 private:
  friend class DeadlineQueues;
  std::uint64_t at_ = 0;  // loop time (uv_now) it fires at
  Fire fire_;
};

// A Deadline that calls back its owner, for objects with several deadlines
// (an h2 connection has three, a TLS transport two), which cannot each
// derive from Deadline. 24 bytes more than a Deadline, 128 less than the
// LazyTimer they replace.
class OwnedDeadline : public Deadline {
 public:
  using OwnerFire = void (*)(void* owner);
  OwnedDeadline() : Deadline(&OwnedDeadline::dispatch) {}
  void init(uv_loop_t* loop, void* owner, OwnerFire fire) {
    loop_ = loop;
    owner_ = owner;
    owner_fire_ = fire;
  }
  void set(std::uint64_t ms) { Deadline::set(loop_, ms); }
  void defer() { Deadline::defer(loop_); }

 private:
  static void dispatch(Deadline& d) {
    auto& self = static_cast<OwnedDeadline&>(d);
    self.owner_fire_(self.owner_);
  }
  uv_loop_t* loop_ = nullptr;
  void* owner_ = nullptr;
  OwnerFire owner_fire_ = nullptr;
};

// The per-loop lists, one per duration, each with its uv_timer_t. Owned by
// the loop's owner (the worker); close() once no connection can set a
// deadline any more: the timers close when their lists are empty.
class DeadlineQueues {
 public:
  explicit DeadlineQueues(uv_loop_t* loop) : loop_(loop) {}
  DeadlineQueues(const DeadlineQueues&) = delete;
  DeadlineQueues& operator=(const DeadlineQueues&) = delete;
  // The handles must have closed (close() and the loop ran) or never opened.
  ~DeadlineQueues() = default;

  void add(Deadline& d, std::uint64_t ms);
  void add_deferred(Deadline& d);
  // Closes every list's timer once the list is empty (at once when it is).
  void close();
  // Open uv_timer_t handles (tests).
  std::size_t open_timers() const;

 private:
  struct Queue {
    DeadlineLink head;
    uv_timer_t timer;
    DeadlineQueues* owner = nullptr;
    std::uint64_t ms = 0;
    std::uint64_t due = 0;  // when the timer was last started for; 0: not started
    bool open = false;
  };

  Queue& queue(std::uint64_t ms);
  void arm(Queue& q, std::uint64_t at);
  static void on_timer(uv_timer_t* handle);
  void close_idle(Queue& q);
  static void on_check(uv_check_t* handle);
  void close_check();

  uv_loop_t* loop_;
  // Deadline::defer()'s entries, run by check_ (active only while there are
  // some). idle_ (no callback work) is active alongside: it keeps the poll
  // phase from blocking when an entry is deferred before it (from a timer),
  // as check handles alone do not. After close() both are gone and defer()
  // takes the 0 ms path.
  DeadlineLink deferred_;
  uv_check_t check_{};
  uv_idle_t idle_{};
  bool check_open_ = false;
  // Few durations (a config has about six): a linear search beats a map.
  // Queues never move (their uv_timer_t is registered with the loop).
  std::vector<std::unique_ptr<Queue>> queues_;
  bool closing_ = false;
};

}  // namespace sg::gateway
