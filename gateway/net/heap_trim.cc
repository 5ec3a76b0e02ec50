#include "gateway/net/heap_trim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "gateway/net/recycler.h"

namespace sg::gateway {

HeapTrim::HeapTrim(uv_loop_t* loop, Recycler& recycler)
    : Deadline([](Deadline& d) { static_cast<HeapTrim&>(d).fire(); }), loop_(loop), recycler_(recycler) {}

void HeapTrim::fire() {
  if (recycler_.lent() > 0) return;  // busy again: its next quiet() sets this anew
  const std::uint64_t now = uv_now(loop_);
  if (trims_ > 0 && now - last_trim_ < kMinIntervalMs) {
    set(loop_, kMinIntervalMs - (now - last_trim_));
    return;
  }
  last_trim_ = now;
  ++trims_;
  recycler_.shed();
  if (shed_) shed_(shed_owner_);
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace sg::gateway
