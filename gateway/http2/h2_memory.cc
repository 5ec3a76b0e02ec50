#include "gateway/http2/h2_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace sg::gateway {
namespace {

std::size_t page_bytes() {
  static const std::size_t bytes = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

void* aligned_block(std::size_t size) {
  void* block = nullptr;
  if (posix_memalign(&block, page_bytes(), size) != 0) return nullptr;
  return block;
}

bool all_zero(const unsigned char* p, std::size_t n) {
  // p[0] == 0 and every byte equal to the one before it.
  return p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0;
}

}  // namespace

std::size_t H2Memory::page_blocks() const {
  std::size_t n = 0;
  for (const Block& b : pages_) n += b.ptr != nullptr ? 1 : 0;
  return n;
}

void* H2Memory::allocate(std::size_t size) {
  if (capturing_ && frame_.ptr == nullptr && size >= kFrameBufferMin) {
    void* block = aligned_block(size);
    if (block != nullptr) frame_ = {block, size};
    return block;
  }
  if (size >= kPageBlockMin) {
    for (Block& b : pages_) {
      if (b.ptr != nullptr) continue;
      void* block = aligned_block(size);
      if (block != nullptr) b = {block, size};
      return block;
    }
  }
  return std::malloc(size);
}

void H2Memory::forget(void* ptr) {
  if (ptr == nullptr) return;
  if (ptr == frame_.ptr) {
    frame_ = {};
    return;
  }
  for (Block& b : pages_)
    if (b.ptr == ptr) b = {};
}

void* H2Memory::on_malloc(std::size_t size, void* p) { return static_cast<H2Memory*>(p)->allocate(size); }

void H2Memory::on_free(void* ptr, void* p) {
  static_cast<H2Memory*>(p)->forget(ptr);
  std::free(ptr);
}

void* H2Memory::on_calloc(std::size_t count, std::size_t size, void* p) {
  if (size != 0 && count > SIZE_MAX / size) return nullptr;
  const std::size_t bytes = count * size;
  if (bytes < kPageBlockMin) return std::calloc(count, size);
  void* block = static_cast<H2Memory*>(p)->allocate(bytes);
  if (block != nullptr) std::memset(block, 0, bytes);
  return block;
}

// nghttp2 allocates its buffers with realloc(nullptr, size)
// (nghttp2_buf_reserve). It reallocates the frame buffer only for frames
// larger than 16 KiB (a data_source_read_length_callback, which skewgate
// does not set); a reallocated block is then an ordinary one.
void* H2Memory::on_realloc(void* ptr, std::size_t size, void* p) {
  auto* self = static_cast<H2Memory*>(p);
  if (ptr == nullptr) return self->allocate(size);
  // Forgotten before realloc may free it (GCC's -Wuse-after-free saw the
  // address read after). A failed realloc leaves the block as it was, then
  // an ordinary block: never released while idle, which only costs memory.
  self->forget(ptr);
  return std::realloc(ptr, size);
}

void H2Memory::release_idle() {
  const std::size_t page = page_bytes();
  released_pages_ = 0;
  // Our own pages inside malloc'd blocks (malloc's bookkeeping sits before
  // a block and after its last whole page): private anonymous memory reads
  // back as zeros.
  const std::size_t whole = frame_.bytes / page * page;
  if (frame_.ptr != nullptr && whole != 0) {
    madvise(frame_.ptr, whole, MADV_DONTNEED);
    released_pages_ += whole / page;
  }
  for (const Block& b : pages_) {
    if (b.ptr == nullptr) continue;
    auto* base = static_cast<unsigned char*>(b.ptr);
    for (std::size_t off = 0; off + page <= b.bytes; off += page) {
      if (!all_zero(base + off, page)) continue;
      madvise(base + off, page, MADV_DONTNEED);
      ++released_pages_;
    }
  }
}

}  // namespace sg::gateway
