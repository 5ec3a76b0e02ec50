#include "gateway/http2/h2_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace sg::gateway {
namespace {

std::size_t page_bytes() {
  static const std::size_t bytes = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

}  // namespace

void* H2Memory::on_malloc(std::size_t size, void* p) {
  auto* self = static_cast<H2Memory*>(p);
  if (!self->capturing_ || self->frame_buffer_ != nullptr || size < kFrameBufferMin) return std::malloc(size);
  void* block = nullptr;
  if (posix_memalign(&block, page_bytes(), size) != 0) return nullptr;
  self->frame_buffer_ = block;
  self->frame_bytes_ = size;
  return block;
}

void H2Memory::on_free(void* ptr, void* p) {
  auto* self = static_cast<H2Memory*>(p);
  if (ptr != nullptr && ptr == self->frame_buffer_) {
    self->frame_buffer_ = nullptr;
    self->frame_bytes_ = 0;
  }
  std::free(ptr);
}

void* H2Memory::on_calloc(std::size_t count, std::size_t size, void*) { return std::calloc(count, size); }

// nghttp2 allocates its buffers with realloc(nullptr, size)
// (nghttp2_buf_reserve). It reallocates the frame buffer only for frames
// larger than 16 KiB (a data_source_read_length_callback, which skewgate
// does not set); the new block is then an ordinary one.
void* H2Memory::on_realloc(void* ptr, std::size_t size, void* p) {
  auto* self = static_cast<H2Memory*>(p);
  if (ptr == nullptr) return on_malloc(size, p);
  if (ptr != nullptr && ptr == self->frame_buffer_) {
    self->frame_buffer_ = nullptr;
    self->frame_bytes_ = 0;
  }
  return std::realloc(ptr, size);
}

void H2Memory::release_idle() {
  const std::size_t whole = frame_bytes_ / page_bytes() * page_bytes();
  if (frame_buffer_ == nullptr || whole == 0) return;
  // Our own pages inside a malloc'd block (malloc's bookkeeping sits before
  // it): private anonymous memory reads back as zeros.
  madvise(frame_buffer_, whole, MADV_DONTNEED);
}

}  // namespace sg::gateway
