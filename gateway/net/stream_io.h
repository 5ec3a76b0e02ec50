// Small helpers over libuv streams shared by both sides of the proxy.
#pragma once

#include <uv.h>

#include <string_view>

namespace sg::gateway {

// TCP keepalive on both sockets of a tunnel: probes start after this much
// silence, so a peer that vanished (no FIN, no RST) frees the tunnel long
// before timeouts.tunnel_idle.
inline constexpr unsigned kTunnelKeepaliveS = 60;

// Either kind of stream a listener or an upstream may be (TCP or a Unix socket).
union StreamHandle {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
};

class WriteObserver {
 public:
  // A queued write finished (status 0) or failed / was cancelled (status < 0).
  virtual void on_write_done(int status) = 0;

 protected:
  ~WriteObserver() = default;
};

// Writes `data` in order: uv_try_write first so the common case copies
// nothing; what the kernel did not take is copied and queued with uv_write.
// `observer` hears of queued writes only. Returns 0 or a libuv error.
int write_stream(uv_stream_t* stream, std::string_view data, WriteObserver* observer);

// Same for two pieces (a head and the first body bytes) without joining them.
int write_stream2(uv_stream_t* stream, std::string_view first, std::string_view second, WriteObserver* observer);

class DeadlineQueues;
class Recycler;
class Slabs;

// What every connection of a loop shares; the loop's owner points loop->data
// at its LoopShared.
// - The read buffer: reads are consumed synchronously in the read callback,
//   so one buffer per loop serves every connection (no per-connection read
//   buffer on idle keep-alive connections).
// - The deadline lists (deadline.h): one timer per duration, not per connection.
// - The recycler (recycler.h): what a connection needs only while busy.
// - The slabs (slab.h): what a connection holds for its whole life.
struct LoopShared {
  char* read_buffer = nullptr;
  std::size_t read_size = 0;
  DeadlineQueues* deadlines = nullptr;
  Recycler* recycler = nullptr;
  Slabs* slabs = nullptr;
};
void alloc_loop_buffer(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);

}  // namespace sg::gateway
