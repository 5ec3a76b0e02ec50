#include "gateway/proxy/upstream_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "gateway/net/listener_socket.h"
#include "gateway/proxy/worker.h"

namespace sg::gateway {
namespace {

// Reading from the upstream stops while the downstream's queue is above the
// high mark and resumes below the low one (design.md section 9).
constexpr std::size_t kLowWatermark = 64 * 1024;

}  // namespace

metrics::Reason reason_of(UpstreamFailure failure) {
  using metrics::Reason;
  switch (failure) {
    case UpstreamFailure::connect_refused: return Reason::connect_refused;
    case UpstreamFailure::connect_timeout: return Reason::connect_timeout;
    case UpstreamFailure::connect_failed: return Reason::connect_failed;
    case UpstreamFailure::response_timeout: return Reason::response_timeout;
    case UpstreamFailure::reset: return Reason::upstream_reset;
    case UpstreamFailure::closed: return Reason::upstream_closed;
    case UpstreamFailure::send_timeout: return Reason::upstream_send_timeout;
  }
  return Reason::upstream_reset;  // unreachable: every failure is listed
}

UpstreamConnection::UpstreamConnection(Worker& worker, const conf::SocketAddress& address, std::size_t pool_slot)
    : worker_(worker), address_(address), pool_slot_(pool_slot) {}

UpstreamConnection* UpstreamConnection::connect(Worker& worker, const conf::SocketAddress& address,
                                                std::size_t pool_slot, Owner* owner,
                                                std::uint64_t connect_timeout_ms) {
  // In the loop's slab: a pooled connection lives long, and one malloc put
  // among a burst's requests kept their freed pages resident (slab.h).
  static_assert(alignof(UpstreamConnection) <= 8, "a slab block is 8-aligned");
  auto* c = new (slab_take(static_cast<const LoopShared*>(worker.loop()->data)->slabs, sizeof(UpstreamConnection)))
      UpstreamConnection(worker, address, pool_slot);
  c->owner_ = owner;
  c->timer_.init(worker.loop(), c, [](void* owner) { static_cast<UpstreamConnection*>(owner)->on_timer(); });
  c->handles_open_ = 1;
  int rc;
  if (address.family == conf::SocketAddress::Family::unix_path) {
    uv_pipe_init(worker.loop(), &c->socket_.pipe, 0);
    c->socket_.handle.data = c;
    c->handles_open_ = 2;
    c->connect_req_.data = c;
    uv_pipe_connect(&c->connect_req_, &c->socket_.pipe, address.path.c_str(), on_connect);
    rc = 0;
  } else {
    uv_tcp_init(worker.loop(), &c->socket_.tcp);
    c->socket_.handle.data = c;
    c->handles_open_ = 2;
    uv_tcp_nodelay(&c->socket_.tcp, 1);
    sockaddr_storage storage{};
    c->connect_req_.data = c;
    // Snapshots hold resolved addresses only; anything else fails as a connect.
    rc = to_sockaddr(address, storage)
             ? uv_tcp_connect(&c->connect_req_, &c->socket_.tcp, reinterpret_cast<sockaddr*>(&storage), on_connect)
             : UV_EINVAL;
  }
  c->timer_mode_ = TimerMode::connect;
  c->timer_.set(connect_timeout_ms);
  if (rc < 0) {  // the caller treats nullptr as connect_failed
    c->owner_ = nullptr;
    c->close();
    return nullptr;
  }
  return c;
}

void UpstreamConnection::on_connect(uv_connect_t* req, int status) {
  auto* c = static_cast<UpstreamConnection*>(req->data);
  if (c->closing_) return;
  if (status < 0) {
    c->fail(status == UV_ECONNREFUSED || status == UV_ENOENT ? UpstreamFailure::connect_refused
                                                              : UpstreamFailure::connect_failed);
    return;
  }
  c->connected_ = true;
  c->disarm_timer();
  c->resume_reading();
  c->count_request();
  if (c->owner_) c->owner_->on_upstream_connected(*c);
}

void UpstreamConnection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<UpstreamConnection*>(stream->data);
  if (c->closing_) return;
  if (nread == 0) return;
  if (nread < 0) {
    c->fail(nread == UV_EOF ? UpstreamFailure::closed : UpstreamFailure::reset);
    return;
  }
  if (!c->owner_) {  // parked: an idle upstream must stay silent
    c->close();
    return;
  }
  if (c->timer_mode_ == TimerMode::io) c->refresh_io_timer(true);
  c->owner_->on_upstream_data(*c, {buf->base, static_cast<std::size_t>(nread)});
}

void UpstreamConnection::on_timer() {
  UpstreamConnection* c = this;
  if (c->closing_) return;
  switch (c->timer_mode_) {
    case TimerMode::connect: c->fail(UpstreamFailure::connect_timeout); break;
    case TimerMode::io:
      // Bytes still queued: the upstream stopped taking our request.
      c->fail(c->write_queue_size() > 0 ? UpstreamFailure::send_timeout : UpstreamFailure::response_timeout);
      break;
    case TimerMode::idle: c->close(); break;
    case TimerMode::none: break;
  }
}

