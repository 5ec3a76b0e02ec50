// The per-loop deadline lists (gateway/net/deadline.h) on a real uv loop:
// order of expiry across durations, clear, re-arm (moving a deadline later
// and earlier), a Deadline freed while queued or while others of its batch
// fire, a 0 ms deadline set from a callback (next turn, not the same pass),
// and close() leaving no handle open.
#include <doctest/doctest.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/net/deadline.h"
#include "gateway/net/stream_io.h"

using sg::gateway::Deadline;
using sg::gateway::DeadlineQueues;
using sg::gateway::LoopShared;

namespace {

struct TestLoop {
  uv_loop_t loop;
  std::unique_ptr<DeadlineQueues> queues;
  LoopShared shared;
  TestLoop() {
    uv_loop_init(&loop);
    queues = std::make_unique<DeadlineQueues>(&loop);
    shared.deadlines = queues.get();
    loop.data = &shared;
  }
  // Runs until nothing is armed, closes the lists, and checks no handle is left.
  void finish() {
    uv_run(&loop, UV_RUN_DEFAULT);
    queues->close();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(queues->open_timers() == 0);
    int open = 0;
    uv_walk(&loop, [](uv_handle_t*, void* arg) { ++*static_cast<int*>(arg); }, &open);
    CHECK(open == 0);
    CHECK(uv_loop_close(&loop) == 0);
  }
};

// One named deadline that records when it fired. Its Deadline finds the
// probe as an owner does: a class derived from Deadline, cast back.
struct Probe {
  struct Node : Deadline {
    explicit Node(Probe& p) : Deadline([](Deadline& d) { static_cast<Node&>(d).probe.fired(); }), probe(p) {}
    Probe& probe;
  };
  std::string name;
  std::vector<std::string>* log;
  uv_loop_t* loop;
  Node deadline{*this};
  std::uint64_t set_at = 0;
  std::uint64_t fired_after = 0;
  std::function<void(Probe&)> on_fire;
  Probe(TestLoop& t, std::string n, std::vector<std::string>& l) : name(std::move(n)), log(&l), loop(&t.loop) {}
  void fired() {
    fired_after = uv_now(loop) - set_at;
    log->push_back(name);
    if (on_fire) on_fire(*this);
  }
  void set(std::uint64_t ms) {
    set_at = uv_now(loop);
    deadline.set(loop, ms);
  }
  void defer() { deadline.defer(loop); }
};

static_assert(sizeof(Deadline) == 32, "a Deadline is in every idle connection: two links, a time, a callback");

}  // namespace

TEST_CASE("deadlines: entries of several durations fire in deadline order, each after its time") {
  TestLoop t;
  std::vector<std::string> log;
  Probe a(t, "a60", log), b(t, "b20", log), c(t, "c40", log), d(t, "d20", log), e(t, "e0", log);
  a.set(60);
  b.set(20);
  c.set(40);
  d.set(20);
  e.set(0);
  t.finish();
  CHECK(log == std::vector<std::string>{"e0", "b20", "d20", "c40", "a60"});
  CHECK(b.fired_after >= 20);
  CHECK(c.fired_after >= 40);
  CHECK(a.fired_after >= 60);
  CHECK(!a.deadline.armed());
}

TEST_CASE("deadlines: clear() forgets a deadline; set() again moves it later or earlier") {
  TestLoop t;
  std::vector<std::string> log;
  Probe a(t, "a", log), b(t, "b", log), c(t, "c", log);
  a.set(10);
  b.set(10);
  c.set(10);
  CHECK(b.deadline.armed());
  b.deadline.clear();
  CHECK(!b.deadline.armed());
  a.set(50);  // later: to the tail of the same list
  c.set(5);   // earlier: another list
  t.finish();
  CHECK(log == std::vector<std::string>{"c", "a"});
  CHECK(a.fired_after >= 50);
}

