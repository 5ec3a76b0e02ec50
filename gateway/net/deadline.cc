#include "gateway/net/deadline.h"

#include "gateway/net/stream_io.h"

namespace sg::gateway {

void Deadline::set(uv_loop_t* loop, std::uint64_t ms) {
  clear();
  static_cast<LoopShared*>(loop->data)->deadlines->add(*this, ms);
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
