// Issue 19: HeapTrim (gateway/net/heap_trim.h) on a real uv loop: the heap
// is trimmed once the recycler's last lent block came back and nothing was
// taken for kQuietMs; a block taken meanwhile cancels it; a second quiet
// spell within kMinIntervalMs waits for the interval; stop() ends it all and
// leaves no handle open.
#include <doctest/doctest.h>
#include <uv.h>

#include <string>

#include "gateway/net/deadline.h"
#include "gateway/net/heap_trim.h"
#include "gateway/net/recycler.h"
#include "gateway/net/stream_io.h"

using sg::gateway::DeadlineQueues;
using sg::gateway::HeapTrim;
using sg::gateway::LoopShared;
using sg::gateway::Recycler;

namespace {

struct TrimLoop {
  uv_loop_t loop;
  DeadlineQueues* queues;
  LoopShared shared;
  Recycler recycler;
  HeapTrim* trim;
  TrimLoop() {
    uv_loop_init(&loop);
    queues = new DeadlineQueues(&loop);
    shared.deadlines = queues;
    shared.recycler = &recycler;
    loop.data = &shared;
    trim = new HeapTrim(&loop, recycler);
    recycler.set_heap_trim(trim);
  }
  ~TrimLoop() {
    trim->stop();
    queues->close();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(queues->open_timers() == 0);
    CHECK(uv_loop_close(&loop) == 0);
    recycler.set_heap_trim(nullptr);
    delete trim;
    delete queues;
  }
  // Runs the loop for `ms` (the deadline lists' timers keep it alive).
  void run_for(std::uint64_t ms) {
    uv_timer_t stop;
    uv_timer_init(&loop, &stop);
    uv_timer_start(&stop, [](uv_timer_t* t) { uv_stop(t->loop); }, ms, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&stop), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
  }
};

}  // namespace

TEST_CASE("heap trim: after the last busy connection went idle, once, and not while one is busy") {
  TrimLoop t;
  void* a = t.recycler.take(100);
  void* b = t.recycler.take(100);
  CHECK(t.recycler.lent() == 2);
  t.recycler.give(a, 100);
  CHECK(!t.trim->pending());  // one still busy
  t.recycler.give(b, 100);
  CHECK(t.recycler.lent() == 0);
  CHECK(t.trim->pending());
  t.run_for(HeapTrim::kQuietMs + 50);
  CHECK(t.trim->trims() == 1);
  CHECK(!t.trim->pending());

  // Busy again before the quiet time ends: no trim at its end.
  void* c = t.recycler.take(100);
  t.recycler.give(c, 100);
  c = t.recycler.take(100);
  t.run_for(HeapTrim::kQuietMs + 50);
  CHECK(t.trim->trims() == 1);
  CHECK(!t.trim->pending());

  // Quiet again within kMinIntervalMs of the last trim (about 600 ms after it): it waits.
  static_assert(HeapTrim::kMinIntervalMs >= 3 * HeapTrim::kQuietMs + 200);
  t.recycler.give(c, 100);
  t.run_for(HeapTrim::kQuietMs + 50);
  CHECK(t.trim->trims() == 1);
  CHECK(t.trim->pending());
  t.trim->stop();
  CHECK(!t.trim->pending());
  void* d = t.recycler.take(100);
  t.recycler.give(d, 100);
  CHECK(!t.trim->pending());  // stopped: never again
}

TEST_CASE("heap trim: what the recycler and the owner's hook kept is freed before the trim") {
  TrimLoop t;
  int shed = 0;
  t.trim->set_shed([](void* count) { ++*static_cast<int*>(count); }, &shed);
  std::string s(1000, 'x');
  t.recycler.give_string(s);
  void* a = t.recycler.take(100);
  void* b = t.recycler.take(200);
  t.recycler.give(a, 100);
  CHECK(t.recycler.kept() == 2);  // the string and the 100-byte block; b is still lent
  t.run_for(HeapTrim::kQuietMs + 50);
  CHECK(t.trim->trims() == 0);  // one connection still busy
  CHECK(shed == 0);
  t.recycler.give(b, 200);
  CHECK(t.recycler.kept() == 3);
  t.run_for(HeapTrim::kQuietMs + 50);
  CHECK(t.trim->trims() == 1);
  CHECK(shed == 1);
  CHECK(t.recycler.kept() == 0);
  std::string taken;
  t.recycler.take_string(taken);
  CHECK(taken.capacity() < 1000);  // none kept: a plain empty string
}
