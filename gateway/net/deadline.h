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
  void clear() { unlink(); }
  bool armed() const { return linked(); }

 private:
  friend class DeadlineQueues;
  std::uint64_t at_ = 0;  // loop time (uv_now) it fires at
  Fire fire_;
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

  uv_loop_t* loop_;
  // Few durations (a config has about six): a linear search beats a map.
  // Queues never move (their uv_timer_t is registered with the loop).
  std::vector<std::unique_ptr<Queue>> queues_;
  bool closing_ = false;
};

}  // namespace sg::gateway
