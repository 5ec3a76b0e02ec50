// A deadline that is cheap to move. Per-request timeouts (header, idle,
// upstream response, pooled idle) would otherwise reorder libuv's timer heap
// two or three times per request: here clearing a deadline or pushing it
// later costs no libuv call; a timer that fires early re-arms itself for the
// rest (nginx's timer handling has the same idea).
#pragma once

#include <uv.h>

#include <cstdint>

namespace sg::gateway {

class LazyTimer {
 public:
  using Fire = void (*)(void* owner);

  void init(uv_loop_t* loop, void* owner, Fire fire) {
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    owner_ = owner;
    fire_ = fire;
  }

  void set(std::uint64_t ms) {
    deadline_ = uv_now(timer_.loop) + ms;
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_)) || due_ > deadline_) start(ms);
  }
  void clear() { deadline_ = 0; }
  bool armed() const { return deadline_ != 0; }

  // Owners close the handle with their other handles; `owner()` finds them.
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&timer_); }
  void* owner() const { return owner_; }
  static LazyTimer* of(uv_handle_t* handle) { return static_cast<LazyTimer*>(handle->data); }

 private:
  void start(std::uint64_t ms) {
    due_ = uv_now(timer_.loop) + ms;
    uv_timer_start(&timer_, on_timer, ms, 0);
  }

  static void on_timer(uv_timer_t* handle) {
    auto* t = static_cast<LazyTimer*>(handle->data);
    if (t->deadline_ == 0) return;
    const std::uint64_t now = uv_now(handle->loop);
    if (now < t->deadline_) {
      t->start(t->deadline_ - now);
      return;
    }
    t->deadline_ = 0;
    t->fire_(t->owner_);
  }

  uv_timer_t timer_;
  std::uint64_t deadline_ = 0;
  std::uint64_t due_ = 0;
  void* owner_ = nullptr;
  Fire fire_ = nullptr;
};

}  // namespace sg::gateway
