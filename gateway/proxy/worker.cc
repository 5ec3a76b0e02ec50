#include "gateway/proxy/worker.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "gateway/http1/downstream_connection.h"
#include "gateway/net/tcp_transport.h"
#include "gateway/proxy/codec_selector.h"
#include "gateway/proxy/exchange.h"

namespace sg::gateway {
namespace {

constexpr std::uint64_t kLogFlushMs = 100;
constexpr int kBacklog = 4096;

}  // namespace

// ---- snapshot leases ----

SnapshotLease::SnapshotLease(Worker* worker, LocalSnapshot* local) : worker_(worker), local_(local) {
  ++local_->leases;
}

SnapshotLease::SnapshotLease(SnapshotLease&& other) noexcept : worker_(other.worker_), local_(other.local_) {
  other.local_ = nullptr;
}

SnapshotLease& SnapshotLease::operator=(SnapshotLease&& other) noexcept {
  if (this != &other) {
    release();
    worker_ = other.worker_;
    local_ = other.local_;
    other.local_ = nullptr;
  }
  return *this;
}

SnapshotLease::~SnapshotLease() { release(); }

void SnapshotLease::release() {
  if (local_ && --local_->leases == 0) worker_->release_snapshot(local_);
  local_ = nullptr;
}

void Worker::release_snapshot(LocalSnapshot* local) {
  if (local == current_ || local->leases > 0) return;
  snapshots_.remove_if([local](const auto& s) { return s.get() == local; });
}

// ---- life cycle ----

Worker::Worker(unsigned index, std::shared_ptr<const routing::Snapshot> snapshot,
               std::vector<BoundListener> listeners, AccessLogSink* log_sink, RuntimeReports* reports,
               const skew::PinKeyring* keyring, metrics::StatsBoard* board)
    : index_(index),
      read_buffer_(new char[kReadBufferSize]),
      deadlines_(&loop_),
      heap_trim_(&loop_, recycler_),
      bound_listeners_(std::move(listeners)),
      pool_(*this),
      access_log_(log_sink),
      reports_(reports),
      keyring_(keyring),
      board_(board) {
  uv_loop_init(&loop_);
  loop_shared_ = {read_buffer_.get(), kReadBufferSize, &deadlines_, &recycler_, &slabs_};
  loop_.data = &loop_shared_;
  recycler_.set_heap_trim(&heap_trim_);
  heap_trim_.set_shed([](void* worker) { static_cast<Worker*>(worker)->head_pool_.shed(); }, this);
  snapshots_.push_front(std::make_unique<LocalSnapshot>(LocalSnapshot{std::move(snapshot), 0}));
  current_ = snapshots_.front().get();
  uv_async_init(&loop_, &async_, on_async);
  async_.data = this;
  uv_check_init(&loop_, &reaper_);
  reaper_.data = this;
  uv_check_start(&reaper_, on_check);
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  uv_timer_init(&loop_, &log_timer_);
  log_timer_.data = this;
  uv_timer_init(&loop_, &second_timer_);
  second_timer_.data = this;
}

Worker::~Worker() = default;

int Worker::run() {
  start_listeners();
  if (access_log_.enabled())
    uv_timer_start(
        &log_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->access_log_.flush(); }, kLogFlushMs,
        kLogFlushMs);
  if (reports_ || board_) uv_timer_start(&second_timer_, on_second, 1000, 1000);
  uv_run(&loop_, UV_RUN_DEFAULT);
  graveyard_.clear();
  access_log_.flush();
  int open_handles = 0;
  uv_walk(
      &loop_, [](uv_handle_t*, void* arg) { ++*static_cast<int*>(arg); }, &open_handles);
  if (open_handles == 0) uv_loop_close(&loop_);
  return open_handles;
}

void Worker::start_listeners() {
  for (const BoundListener& bound : bound_listeners_) {
    auto l = std::make_unique<ListenerHandle>();
    l->worker = this;
    l->name = bound.name;
    l->is_unix = bound.is_unix;
    l->config_name = bound.config_name;
    l->tls = tls_ ? tls_->listener(l->config_name) : nullptr;
    if (bound.is_unix) {
      uv_pipe_init(&loop_, &l->socket.pipe, 0);
      uv_pipe_open(&l->socket.pipe, bound.fd);
      l->socket.handle.data = l.get();
      uv_listen(&l->socket.stream, kBacklog, on_connection);
    } else {
      // Copied to the accepted sockets (tcp_transport.cc checks once).
      // bind_listener set it before listen(); again for a socket handed over
      // by an older process.
      const int on = 1;
      ::setsockopt(bound.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      // bind_listener (or the process that handed it over) already listens.
      if (l->acceptor.start(&loop_, bound.fd, l.get(), on_accept) != 0) continue;
    }
    listeners_.push_back(std::move(l));
  }
  bound_listeners_.clear();
}

void Worker::refresh_listener_tls() {
  for (auto& l : listeners_) l->tls = tls_ ? tls_->listener(l->config_name) : nullptr;
}

void Worker::close_listener(ListenerHandle* listener) {
  if (listener->is_unix) {
    uv_close(&listener->socket.handle, [](uv_handle_t* h) { delete static_cast<ListenerHandle*>(h->data); });
  } else {
    listener->acceptor.close([](void* owner) { delete static_cast<ListenerHandle*>(owner); });
  }
}

void Worker::on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* listener = static_cast<ListenerHandle*>(server->data);
  listener->worker->serve(*listener, UnixTransport::accept_unix(listener->worker->loop(), server));
}