void UpstreamConnection::fail(UpstreamFailure failure) {
  Owner* owner = owner_;
  owner_ = nullptr;
  close();
  if (owner) owner->on_upstream_failure(*this, failure);
}

int UpstreamConnection::write(std::string_view data) {
  const int rc = write_stream(&socket_.stream, data, this);
  if (timer_mode_ == TimerMode::io) refresh_io_timer(false);
  return rc;
}

int UpstreamConnection::write2(std::string_view first, std::string_view second) {
  const int rc = write_stream2(&socket_.stream, first, second, this);
  if (timer_mode_ == TimerMode::io) refresh_io_timer(false);
  return rc;
}

std::size_t UpstreamConnection::write_queue_size() const {
  return uv_stream_get_write_queue_size(&socket_.stream);
}

void UpstreamConnection::on_write_done(int status) {
  if (closing_) return;
  if (status < 0) {
    fail(UpstreamFailure::reset);
    return;
  }
  if (timer_mode_ == TimerMode::io) refresh_io_timer(true);
  if (owner_ && write_queue_size() < kLowWatermark) owner_->on_upstream_drained(*this);
}

// `progress`: the upstream just read or wrote something, so a running
// deadline starts over; otherwise only a deadline not yet running starts
// (our own writes are no progress of the upstream's).
void UpstreamConnection::refresh_io_timer(bool progress) {
  const bool owed = (response_wanted_ && !paused_) || write_queue_size() > 0;
  if (!owed) {
    timer_.clear();
  } else if (progress || !timer_.armed()) {
    timer_.set(io_timeout_ms_);
  }
}

// While we hold the upstream back for a slow client, its silence is ours,
// not the upstream's: the response timer only runs while we want to read
// (as nginx's proxy_read_timeout). The client's send deadline runs meanwhile.
void UpstreamConnection::pause_reading() {
  paused_ = true;
  if (timer_mode_ == TimerMode::io) refresh_io_timer(false);
  if (reading_) {
    uv_read_stop(&socket_.stream);
    reading_ = false;
  }
}

void UpstreamConnection::resume_reading() {
  paused_ = false;
  if (timer_mode_ == TimerMode::io) refresh_io_timer(true);
  if (!reading_ && connected_ && !closing_) {
    uv_read_start(&socket_.stream, alloc_loop_buffer, on_read);
    reading_ = true;
  }
}

void UpstreamConnection::set_io_timeout(std::uint64_t ms) {
  timer_mode_ = TimerMode::io;
  io_timeout_ms_ = ms;
  refresh_io_timer(false);
}

void UpstreamConnection::arm_response_timer(std::uint64_t ms) {
  timer_mode_ = TimerMode::io;
  io_timeout_ms_ = ms;
  response_wanted_ = true;
  refresh_io_timer(true);
}

void UpstreamConnection::stop_response_timer() {
  response_wanted_ = false;
  if (timer_mode_ == TimerMode::io) refresh_io_timer(false);
}

void UpstreamConnection::disarm_timer() {
  timer_mode_ = TimerMode::none;
  response_wanted_ = false;
  timer_.clear();
}

void UpstreamConnection::enable_keepalive(unsigned delay_s) {
  if (socket_.handle.type == UV_TCP && !closing_) uv_tcp_keepalive(&socket_.tcp, 1, delay_s);
}

void UpstreamConnection::adopt(Owner* owner) {
  owner_ = owner;
  disarm_timer();
  count_request();
}

void UpstreamConnection::park(std::uint64_t idle_timeout_ms) {
  owner_ = nullptr;
  resume_reading();
  timer_mode_ = TimerMode::idle;
  timer_.set(idle_timeout_ms);
}

void UpstreamConnection::close() {
  if (closing_) return;
  closing_ = true;
  if (timer_mode_ == TimerMode::idle) worker_.pool().forget(this);
  timer_.clear();
  uv_close(timer_.handle(), [](uv_handle_t* h) {
    auto* c = static_cast<UpstreamConnection*>(LazyTimer::of(h)->owner());
    if (--c->handles_open_ == 0) destroy(c);
  });
  if (handles_open_ == 2) uv_close(&socket_.handle, on_close);
}

void UpstreamConnection::on_close(uv_handle_t* handle) {
  auto* c = static_cast<UpstreamConnection*>(handle->data);
  if (--c->handles_open_ == 0) destroy(c);
}

void UpstreamConnection::destroy(UpstreamConnection* c) {
  Slabs* slabs = static_cast<const LoopShared*>(c->worker_.loop()->data)->slabs;
  c->~UpstreamConnection();
  slab_give(slabs, c, sizeof(UpstreamConnection));
}

}  // namespace sg::gateway
