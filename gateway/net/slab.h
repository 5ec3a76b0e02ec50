// Fixed-size blocks for the objects an open connection holds for its whole
// life (its transport, its HTTP/1 codec), packed in 64 KiB pages of their
// own, apart from the heap that requests churn through (nginx keeps its
// connections in one preallocated array for the same reason; h2o pools per
// size). Measured with 10,000 idle keep-alive connections after one request
// each (tests/bench/run.sh idle, request mode): malloc put the connections'
// objects into the holes that finished requests left, so those pages stayed
// resident around them, about 100 bytes per connection more than
// connections that never sent a request. A block also saves malloc's 8-byte
// header and its rounding to 16 bytes.
//
// Pages come from the kernel one at a time and go back to it when their last
// block is given back (one empty page is kept, so a connection opening and
// closing at a page's edge does not allocate and free a page each time).
// Untouched blocks of a page are handed out in order, so a page's tail
// costs no resident memory until used. Loop-thread only, like the loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

namespace sg::gateway {

class Slab {
 public:
  static constexpr std::size_t kPageSize = 64 * 1024;

  // Blocks of `size` bytes (rounded up to 8), aligned to 8: no object held
  // in a slab may need more (static_assert it where it is used).
  explicit Slab(std::size_t size);
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;
  // Every block must have been given back.
  ~Slab();

  void* take();
  // `block` came from this slab's take().
  void give(void* block);

  std::size_t block_size() const { return size_; }
  std::size_t pages() const { return pages_; }
  std::size_t blocks_taken() const { return taken_; }

 private:
  struct Page;
  struct FreeBlock {
    FreeBlock* next;
  };
  Page* new_page();
  void unlink(Page* page);
  void push_front(Page* page);

  std::size_t size_;
  std::size_t per_page_;
  Page* partial_ = nullptr;  // pages with a free block, most recent first
  Page* spare_ = nullptr;    // one empty page, kept
  std::size_t pages_ = 0;
  std::size_t taken_ = 0;
};

// A loop's slabs, one per object size (a handful: linear search).
// slab_take/slab_give fall back to the heap for a loop without slabs.
class Slabs {
 public:
  Slabs() = default;
  Slabs(const Slabs&) = delete;
  Slabs& operator=(const Slabs&) = delete;
  ~Slabs();

  Slab& of(std::size_t size);
  std::size_t pages() const;

 private:
  static constexpr std::size_t kMaxSizes = 8;
  Slab* slabs_[kMaxSizes] = {};
};

// Under AddressSanitizer (the sanitizer tier) connections come from the
// heap: a block given back to a slab is not poisoned, so a use after free of
// a connection would go unseen there. The Slab itself is tested directly
// (tests/unit/slab_test.cc).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSlabsUsed = false;
#else
inline constexpr bool kSlabsUsed = true;
#endif

inline void* slab_take(Slabs* slabs, std::size_t size) {
  return kSlabsUsed && slabs != nullptr ? slabs->of(size).take() : ::operator new(size);
}
inline void slab_give(Slabs* slabs, void* block, std::size_t size) {
  if (kSlabsUsed && slabs != nullptr) {
    slabs->of(size).give(block);
  } else {
    ::operator delete(block);
  }
}

}  // namespace sg::gateway
