#include "gateway/net/tcp_transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <concepts>
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

static_assert(alignof(TcpTransport) <= 8 && alignof(UnixTransport) <= 8, "a slab block is 8-aligned");

template <typename Handle>
StreamTransport<Handle>* StreamTransport<Handle>::accept_unix(uv_loop_t* loop, uv_stream_t* listener)
  requires std::same_as<Handle, uv_pipe_t>
{
  auto* t = new (slab_take(slabs_of(loop), sizeof(StreamTransport))) StreamTransport;
  uv_pipe_init(loop, &t->socket_, 0);
  t->socket_.data = t;
  if (uv_accept(listener, t->stream()) != 0) {
    t->close();
    return nullptr;
  }
  t->info_.peer.family = PeerAddress::Family::unix_socket;
  return t;
}

template <typename Handle>
StreamTransport<Handle>* StreamTransport<Handle>::adopt(uv_loop_t* loop, int fd, const sockaddr_storage& peer,
                                                        const std::vector<conf::Cidr>& trusted, NoDelay& nodelay)
  requires std::same_as<Handle, uv_tcp_t>
{
  auto* t = new (slab_take(slabs_of(loop), sizeof(StreamTransport))) StreamTransport;
  uv_tcp_init(loop, &t->socket_);
  t->socket_.data = t;
  if (uv_tcp_open(&t->socket_, fd) != 0) {
    ::close(fd);  // not the handle's: uv_close leaves it open
    t->close();
    return nullptr;
  }
  if (nodelay == NoDelay::unknown) nodelay = has_nodelay(&t->socket_) ? NoDelay::inherited : NoDelay::per_socket;
  if (nodelay == NoDelay::per_socket) uv_tcp_nodelay(&t->socket_, 1);
  t->info_.peer_trusted = peer_of(peer, t->info_.peer, trusted);
  return t;
}

template <typename Handle>
void StreamTransport<Handle>::start(TransportObserver& observer) {
  observer_ = &observer;
  observer.on_transport_ready();
}

template <typename Handle>
void StreamTransport<Handle>::read_start() {
  if (reading_ || closing_) return;
  if (uv_read_start(stream(), alloc_loop_buffer, on_read) == 0) reading_ = true;
}

template <typename Handle>
void StreamTransport<Handle>::read_stop() {
  if (!reading_) return;
  uv_read_stop(stream());
  reading_ = false;
}

template <typename Handle>
void StreamTransport<Handle>::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* t = static_cast<StreamTransport*>(stream->data);
  if (t->closing_ || nread == 0) return;
  if (nread < 0) {
    t->read_stop();
    t->observer_->on_transport_end(static_cast<int>(nread));
    return;
  }
  t->observer_->on_transport_data(std::string_view(buf->base, static_cast<std::size_t>(nread)));
}

template <typename Handle>
int StreamTransport<Handle>::write(std::string_view data) {
  if (closing_) return UV_ECANCELED;
  return write_stream(stream(), data, this);
}

template <typename Handle>
int StreamTransport<Handle>::write2(std::string_view first, std::string_view second) {
  if (closing_) return UV_ECANCELED;
  return write_stream2(stream(), first, second, this);
}

template <typename Handle>
std::size_t StreamTransport<Handle>::queued_bytes() const {
  return uv_stream_get_write_queue_size(stream());
}

template <typename Handle>
void StreamTransport<Handle>::on_write_done(int status) {
  if (!closing_) observer_->on_transport_written(status);
}

template <typename Handle>
int StreamTransport<Handle>::shutdown() {
  if (closing_) return UV_ECANCELED;
  // Held by no idle connection: 80 bytes each.
  auto* req = new uv_shutdown_t;
  req->data = this;
  const int rc = uv_shutdown(req, stream(), on_shutdown);
  if (rc != 0) delete req;
  return rc;
}

// libuv calls this once per request, with UV_ECANCELED when the handle
// closes first (before the close callback frees the transport).
template <typename Handle>
void StreamTransport<Handle>::on_shutdown(uv_shutdown_t* req, int status) {
  auto* t = static_cast<StreamTransport*>(req->data);
  delete req;
  if (!t->closing_) t->observer_->on_transport_shutdown(status);
}

template <typename Handle>
void StreamTransport<Handle>::set_keepalive(unsigned seconds) {
  if constexpr (std::same_as<Handle, uv_tcp_t>) uv_tcp_keepalive(&socket_, 1, seconds);
}

// Queued writes and a pending shutdown complete with UV_ECANCELED before the
// close callback; closing_ keeps them from reaching the observer.
template <typename Handle>
void StreamTransport<Handle>::close() {
  if (closing_) return;
  closing_ = true;
  uv_close(handle(), [](uv_handle_t* h) {
    auto* t = static_cast<StreamTransport*>(h->data);
    t->~StreamTransport();
    slab_give(slabs_of(h->loop), t, sizeof(StreamTransport));
  });
}

template class StreamTransport<uv_tcp_t>;
template class StreamTransport<uv_pipe_t>;

}  // namespace sg::gateway
