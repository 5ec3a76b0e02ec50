// nghttp2's memory for one connection (an nghttp2_mem whose user data is
// this object, so no state is shared between connections or workers).
//
// Why: an nghttp2 1.52 server session allocates about 25 KiB when it is
// created, 16 KiB of it the output frame buffer (aob.framebufs' first chunk,
// NGHTTP2_FRAMEBUF_CHUNKLEN bytes), kept for the session's life. Its bytes
// are dead whenever nghttp2 has no frame in progress (each frame is packed
// into it from the start, nghttp2_bufs_reset after it went out), which is
// the case on an idle connection. That block is served page-aligned, and
// release_idle() gives its pages back to the kernel (MADV_DONTNEED: they
// read as zeros and cost nothing until the next frame touches them).
//
// The other blocks of a page or more (the stream map's table: 256 buckets
// of 16 bytes, calloc'd by nghttp2_map_init when the session is made) are
// served page-aligned too, and release_idle() gives back those of their
// whole pages whose bytes are all zero: a private anonymous page reads as
// zeros after MADV_DONTNEED, so whatever nghttp2 keeps there reads the same.
// An empty map's table is all zeros (calloc'd; nghttp2_map_remove writes
// its buckets back to {0, 0, NULL}).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>

namespace sg::gateway {

class H2Memory {
 public:
  H2Memory() = default;
  H2Memory(const H2Memory&) = delete;  // nghttp2 keeps a pointer to this object
  H2Memory& operator=(const H2Memory&) = delete;

  nghttp2_mem* mem() { return &mem_; }

  // Around nghttp2_session_server_new3: the one block of kFrameBufferMin
  // bytes or more it allocates is the output frame buffer.
  void begin_session() { capturing_ = true; }
  void end_session() { capturing_ = false; }

  // The frame buffer's whole pages, and the all-zero whole pages of the
  // other page blocks, back to the kernel. Only when nghttp2 has nothing
  // queued nor in progress (nghttp2_session_want_write() == 0 and the
  // session not terminated): the frame buffer's bytes are dead then.
  void release_idle();

  // The captured frame buffer (nullptr when none), for tests.
  const unsigned char* frame_buffer() const { return static_cast<const unsigned char*>(frame_.ptr); }
  std::size_t frame_bytes() const { return frame_.bytes; }
  // The page blocks other than the frame buffer held now (tests).
  std::size_t page_blocks() const;
  // Pages release_idle() gave back in its last call (tests).
  std::size_t released_pages() const { return released_pages_; }

  // Smaller blocks are nghttp2's structures and HPACK state: plain malloc.
  static constexpr std::size_t kFrameBufferMin = 16 * 1024;
  // Blocks of this size or more are served page-aligned (a block smaller
  // than a page has no whole page to give back).
  static constexpr std::size_t kPageBlockMin = 4096;
  // Page blocks tracked at once besides the frame buffer: the map's table
  // (a grown one replaces it) and room for a transient buffer; past that,
  // blocks are plain malloc.
  static constexpr std::size_t kMaxPageBlocks = 3;

 private:
  struct Block {
    void* ptr = nullptr;
    std::size_t bytes = 0;
  };

  static void* on_malloc(std::size_t size, void* self);
  static void on_free(void* ptr, void* self);
  static void* on_calloc(std::size_t count, std::size_t size, void* self);
  static void* on_realloc(void* ptr, std::size_t size, void* self);

  void* allocate(std::size_t size);
  // Forgets `ptr` if it is one of ours (the block is then freed or
  // reallocated by the caller).
  void forget(void* ptr);

  nghttp2_mem mem_{this, on_malloc, on_free, on_calloc, on_realloc};
  Block frame_;  // page-aligned
  Block pages_[kMaxPageBlocks];
  std::size_t released_pages_ = 0;
  bool capturing_ = false;
};

}  // namespace sg::gateway
