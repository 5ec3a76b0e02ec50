// A TCP or Unix stream socket as a Transport (transport.h). Reads land in the
// loop's shared buffer (stream_io.h) and go straight to the observer; writes
// try the kernel first and queue only what it did not take.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <vector>

#include "conf/address.h"
#include "gateway/net/stream_io.h"
#include "gateway/net/transport.h"

namespace sg::gateway {

class TcpTransport final : public Transport, private WriteObserver {
 public:
  // How a TCP listener's accepted sockets get TCP_NODELAY (Nagle off: a
  // response head and its body must not wait for an ACK).
  enum class NoDelay : unsigned char {
    unknown,    // set it, then look whether the listener's setting was inherited
    inherited,  // Linux copies the listener's TCP_NODELAY to accepted sockets: no setsockopt per connection
    per_socket  // set it on every accepted socket
  };
  // Accepts the next connection waiting on the Unix socket `listener`.
  // Returns nullptr when there is none (the accept failed).
  static TcpTransport* accept_unix(uv_loop_t* loop, uv_stream_t* listener);
  // Takes `fd`, a TCP connection accepted with its peer's address `peer`
  // (tcp_acceptor.h); nullptr (and `fd` closed) when libuv refuses it.
  // `trusted` marks peer_trusted; `nodelay` is updated after the first look.
  static TcpTransport* adopt(uv_loop_t* loop, int fd, const sockaddr_storage& peer,
                             const std::vector<conf::Cidr>& trusted, NoDelay& nodelay);

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
  TcpTransport() = default;
  ~TcpTransport() override = default;

  void on_write_done(int status) override;
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_shutdown(uv_shutdown_t* req, int status);

  StreamHandle socket_;  // the shutdown request is allocated only while one is in flight
  TransportObserver* observer_ = nullptr;
  ConnectionInfo info_;
  bool reading_ = false;
  bool closing_ = false;
};

}  // namespace sg::gateway
