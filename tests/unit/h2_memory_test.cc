// Issue 19: nghttp2's memory per connection (gateway/http2/h2_memory.h). A
// real server session and a client session talk through memory: the server's
// output frame buffer is the captured block, release_idle() gives its pages
// back (they read as zeros), and the session keeps working after it.
#include <doctest/doctest.h>
#include <nghttp2/nghttp2.h>

#include <sys/mman.h>

#include <cstdint>
#include <string>

#include "gateway/http2/h2_memory.h"

using sg::gateway::H2Memory;

namespace {

// Everything `from` has to send, into `to`.
void pump(nghttp2_session* from, nghttp2_session* to) {
  for (;;) {
    const std::uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(from, &data);
    REQUIRE(n >= 0);
    if (n == 0) return;
    REQUIRE(nghttp2_session_mem_recv(to, data, static_cast<std::size_t>(n)) == n);
  }
}

struct Peer {
  std::string body;    // DATA received (client)
  int requests = 0;    // request HEADERS received (server)
  int responses = 0;   // response HEADERS received (client)
  nghttp2_session* session = nullptr;
};

int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* p) {
  auto* peer = static_cast<Peer*>(p);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    ++peer->requests;
    const nghttp2_nv head[] = {{(std::uint8_t*)":status", (std::uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE}};
    nghttp2_data_provider provider{};
    provider.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                std::uint32_t* flags, nghttp2_data_source*, void*) -> ssize_t {
      const std::string text = "hello after idle";
      const std::size_t n = std::min(length, text.size());
      text.copy(reinterpret_cast<char*>(buf), n);
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    REQUIRE(nghttp2_submit_response(session, frame->hd.stream_id, head, 1, &provider) == 0);
  } else if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
    ++peer->responses;
  }
  return 0;
}

int on_data(nghttp2_session*, std::uint8_t, std::int32_t, const std::uint8_t* data, std::size_t len, void* p) {
  static_cast<Peer*>(p)->body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

// Whether the page at `p` is in memory (mincore).
bool resident(const void* p) {
  unsigned char vec = 0;
  REQUIRE(mincore(const_cast<void*>(p), 4096, &vec) == 0);
  return (vec & 1) != 0;
}

void request(nghttp2_session* client) {
  const nghttp2_nv head[] = {
      {(std::uint8_t*)":method", (std::uint8_t*)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE},
      {(std::uint8_t*)":scheme", (std::uint8_t*)"https", 7, 5, NGHTTP2_NV_FLAG_NONE},
      {(std::uint8_t*)":authority", (std::uint8_t*)"localhost", 10, 9, NGHTTP2_NV_FLAG_NONE},
      {(std::uint8_t*)":path", (std::uint8_t*)"/", 5, 1, NGHTTP2_NV_FLAG_NONE},
  };
  REQUIRE(nghttp2_submit_request(client, nullptr, head, 4, nullptr, nullptr) > 0);
}

}  // namespace