void Worker::on_accept(void* owner, int fd, const sockaddr_storage& peer) {
  auto* listener = static_cast<ListenerHandle*>(owner);
  Worker& worker = *listener->worker;
  worker.serve(*listener, TcpTransport::adopt(worker.loop(), fd, peer, worker.snapshot().config().trusted_proxies,
                                              listener->nodelay));
}

template <typename Handle>
void Worker::serve(ListenerHandle& listener, StreamTransport<Handle>* socket) {
  if (socket == nullptr) return;
  if (metrics::WorkerStats* stats = this->stats()) ++stats->connections_accepted;
  // TLS over the socket when the listener has a certificate.
  const ListenerTls* tls = listener.tls;
  Transport* transport = listener_transport(listener, socket);
  if (transport == nullptr) return;
  // HTTP/2 possible (ALPN offers h2, or h2c): the codec is chosen once the
  // handshake or the first bytes tell.
  if (tls && (tls->h2c || (tls->ctx && tls->http2))) {
    CodecSelector::start(*this, transport, listener.name, tls->h2c);
    return;
  }
  DownstreamConnection::start(*this, transport, listener.name);
}

// ---- messages from the main thread ----

void Worker::post_snapshot(std::shared_ptr<const routing::Snapshot> snapshot) {
  {
    std::lock_guard lock(mutex_);
    posted_snapshot_ = std::move(snapshot);
  }
  uv_async_send(&async_);
}

void Worker::post_drain(std::uint64_t drain_timeout_ms) {
  {
    std::lock_guard lock(mutex_);
    posted_drain_ = true;
    posted_drain_timeout_ms_ = drain_timeout_ms;
  }
  uv_async_send(&async_);
}

void Worker::on_async(uv_async_t* handle) { static_cast<Worker*>(handle->data)->apply_posted(); }

void Worker::post_listener_changes(std::vector<BoundListener> add, std::vector<std::string> remove,
                                   std::shared_ptr<const TlsContexts> tls) {
  {
    std::lock_guard lock(mutex_);
    for (auto& b : add) posted_add_.push_back(b);
    for (auto& name : remove) posted_remove_.push_back(name);
    if (tls) posted_tls_ = std::move(tls);
  }
  uv_async_send(&async_);
}

template <typename Handle>
Transport* Worker::listener_transport(const ListenerHandle& listener, StreamTransport<Handle>* socket) {
  const ListenerTls* entry = listener.tls;
  if (socket == nullptr || entry == nullptr) return socket;
  if (entry->ctx == nullptr) {
    if (entry->redirect_https) socket->set_redirect_https();
    return socket;
  }
  const auto timeout = static_cast<std::uint64_t>(snapshot().config().timeouts.tls_handshake.count());
  return TlsTransport::create(&loop_, socket, tls_, entry->ctx, timeout, this, entry->http2);
}

void Worker::count_http2_error(metrics::Reason reason) {
  metrics::WorkerStats* s = stats();
  const auto index = metrics::kHttp2ErrorLabels.index(reason);
  if (s && index) ++s->http2_errors[*index];
}

void Worker::on_tls_handshake_error(metrics::Reason reason) {
  metrics::WorkerStats* s = stats();
  const auto index = metrics::kTlsHandshakeLabels.index(reason);
  if (s && index) ++s->tls_handshake_errors[*index];
}

void Worker::apply_posted() {
  std::shared_ptr<const routing::Snapshot> snapshot;
  bool drain = false;
  std::uint64_t drain_timeout_ms = 0;
  std::vector<std::string> remove;
  {
    std::lock_guard lock(mutex_);
    bound_listeners_.insert(bound_listeners_.end(), posted_add_.begin(), posted_add_.end());
    posted_add_.clear();
    remove = std::move(posted_remove_);
    posted_remove_.clear();
    if (posted_tls_) {
      tls_ = std::move(posted_tls_);
      refresh_listener_tls();  // the entries of the contexts just replaced are gone with them
    }
    posted_tls_.reset();
    snapshot = std::move(posted_snapshot_);
    drain = posted_drain_;
    posted_drain_ = false;
    drain_timeout_ms = posted_drain_timeout_ms_;
  }
  if (snapshot) {
    LocalSnapshot* previous = current_;
    snapshots_.push_front(std::make_unique<LocalSnapshot>(LocalSnapshot{std::move(snapshot), 0}));
    current_ = snapshots_.front().get();
    release_snapshot(previous);
    pool_.keep_only(*current_->snapshot);
  }
  for (const std::string& name : remove) {
    for (auto it = listeners_.begin(); it != listeners_.end();) {
      if ((*it)->name != name) {
        ++it;
        continue;
      }
      close_listener(it->release());  // freed in its close callback
      it = listeners_.erase(it);
    }
  }
  if (!draining_) {
    start_listeners();
  } else {
    for (const auto& b : bound_listeners_) ::close(b.fd);
    bound_listeners_.clear();
  }
  if (drain && !draining_) begin_drain(drain_timeout_ms);
}

