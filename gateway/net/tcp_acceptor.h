// A listening TCP socket whose connections are accepted here rather than
// by libuv's uv_listen. Per connection libuv's accept path costs accept4()
// for the connection, a second accept4() that ends in EAGAIN (it accepts
// until the backlog is empty), and getpeername() because it drops the
// peer's address (uv_tcp_getpeername). Here: one accept4() that returns the
// address, and uv_tcp_open()'s ioctl(FIONBIO) (tcp_transport.cc), so two
// system calls instead of three. One accept per readiness event, as nginx
// does without multi_accept: the socket is level-triggered, so connections
// left in the backlog wake the loop's next turn.
//
// Out of descriptors (EMFILE, ENFILE) the waiting connections are shed as
// libuv sheds them (uv__emfile_trick): a descriptor held in reserve is
// given up, the backlog is accepted and closed (the clients see the close
// at once rather than hanging), and the reserve is taken again. Without it
// the level-triggered socket would wake the loop again at once, forever.
#pragma once

#include <sys/socket.h>
#include <uv.h>

namespace sg::gateway {

class TcpAcceptor {
 public:
  // An accepted, non-blocking, close-on-exec socket and its peer's address;
  // the callee owns `fd`.
  using OnAccept = void (*)(void* owner, int fd, const sockaddr_storage& peer);
  using OnClosed = void (*)(void* owner);

  TcpAcceptor() = default;
  TcpAcceptor(const TcpAcceptor&) = delete;
  TcpAcceptor& operator=(const TcpAcceptor&) = delete;
  // Closed (close() and its callback ran) or never started.
  ~TcpAcceptor() = default;

  // Watches `fd`, a listening socket, which the acceptor then owns (closed
  // by close()). Returns 0, or a libuv error when the socket cannot be
  // watched: then it is closed at once and close() is not to be called.
  int start(uv_loop_t* loop, int fd, void* owner, OnAccept on_accept);
  // Stops accepting and closes the socket and the reserve; `closed(owner)`
  // runs from the loop once libuv has let go of the handle (the owner may
  // free the acceptor there). Once only.
  void close(OnClosed closed);

 private:
  static void on_readable(uv_poll_t* handle, int status, int events);
  void shed_backlog();

  uv_poll_t poll_{};
  int fd_ = -1;
  int reserve_fd_ = -1;
  void* owner_ = nullptr;
  OnAccept on_accept_ = nullptr;
  OnClosed on_closed_ = nullptr;
};

}  // namespace sg::gateway
