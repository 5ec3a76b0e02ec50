// A stream socket as a Transport (transport.h): StreamTransport<uv_tcp_t>
// (TcpTransport) for TCP connections, StreamTransport<uv_pipe_t>
// (UnixTransport) for a Unix socket listener's. Each holds only its own kind
// of handle: a union of the two cost every TCP connection 16 bytes (uv_pipe_t
// is the larger), 3 % of an idle one. Reads land in the loop's shared
// buffer (stream_io.h) and go straight to the observer; writes try the
// kernel first and queue only what it did not take.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <concepts>
#include <vector>

#include "conf/address.h"
#include "gateway/net/stream_io.h"
#include "gateway/net/transport.h"

namespace sg::gateway {

// How a TCP listener's accepted sockets get TCP_NODELAY (Nagle off: a
// response head and its body must not wait for an ACK).
enum class TcpNoDelay : unsigned char {
  unknown,    // set it, then look whether the listener's setting was inherited
  inherited,  // Linux copies the listener's TCP_NODELAY to accepted sockets: no setsockopt per connection
  per_socket  // set it on every accepted socket
};

template <typename Handle>
class StreamTransport final : public Transport, private WriteObserver {
 public:
  using NoDelay = TcpNoDelay;
  // Accepts the next connection waiting on the Unix socket `listener`.
  // Returns nullptr when there is none (the accept failed).
  static StreamTransport* accept_unix(uv_loop_t* loop, uv_stream_t* listener)
    requires std::same_as<Handle, uv_pipe_t>;
  // Takes `fd`, a TCP connection accepted with its peer's address `peer`
  // (tcp_acceptor.h); nullptr (and `fd` closed) when libuv refuses it.
  // `trusted` marks peer_trusted; `nodelay` is updated after the first look.
  static StreamTransport* adopt(uv_loop_t* loop, int fd, const sockaddr_storage& peer,
                                const std::vector<conf::Cidr>& trusted, NoDelay& nodelay)
    requires std::same_as<Handle, uv_tcp_t>;

  void start(TransportObserver& observer) override;
  void set_observer(TransportObserver& observer) override { observer_ = &observer; }
  void read_start() override;
  void read_stop() override;
  int write(std::string_view data) override;
  int write2(std::string_view first, std::string_view second) override;
  std::size_t queued_bytes() const override;
  int shutdown() override;
  void close() override;
  void set_keepalive(unsigned seconds) override;
  const ConnectionInfo& info() const override { return info_; }
  // The listener redirects plain requests to https (before start()).
  void set_redirect_https() { info_.redirect_https = true; }

 private:
  StreamTransport() = default;
  ~StreamTransport() override = default;

  // uv_tcp_t and uv_pipe_t begin with uv_stream_t's fields (libuv's C
  // inheritance), as the union this replaces relied on too.
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&socket_); }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&socket_); }
  const uv_stream_t* stream() const { return reinterpret_cast<const uv_stream_t*>(&socket_); }

  void on_write_done(int status) override;
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_shutdown(uv_shutdown_t* req, int status);

  Handle socket_;  // the shutdown request is allocated only while one is in flight
  TransportObserver* observer_ = nullptr;
  ConnectionInfo info_;
  bool reading_ = false;
  bool closing_ = false;
};

using TcpTransport = StreamTransport<uv_tcp_t>;
using UnixTransport = StreamTransport<uv_pipe_t>;

extern template class StreamTransport<uv_tcp_t>;
extern template class StreamTransport<uv_pipe_t>;

}  // namespace sg::gateway
