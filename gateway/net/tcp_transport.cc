#include "gateway/net/tcp_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "gateway/net/slab.h"

namespace sg::gateway {
namespace {

// The peer's address (from accept4, tcp_acceptor.cc), and whether it is in
// `trusted`.
bool peer_of(const sockaddr_storage& storage, PeerAddress& peer, const std::vector<conf::Cidr>& trusted) {
  if (storage.ss_family == AF_INET) {
    std::memcpy(peer.bytes.data(), &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, 4);
    peer.family = PeerAddress::Family::ipv4;
  } else if (storage.ss_family == AF_INET6) {
    std::memcpy(peer.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, 16);
    peer.family = PeerAddress::Family::ipv6;
  }
  for (const auto& cidr : trusted)
    if (peer.size() > 0 && cidr.contains(peer.bytes.data(), peer.size())) return true;
  return false;
}

Slabs* slabs_of(uv_loop_t* loop) { return static_cast<const LoopShared*>(loop->data)->slabs; }

// Whether an accepted socket already has TCP_NODELAY from its listener (the
// listener sets it, worker.cc). Looked at once per listener, so a kernel that
// does not copy it still gets it per socket.
bool has_nodelay(uv_tcp_t* tcp) {
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp), &fd) != 0) return false;
  int on = 0;
  socklen_t len = sizeof on;
  return getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 && on != 0;
}

}  // namespace

static_assert(alignof(TcpTransport) <= 8, "a slab block is 8-aligned");

TcpTransport* TcpTransport::accept_unix(uv_loop_t* loop, uv_stream_t* listener) {
  auto* t = new (slab_take(slabs_of(loop), sizeof(TcpTransport))) TcpTransport;
  uv_pipe_init(loop, &t->socket_.pipe, 0);
  t->socket_.handle.data = t;
  if (uv_accept(listener, &t->socket_.stream) != 0) {
    t->close();
    return nullptr;
  }
  t->info_.peer.family = PeerAddress::Family::unix_socket;
  return t;
}

TcpTransport* TcpTransport::adopt(uv_loop_t* loop, int fd, const sockaddr_storage& peer,
                                  const std::vector<conf::Cidr>& trusted, NoDelay& nodelay) {
  auto* t = new (slab_take(slabs_of(loop), sizeof(TcpTransport))) TcpTransport;
  uv_tcp_init(loop, &t->socket_.tcp);
  t->socket_.handle.data = t;
  if (uv_tcp_open(&t->socket_.tcp, fd) != 0) {
    ::close(fd);  // not the handle's: uv_close leaves it open
    t->close();
    return nullptr;
  }
  if (nodelay == NoDelay::unknown) nodelay = has_nodelay(&t->socket_.tcp) ? NoDelay::inherited : NoDelay::per_socket;
  if (nodelay == NoDelay::per_socket) uv_tcp_nodelay(&t->socket_.tcp, 1);
  t->info_.peer_trusted = peer_of(peer, t->info_.peer, trusted);
  return t;
}

void TcpTransport::start(TransportObserver& observer) {
  observer_ = &observer;
  observer.on_transport_ready();
}

void TcpTransport::read_start() {
  if (reading_ || closing_) return;
  if (uv_read_start(&socket_.stream, alloc_loop_buffer, on_read) == 0) reading_ = true;
}

void TcpTransport::read_stop() {
  if (!reading_) return;
  uv_read_stop(&socket_.stream);
  reading_ = false;
}

void TcpTransport::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* t = static_cast<TcpTransport*>(stream->data);
  if (t->closing_ || nread == 0) return;
  if (nread < 0) {
    t->read_stop();
    t->observer_->on_transport_end(static_cast<int>(nread));
    return;
  }
  t->observer_->on_transport_data(std::string_view(buf->base, static_cast<std::size_t>(nread)));
}

int TcpTransport::write(std::string_view data) {
  if (closing_) return UV_ECANCELED;
  return write_stream(&socket_.stream, data, this);
}

int TcpTransport::write2(std::string_view first, std::string_view second) {
  if (closing_) return UV_ECANCELED;
  return write_stream2(&socket_.stream, first, second, this);
}

std::size_t TcpTransport::queued_bytes() const { return uv_stream_get_write_queue_size(&socket_.stream); }

void TcpTransport::on_write_done(int status) {
  if (!closing_) observer_->on_transport_written(status);
}

int TcpTransport::shutdown() {
  if (closing_) return UV_ECANCELED;
  // Held by no idle connection: 80 bytes each.
  auto* req = new uv_shutdown_t;
  req->data = this;
  const int rc = uv_shutdown(req, &socket_.stream, on_shutdown);
  if (rc != 0) delete req;
  return rc;
}

// libuv calls this once per request, with UV_ECANCELED when the handle
// closes first (before the close callback frees the transport).
void TcpTransport::on_shutdown(uv_shutdown_t* req, int status) {
  auto* t = static_cast<TcpTransport*>(req->data);
  delete req;
  if (!t->closing_) t->observer_->on_transport_shutdown(status);
}

void TcpTransport::set_keepalive(unsigned seconds) {
  if (socket_.handle.type == UV_TCP) uv_tcp_keepalive(&socket_.tcp, 1, seconds);
}

// Queued writes and a pending shutdown complete with UV_ECANCELED before the
// close callback; closing_ keeps them from reaching the observer.
void TcpTransport::close() {
  if (closing_) return;
  closing_ = true;
  uv_close(&socket_.handle, [](uv_handle_t* h) {
    auto* t = static_cast<TcpTransport*>(h->data);
    t->~TcpTransport();
    slab_give(slabs_of(h->loop), t, sizeof(TcpTransport));
  });
}

}  // namespace sg::gateway