TEST_CASE("h2 memory: the server's frame buffer is captured, released when idle, and works after") {
  nghttp2_session_callbacks* callbacks = nullptr;
  REQUIRE(nghttp2_session_callbacks_new(&callbacks) == 0);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);

  H2Memory memory;
  Peer server;
  Peer client;
  memory.begin_session();
  REQUIRE(nghttp2_session_server_new3(&server.session, callbacks, &server, nullptr, memory.mem()) == 0);
  memory.end_session();
  REQUIRE(nghttp2_session_client_new(&client.session, callbacks, &client) == 0);
  nghttp2_session_callbacks_del(callbacks);

  // The stream map's table: one page block, all zeros while no stream is open.
  CHECK(memory.page_blocks() == 1);

  // The output frame buffer: one block of NGHTTP2_FRAMEBUF_CHUNKLEN (16394) bytes, page-aligned.
  REQUIRE(memory.frame_buffer() != nullptr);
  CHECK(memory.frame_bytes() >= H2Memory::kFrameBufferMin);
  CHECK(reinterpret_cast<std::uintptr_t>(memory.frame_buffer()) % 4096 == 0);

  REQUIRE(nghttp2_submit_settings(server.session, NGHTTP2_FLAG_NONE, nullptr, 0) == 0);
  REQUIRE(nghttp2_submit_settings(client.session, NGHTTP2_FLAG_NONE, nullptr, 0) == 0);
  pump(server.session, client.session);
  pump(client.session, server.session);
  pump(server.session, client.session);
  // Idle before any stream: the frame buffer's 4 whole pages and the empty
  // map's page.
  REQUIRE(nghttp2_session_want_write(server.session) == 0);
  memory.release_idle();
  CHECK(memory.released_pages() == memory.frame_bytes() / 4096 + 1);

  request(client.session);
  for (int i = 0; i < 3; ++i) {
    pump(client.session, server.session);
    pump(server.session, client.session);
  }
  CHECK(server.requests == 1);
  CHECK(client.responses == 1);
  CHECK(client.body == "hello after idle");

  // Idle: nothing queued. The buffer held the last frames; its pages read as zeros after.
  REQUIRE(nghttp2_session_want_write(server.session) == 0);
  bool written = false;
  for (std::size_t i = 0; i < 4096; ++i) written = written || memory.frame_buffer()[i] != 0;
  CHECK(written);
  memory.release_idle();
  bool zero = true;
  for (std::size_t i = 0; i < memory.frame_bytes() / 4096 * 4096; ++i) zero = zero && memory.frame_buffer()[i] == 0;
  CHECK(zero);
  // The closed stream stays in nghttp2's map (kept for the priority tree):
  // the map's page holds it and is kept.
  CHECK(memory.released_pages() == memory.frame_bytes() / 4096);

  // The next request and response go through the same buffer.
  client.body.clear();
  request(client.session);
  for (int i = 0; i < 3; ++i) {
    pump(client.session, server.session);
    pump(server.session, client.session);
  }
  CHECK(server.requests == 2);
  CHECK(client.responses == 2);
  CHECK(client.body == "hello after idle");

  nghttp2_session_del(client.session);
  nghttp2_session_del(server.session);
  // Freed with the session: nothing captured any more.
  CHECK(memory.frame_buffer() == nullptr);
}

TEST_CASE("h2 memory: a page block gives back its all-zero pages only, and they read as zeros") {
  H2Memory memory;
  nghttp2_mem* mem = memory.mem();
  auto* block = static_cast<unsigned char*>(mem->calloc(2, 4096, mem->mem_user_data));
  REQUIRE(block != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(block) % 4096 == 0);
  CHECK(memory.page_blocks() == 1);
  block[4096 + 100] = 0x5a;  // the second page is not all zeros
  block[0] = 1;              // nor is the first, yet
  memory.release_idle();
  CHECK(memory.released_pages() == 0);
  CHECK(block[0] == 1);
  CHECK(block[4096 + 100] == 0x5a);

  block[0] = 0;  // the first page is all zeros again
  memory.release_idle();
  CHECK(memory.released_pages() == 1);
  CHECK(!resident(block));  // given back
  bool zero = true;
  for (std::size_t i = 0; i < 4096; ++i) zero = zero && block[i] == 0;
  CHECK(zero);
  CHECK(block[4096 + 100] == 0x5a);  // never released: its byte is still there
  CHECK(resident(block + 4096));
  block[7] = 3;  // usable after: a fresh zero page
  CHECK(block[7] == 3);
  mem->free(block, mem->mem_user_data);
  CHECK(memory.page_blocks() == 0);
}

TEST_CASE("h2 memory: page blocks past the tracked ones are plain, a calloc overflow fails") {
  H2Memory memory;
  nghttp2_mem* mem = memory.mem();
  void* blocks[H2Memory::kMaxPageBlocks + 1] = {};
  for (void*& b : blocks) {
    b = mem->malloc(5000, mem->mem_user_data);
    REQUIRE(b != nullptr);
  }
  CHECK(memory.page_blocks() == H2Memory::kMaxPageBlocks);
  // A small block is never tracked.
  void* small = mem->malloc(100, mem->mem_user_data);
  CHECK(memory.page_blocks() == H2Memory::kMaxPageBlocks);
  mem->free(small, mem->mem_user_data);
  // A realloc'd block is an ordinary one.
  blocks[0] = mem->realloc(blocks[0], 9000, mem->mem_user_data);
  REQUIRE(blocks[0] != nullptr);
  CHECK(memory.page_blocks() == H2Memory::kMaxPageBlocks - 1);
  for (void* b : blocks) mem->free(b, mem->mem_user_data);
  CHECK(memory.page_blocks() == 0);
  CHECK(mem->calloc(SIZE_MAX / 2, 4, mem->mem_user_data) == nullptr);
}
