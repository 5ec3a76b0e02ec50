#include "gateway/net/deadline.h"

#include "gateway/net/stream_io.h"

namespace sg::gateway {

void Deadline::set(uv_loop_t* loop, std::uint64_t ms) {
  clear();
  static_cast<LoopShared*>(loop->data)->deadlines->add(*this, ms);
}

void Deadline::defer(uv_loop_t* loop) {
  clear();
  static_cast<LoopShared*>(loop->data)->deadlines->add_deferred(*this);
}

void DeadlineQueues::add_deferred(Deadline& d) {
  if (closing_ && !check_open_) {
    add(d, 0);
    return;
  }
  if (!check_open_) {
    uv_check_init(loop_, &check_);
    check_.data = this;
    uv_idle_init(loop_, &idle_);
    check_open_ = true;
  }
  DeadlineLink& link = d;
  link.prev = deferred_.prev;
  link.next = &deferred_;
  deferred_.prev->next = &link;
  deferred_.prev = &link;
  uv_check_start(&check_, on_check);  // a no-op while active
  uv_idle_start(&idle_, [](uv_idle_t*) {});
}

// Entries deferred by the callbacks run here too, in the same pass: the
// handle may already have run in this turn's check phase.
void DeadlineQueues::on_check(uv_check_t* handle) {
  auto& self = *static_cast<DeadlineQueues*>(handle->data);
  while (self.deferred_.linked()) {
    auto* d = static_cast<Deadline*>(self.deferred_.next);
    d->clear();
    d->fire_(*d);
  }
  uv_check_stop(handle);
  uv_idle_stop(&self.idle_);
  if (self.closing_ && self.check_open_) self.close_check();  // close() may have closed it from a callback
}

void DeadlineQueues::close_check() {
  check_open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), nullptr);
}

void DeadlineQueues::add(Deadline& d, std::uint64_t ms) {
  Queue& q = queue(ms);
  d.at_ = uv_now(loop_) + ms;
  // The newest deadline of a duration is its latest: the tail keeps the order.
  DeadlineLink& link = d;
  link.prev = q.head.prev;
  link.next = &q.head;
  q.head.prev->next = &link;
  q.head.prev = &link;
  if (link.prev == &q.head) arm(q, d.at_);
}

DeadlineQueues::Queue& DeadlineQueues::queue(std::uint64_t ms) {
  Queue* idle = nullptr;
  for (const auto& q : queues_) {
    if (q->ms == ms && q->open) return *q;
    if (!idle && q->open && !q->head.linked()) idle = q.get();
  }
  // A duration no list has (a reload changed a timeout): an empty list takes
  // it, so the lists stay as many as the durations in use at once.
  if (idle) {
    idle->ms = ms;
    return *idle;
  }
  auto q = std::make_unique<Queue>();
  q->owner = this;
  q->ms = ms;
  uv_timer_init(loop_, &q->timer);
  q->timer.data = q.get();
  q->open = true;
  queues_.push_back(std::move(q));
  return *queues_.back();
}

// As LazyTimer: a timer due earlier than needed is left to fire and re-arm
// for what is then first; only a later one is restarted.
void DeadlineQueues::arm(Queue& q, std::uint64_t at) {
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&q.timer)) && q.due <= at) return;
  const std::uint64_t now = uv_now(loop_);
  q.due = at;
  uv_timer_start(&q.timer, on_timer, at > now ? at - now : 0, 0);
}

void DeadlineQueues::on_timer(uv_timer_t* handle) {
  auto& q = *static_cast<Queue*>(handle->data);
  DeadlineQueues& self = *q.owner;
  const std::uint64_t now = uv_now(self.loop_);
  // The entries due now move to a list of their own first: what a callback
  // sets meanwhile (0 ms included) waits for the next turn. A callback may
  // clear or free any entry: each is unlinked before its callback runs, and
  // the next one is taken from the list anew.
  DeadlineLink due;
  DeadlineLink* last = &q.head;
  while (last->next != &q.head && static_cast<Deadline*>(last->next)->at_ <= now) last = last->next;
  if (last != &q.head) {
    due.next = q.head.next;
    due.prev = last;
    q.head.next = last->next;
    last->next->prev = &q.head;
    due.next->prev = &due;
    last->next = &due;
  }
  while (due.linked()) {
    auto* d = static_cast<Deadline*>(due.next);
    d->clear();
    d->fire_(*d);
  }
  if (q.head.linked()) {
    self.arm(q, static_cast<Deadline*>(q.head.next)->at_);
  } else if (self.closing_) {
    self.close_idle(q);
  }
}

void DeadlineQueues::close() {
  closing_ = true;
  if (check_open_ && !deferred_.linked()) close_check();
  for (const auto& q : queues_)
    if (!q->head.linked()) close_idle(*q);
}

void DeadlineQueues::close_idle(Queue& q) {
  if (!q.open) return;
  q.open = false;
  uv_timer_stop(&q.timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&q.timer), nullptr);
}

std::size_t DeadlineQueues::open_timers() const {
  std::size_t n = 0;
  for (const auto& q : queues_) n += q->open ? 1 : 0;
  return n;
}

}  // namespace sg::gateway