// ---- connections and deferred deletion ----

std::unique_ptr<StreamHandler> Worker::new_stream(DownstreamStream& stream) {
  return std::make_unique<Exchange>(*this, stream);
}

void Worker::add_connection(ServerConnection* connection) { connections_.add(connection); }

void Worker::remove_connection(ServerConnection* connection) {
  connections_.remove(connection);
  maybe_finish_drain();
}

void Worker::defer_delete(std::unique_ptr<StreamHandler> handler) {
  if (handler) graveyard_.push_back(std::move(handler));
}

void Worker::count_rejection(metrics::Reason code) {
  if (metrics::WorkerStats* stats = this->stats()) ++stats->rejected[metrics::reject_reason_index(code)];
}

// No request to name: the line says "-" for its method and target.
void Worker::log_connection_error(std::string_view peer, metrics::Reason code, int status,
                                  std::uint64_t bytes_sent) {
  AccessLogEntry entry;
  entry.peer = peer;
  entry.method = "-";
  entry.target = "-";
  entry.outcome = "error";
  entry.detail = code;
  entry.status = status;
  entry.bytes_sent = bytes_sent;
  access_log_.record(entry);
}

void Worker::on_check(uv_check_t* handle) {
  auto* worker = static_cast<Worker*>(handle->data);
  worker->graveyard_.clear();
}

// ---- graceful drain ----

void Worker::begin_drain(std::uint64_t timeout_ms) {
  draining_ = true;
  for (auto& listener : listeners_) close_listener(listener.release());
  listeners_.clear();
  pool_.close_all();
  const auto open = connections_.snapshot<std::vector<ServerConnection*>>();
  for (ServerConnection* c : open) c->drain();
  uv_timer_start(&drain_timer_, on_drain_timeout, timeout_ms, 0);
  maybe_finish_drain();
}

void Worker::on_drain_timeout(uv_timer_t* handle) {
  auto* worker = static_cast<Worker*>(handle->data);
  const auto open = worker->connections_.snapshot<std::vector<ServerConnection*>>();
  for (ServerConnection* c : open) c->close();
}

void Worker::maybe_finish_drain() {
  if (!draining_ || !connections_.empty() || loop_handles_closed_) return;
  loop_handles_closed_ = true;
  pool_.close_all();
  access_log_.flush();
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&reaper_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&log_timer_), nullptr);
  on_second(&second_timer_);  // the last batch
  uv_close(reinterpret_cast<uv_handle_t*>(&second_timer_), nullptr);
  heap_trim_.stop();   // its deadline would keep a list's timer open
  deadlines_.close();  // once the last connections' deferred frees ran
}

// ---- facts for the control plane ----

std::int64_t Worker::wall_ms() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

void Worker::note_request(const routing::Build& build) {
  if (!reports_) return;
  const std::uint64_t now = uv_now(&loop_);
  auto it = last_request_.find(pool_key_of(build));
  if (it == last_request_.end()) {
    last_request_.emplace(owned_pool_key(build), now);
  } else {
    it->second = now;
  }
}

void Worker::report_connect_failure(const routing::Build& build) {
  if (reports_) reports_->connect_failure(build.pool_key);
}

std::int64_t* Worker::connection_gauge(std::string_view listener) {
  if (last_gauge_ && listener == last_gauge_listener_) return last_gauge_;
  auto it = stats_.downstream_connections.find(listener);
  if (it == stats_.downstream_connections.end()) it = stats_.downstream_connections.emplace(listener, 0).first;
  last_gauge_listener_.assign(listener);
  last_gauge_ = &it->second;
  return last_gauge_;
}

void Worker::on_second(uv_timer_t* handle) {
  auto* worker = static_cast<Worker*>(handle->data);
  if (worker->board_) worker->board_->publish(worker->index_, worker->stats_);
  worker->report_last_requests();
}

void Worker::report_last_requests() {
  if (!reports_ || last_request_.empty()) return;
  const std::int64_t wall = wall_ms();
  const std::uint64_t loop_now = uv_now(&loop_);
  std::unordered_map<std::string, std::int64_t> batch;
  for (const auto& [key, at] : last_request_) batch.emplace(key.text, wall - static_cast<std::int64_t>(loop_now - at));
  last_request_.clear();
  reports_->last_requests(batch);
}

}  // namespace sg::gateway
