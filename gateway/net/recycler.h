// Memory a connection needs only while it serves a request (its parser, its
// response buffer), lent by the loop and given back when the connection goes
// idle: 10,000 idle keep-alive connections then hold none of it, and a busy
// worker reuses the same few blocks instead of calling malloc per request
// (h2o's per-loop memory pools). One per loop (LoopShared, stream_io.h);
// loop-thread only. Bounded: it keeps at most kMaxKept blocks of each size
// and strings, and no string over kMaxStringCapacity.
#pragma once

#include <cstddef>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "gateway/net/heap_trim.h"

namespace sg::gateway {

class Recycler {
 public:
  static constexpr std::size_t kMaxKept = 64;
  static constexpr std::size_t kMaxStringCapacity = 64 * 1024;

  Recycler() = default;
  Recycler(const Recycler&) = delete;
  Recycler& operator=(const Recycler&) = delete;
  ~Recycler() { shed(); }

  // Frees every kept block and string: a quiet loop gives back what a burst
  // left here before its heap is trimmed (heap_trim.h).
  void shed() {
    for (auto& size : blocks_) {
      for (void* b : size.free) ::operator delete(b);
      size.free.clear();
    }
    strings_.clear();
  }
  std::size_t kept() const {
    std::size_t n = strings_.size();
    for (const auto& size : blocks_) n += size.free.size();
    return n;
  }

  // Told when the last lent block comes back (heap_trim.h).
  void set_heap_trim(HeapTrim* trim) { trim_ = trim; }
  // Blocks taken and not given back: the loop's busy connections.
  std::size_t lent() const { return lent_; }

  // `size` bytes, aligned for any object (operator new).
  void* take(std::size_t size) {
    ++lent_;
    Blocks& b = blocks_of(size);
    if (b.free.empty()) return ::operator new(size);
    void* block = b.free.back();
    b.free.pop_back();
    return block;
  }
  void give(void* block, std::size_t size) {
    Blocks& b = blocks_of(size);
    if (b.free.size() < kMaxKept) {
      b.free.push_back(block);
    } else {
      ::operator delete(block);
    }
    if (--lent_ == 0 && trim_ != nullptr) trim_->quiet();
  }

  // An empty string with the capacity of one given back, when there is one.
  void take_string(std::string& into) {
    if (strings_.empty()) return;
    into.swap(strings_.back());
    strings_.pop_back();
  }
  // `s` is left empty with no heap capacity.
  void give_string(std::string& s) {
    s.clear();
    if (s.capacity() > kMaxStringCapacity || strings_.size() >= kMaxKept) {
      std::string().swap(s);
      return;
    }
    strings_.push_back(std::move(s));
    std::string().swap(s);
  }

 private:
  struct Blocks {
    std::size_t size;
    std::vector<void*> free;
  };
  // A handful of sizes at most: a linear search.
  Blocks& blocks_of(std::size_t size) {
    for (auto& b : blocks_)
      if (b.size == size) return b;
    blocks_.push_back({size, {}});
    return blocks_.back();
  }

  std::vector<Blocks> blocks_;
  std::vector<std::string> strings_;
  HeapTrim* trim_ = nullptr;
  std::size_t lent_ = 0;
};

}  // namespace sg::gateway
