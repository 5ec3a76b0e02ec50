#include "gateway/net/tcp_acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

namespace sg::gateway {
namespace {

// The descriptor given up when the process runs out (libuv reserves one
// the same way, for the same reason).
int open_reserve() { return ::open("/", O_RDONLY | O_CLOEXEC); }

}  // namespace

int TcpAcceptor::start(uv_loop_t* loop, int fd, void* owner, OnAccept on_accept) {
  fd_ = fd;
  owner_ = owner;
  on_accept_ = on_accept;
  int rc = uv_poll_init_socket(loop, &poll_, fd);
  if (rc != 0) {
    ::close(fd);
    fd_ = -1;
    return rc;
  }
  poll_.data = this;
  reserve_fd_ = open_reserve();
  // Fails only for a descriptor another handle watches, which init checked.
  uv_poll_start(&poll_, UV_READABLE, on_readable);
  return 0;
}

void TcpAcceptor::close(OnClosed closed) {
  on_closed_ = closed;
  // The socket is closed once libuv no longer watches it (uv_poll_t must
  // not outlive its descriptor).
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* handle) {
    auto* a = static_cast<TcpAcceptor*>(handle->data);
    ::close(a->fd_);
    a->fd_ = -1;
    if (a->reserve_fd_ >= 0) ::close(a->reserve_fd_);
    a->reserve_fd_ = -1;
    a->on_closed_(a->owner_);
  });
}

void TcpAcceptor::on_readable(uv_poll_t* handle, int status, int) {
  auto* a = static_cast<TcpAcceptor*>(handle->data);
  if (status < 0) return;
  sockaddr_storage peer;
  peer.ss_family = AF_UNSPEC;  // stays so if the kernel gives no address
  socklen_t len = sizeof peer;
  const int fd = ::accept4(a->fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    a->on_accept_(a->owner_, fd, peer);  // may close the acceptor: nothing of `a` after this
    return;
  }
  if (errno == EMFILE || errno == ENFILE) a->shed_backlog();
  // EAGAIN (nothing waits after all), ECONNABORTED (the client gave up
  // while in the backlog), EINTR: the next readiness event tries again.
}

void TcpAcceptor::shed_backlog() {
  if (reserve_fd_ < 0) reserve_fd_ = open_reserve();
  if (reserve_fd_ < 0) return;  // none to give up: libuv's answer too (it retries on the next event)
  ::close(reserve_fd_);
  reserve_fd_ = -1;
  for (;;) {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      continue;
    }
    if (errno != EINTR && errno != ECONNABORTED) break;
  }
  reserve_fd_ = open_reserve();
}

}  // namespace sg::gateway
