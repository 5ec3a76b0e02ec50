// Gives a worker's free heap pages back to the kernel once a burst of
// requests is over. A request's memory (its exchange, heads, buffers) is
// freed when it ends, but glibc keeps freed memory inside its heap: after
// 10,000 clients sent one request each, 256 at a time, the pages of those
// 256 requests stayed resident (tests/bench/run.sh idle, request mode).
// malloc_trim(0) returns every whole free page of every arena
// (MADV_DONTNEED). It runs once no connection of the loop has been busy for
// kQuietMs (the recycler lent nothing: Recycler::lent() == 0), and at most
// once per kMinIntervalMs: a worker that is never idle never pays for it,
// one that is often idle at most that often. Before trimming, the recycler
// and whatever the owner hooked (set_shed: the worker's head pool) free what
// they kept for the next burst, or its pages could not go back.
#pragma once

#include <uv.h>

#include <cstdint>

#include "gateway/net/deadline.h"

namespace sg::gateway {

class Recycler;

class HeapTrim : private Deadline {
 public:
  static constexpr std::uint64_t kQuietMs = 250;
  // 10 s left the pages of a burst resident whenever a short quiet spell
  // had trimmed just before it (idle request mode: 538 or 646 B per
  // connection from run to run); a trim of an already trimmed heap only
  // walks its free lists.
  static constexpr std::uint64_t kMinIntervalMs = 1'000;

  HeapTrim(uv_loop_t* loop, Recycler& recycler);
  HeapTrim(const HeapTrim&) = delete;
  HeapTrim& operator=(const HeapTrim&) = delete;

  // The last busy connection went idle (the recycler got its last block back).
  void quiet() {
    if (!stopped_) set(loop_, kQuietMs);
  }
  // No trim from now on (the loop is ending: its deadline lists close).
  void stop() {
    stopped_ = true;
    clear();
  }
  // Called before each trim, to free memory kept for reuse above the recycler.
  void set_shed(void (*shed)(void* owner), void* owner) {
    shed_ = shed;
    shed_owner_ = owner;
  }
  bool pending() const { return armed(); }
  unsigned trims() const { return trims_; }

 private:
  void fire();

  uv_loop_t* loop_;
  Recycler& recycler_;
  void (*shed_)(void* owner) = nullptr;
  void* shed_owner_ = nullptr;
  std::uint64_t last_trim_ = 0;  // uv_now of the last trim
  unsigned trims_ = 0;
  bool stopped_ = false;
};

}  // namespace sg::gateway