TEST_CASE("deadlines: a callback may free or clear others of its batch, and re-arm itself") {
  TestLoop t;
  std::vector<std::string> log;
  auto a = std::make_unique<Probe>(t, "a", log);
  auto b = std::make_unique<Probe>(t, "b", log);
  Probe c(t, "c", log), d(t, "d", log);
  int rearmed = 0;
  a->on_fire = [&](Probe&) { b.reset(); };  // b was due in the same pass
  // c takes d (due in the same pass) off the list, then sets it for 0 ms:
  // it fires on the next turn, and re-arms itself once from its callback.
  c.on_fire = [&](Probe&) {
    d.deadline.clear();
    d.set(0);
  };
  d.on_fire = [&](Probe& self) {
    if (rearmed++ == 0) self.set(10);
  };
  a->set(10);
  b->set(10);
  c.set(10);
  d.set(10);
  t.finish();
  CHECK(log == std::vector<std::string>{"a", "c", "d", "d"});
  CHECK(rearmed == 2);
}

TEST_CASE("deadlines: a Deadline destroyed while queued never fires; 0 ms set from a callback waits a turn") {
  TestLoop t;
  std::vector<std::string> log;
  {
    Probe gone(t, "gone", log);
    gone.set(5);
  }
  Probe zero(t, "zero", log);
  int turns = 0;
  zero.on_fire = [&](Probe& self) {
    if (++turns < 3) self.set(0);  // each in a later pass: no endless loop in one
  };
  zero.set(0);
  t.finish();
  CHECK(log == std::vector<std::string>{"zero", "zero", "zero"});
}

TEST_CASE("deadlines: close() with entries queued closes each list's timer once it is empty") {
  TestLoop t;
  std::vector<std::string> log;
  Probe a(t, "a", log), b(t, "b", log);
  a.set(0);
  b.set(30);
  t.queues->close();
  CHECK(t.queues->open_timers() == 2);
  t.finish();
  CHECK(log == std::vector<std::string>{"a", "b"});
}

TEST_CASE("deadlines: a duration no longer used gives its list to a new one (reloads do not grow the lists)") {
  TestLoop t;
  std::vector<std::string> log;
  Probe a(t, "a", log);
  for (std::uint64_t ms = 1; ms <= 20; ++ms) {
    a.set(ms);
    uv_run(&t.loop, UV_RUN_DEFAULT);
  }
  CHECK(log.size() == 20);
  CHECK(t.queues->open_timers() == 1);
  t.finish();
}

TEST_CASE("deadlines: defer() fires in the same turn's check phase, never inside the caller") {
  TestLoop t;
  std::vector<std::string> log;
  // Turns counted by a prepare handle (it runs after the timers, before the
  // poll): a timer callback sees n, the check phase of its turn n + 1.
  uv_prepare_t prepare;
  int turns = 0;
  uv_prepare_init(&t.loop, &prepare);
  prepare.data = &turns;
  uv_prepare_start(&prepare, [](uv_prepare_t* h) { ++*static_cast<int*>(h->data); });
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare));
  Probe start(t, "start", log), deferred(t, "deferred", log), chained(t, "chained", log),
      cancelled(t, "cancelled", log);
  auto gone = std::make_unique<Probe>(t, "gone", log);
  int start_turn = -1, deferred_turn = -1, chained_turn = -1;
  start.on_fire = [&](Probe&) {
    start_turn = turns;
    deferred.defer();
    cancelled.defer();
    gone->defer();
    CHECK(log == std::vector<std::string>{"start"});  // not from inside the caller
    cancelled.deadline.clear();
    gone.reset();
  };
  // Deferred from a deferred callback: in the same pass, not a turn later.
  deferred.on_fire = [&](Probe&) {
    deferred_turn = turns;
    chained.defer();
  };
  chained.on_fire = [&](Probe&) { chained_turn = turns; };
  start.set(0);
  uv_run(&t.loop, UV_RUN_DEFAULT);  // returns: nothing keeps the loop once all ran
  CHECK(log == std::vector<std::string>{"start", "deferred", "chained"});
  CHECK(deferred_turn == start_turn + 1);
  CHECK(chained_turn == start_turn + 1);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare), nullptr);
  t.finish();
}

TEST_CASE("deadlines: defer() after close() still fires, and no handle is left") {
  TestLoop t;
  std::vector<std::string> log;
  Probe before(t, "before", log), after(t, "after", log);
  before.defer();
  t.queues->close();  // an entry is waiting: the check handle stays until it ran
  uv_run(&t.loop, UV_RUN_NOWAIT);
  CHECK(log == std::vector<std::string>{"before"});
  after.defer();  // closing: the 0 ms path
  t.finish();
  CHECK(log == std::vector<std::string>{"before", "after"});
}
