// One event loop on one thread: its own listeners (SO_REUSEPORT), upstream
// pools, access-log buffer and snapshot. Nothing here is shared with other
// workers except the immutable snapshot (STYLE.md rule 6).
#pragma once

#include <uv.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/http/downstream_stream.h"
#include "gateway/http/head_pool.h"
#include "gateway/net/deadline.h"
#include "gateway/net/peer_address.h"
#include "gateway/net/recycler.h"
#include "gateway/net/slab.h"
#include "gateway/net/listener_socket.h"
#include "gateway/net/stream_io.h"
#include "gateway/net/tcp_acceptor.h"
#include "gateway/net/tcp_transport.h"
#include "gateway/net/tls_transport.h"
#include "gateway/proxy/access_log.h"
#include "gateway/proxy/pool_key.h"
#include "gateway/proxy/runtime_reports.h"
#include "gateway/proxy/upstream_pool.h"
#include "metrics/stats_board.h"
#include "metrics/worker_stats.h"
#include "routing/snapshot.h"
#include "skew/pin.h"

namespace sg::gateway {

class Worker;

// A worker-local reference count on a snapshot, so a request can keep the
// snapshot it started with without touching the shared_ptr's atomic count.
struct LocalSnapshot {
  std::shared_ptr<const routing::Snapshot> snapshot;
  unsigned leases = 0;
};

class SnapshotLease {
 public:
  SnapshotLease() = default;
  SnapshotLease(Worker* worker, LocalSnapshot* local);
  SnapshotLease(SnapshotLease&& other) noexcept;
  SnapshotLease& operator=(SnapshotLease&& other) noexcept;
  ~SnapshotLease();
  const routing::Snapshot& operator*() const { return *local_->snapshot; }
  const routing::Snapshot* operator->() const { return local_->snapshot.get(); }

 private:
  void release();
  Worker* worker_ = nullptr;
  LocalSnapshot* local_ = nullptr;
};

// A TCP listener accepts through its TcpAcceptor, a Unix one through
// libuv (`socket`, a uv_pipe_t).
struct ListenerHandle {
  StreamHandle socket;
  TcpAcceptor acceptor;
  Worker* worker;
  std::string name;
  bool is_unix;
  std::string config_name;  // as written in the config: finds its TLS context
  // tls_->listener(config_name), looked up when the listener starts and when
  // the TLS contexts change, not per connection (two map lookups by name
  // cost about 200 instructions per accepted connection).
  const ListenerTls* tls = nullptr;
  TcpTransport::NoDelay nodelay = TcpTransport::NoDelay::unknown;
};

// The ConnectionHost of its downstream connections: they create an Exchange
// per request through new_stream() and never see the Worker itself.
// It also hears of failed TLS handshakes (TlsEvents) to count them.
class Worker final : public ConnectionHost, private TlsEvents {
 public:
  // `keyring` (optional, process-wide, immutable) seals and opens pins.
  // `board` (optional) receives this worker's stats once a second.
  Worker(unsigned index, std::shared_ptr<const routing::Snapshot> snapshot, std::vector<BoundListener> listeners,
         AccessLogSink* log_sink, RuntimeReports* reports, const skew::PinKeyring* keyring = nullptr,
         metrics::StatsBoard* board = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs the loop on the calling thread until the worker has drained.
  // Returns the number of handles still open when the loop ended (0 is clean).
  int run();

  // Thread-safe: hand over a new snapshot / start a graceful drain.
  void post_snapshot(std::shared_ptr<const routing::Snapshot> snapshot);
  void post_drain(uint64_t drain_timeout_ms);
  // A reload added or removed listeners: start accepting on `add`, close the
  // listeners named in `remove`.
  // `tls` (when set) replaces the listeners' TLS contexts first.
  void post_listener_changes(std::vector<BoundListener> add, std::vector<std::string> remove,
                             std::shared_ptr<const TlsContexts> tls = nullptr);
  // Before run(): the listeners' TLS contexts (none: every listener is plain).
  void set_tls(std::shared_ptr<const TlsContexts> tls) {
    tls_ = std::move(tls);
    refresh_listener_tls();
  }
  // The transport a connection accepted on `listener` reads and writes
  // through: `socket` itself, or TLS over it (the listener's current context;
  // the connection keeps it). nullptr when `socket` is.
  template <typename Handle>
  Transport* listener_transport(const ListenerHandle& listener, StreamTransport<Handle>* socket);

  // Loop-thread API.
  unsigned index() const { return index_; }
  uv_loop_t* loop() override { return &loop_; }
  SnapshotLease lease_snapshot() { return SnapshotLease(this, current_); }
  const routing::Snapshot& snapshot() const { return *current_->snapshot; }
  UpstreamPool& pool() { return pool_; }
  AccessLog& access_log() { return access_log_; }
  const skew::PinKeyring* keyring() const { return keyring_; }
  skew::PinScratch& pin_scratch() { return pin_scratch_; }
  bool draining() const override { return draining_; }
  std::uint64_t now_ms() const { return uv_now(const_cast<uv_loop_t*>(&loop_)); }

  // ConnectionHost
  const conf::Config& config() const override { return current_->snapshot->config(); }
  std::unique_ptr<StreamHandler> new_stream(DownstreamStream& stream) override;  // an Exchange
  void add_connection(ServerConnection* connection) override;
  void remove_connection(ServerConnection* connection) override;
  // Envoy's deferredDelete: the exchange may still be on the stack.
  void defer_delete(std::unique_ptr<StreamHandler> handler) override;
  void count_rejection(metrics::Reason code) override;
  void log_connection_error(std::string_view peer, metrics::Reason code, int status,
                            std::uint64_t bytes_sent) override;
  void count_http2_error(metrics::Reason code) override;
  HeadPool* head_pool() override { return &head_pool_; }
  HeadPool& heads() { return head_pool_; }
  Recycler& recycler() { return recycler_; }
  // A peer's address as text (X-Forwarded-For, the canary cohort, the log).
  const PeerText& peer_text(const PeerAddress& peer) { return peer_texts_.text(peer); }
  void release_snapshot(LocalSnapshot* local);

  // This worker's counters; nullptr while the running snapshot has
  // metrics.enabled: false (then a request records nothing).
  metrics::WorkerStats* stats() { return current_->snapshot->config().metrics.enabled ? &stats_ : nullptr; }
  // The open-connections gauge of one listener (stable for the worker's life).
  std::int64_t* connection_gauge(std::string_view listener) override;

  // Facts for the control plane, batched here and handed over once a second.
  void note_request(const routing::Build& build);
  void report_connect_failure(const routing::Build& build);
  static std::int64_t wall_ms();  // unix ms

  static constexpr unsigned kReadBufferSize = 64 * 1024;

 private:
  static void on_async(uv_async_t* handle);
  static void on_check(uv_check_t* handle);
  static void on_drain_timeout(uv_timer_t* handle);
  static void on_second(uv_timer_t* handle);
  void report_last_requests();
  void on_tls_handshake_error(metrics::Reason reason) override;
  static void on_connection(uv_stream_t* server, int status);
  static void on_accept(void* owner, int fd, const sockaddr_storage& peer);
  template <typename Handle>
  void serve(ListenerHandle& listener, StreamTransport<Handle>* socket);
  static void close_listener(ListenerHandle* listener);
  void start_listeners();
  void refresh_listener_tls();
  void apply_posted();
  void begin_drain(uint64_t timeout_ms);
  void maybe_finish_drain();

  unsigned index_;
  uv_loop_t loop_;
  uv_async_t async_;
  uv_check_t reaper_;
  uv_timer_t drain_timer_;
  uv_timer_t log_timer_;
  uv_timer_t second_timer_;
  // Loop time (uv_now) of the last request per build pool key.
  std::unordered_map<PoolKey, std::uint64_t, PoolKeyHash, PoolKeyEqual> last_request_;
  std::unique_ptr<char[]> read_buffer_;
  DeadlineQueues deadlines_;  // the connections' deadlines (deadline.h)
  Recycler recycler_;         // memory lent to busy connections (recycler.h)
  HeadPool head_pool_;        // message heads for reuse (head_pool.h); outlives every exchange
  PeerTextCache peer_texts_;  // the last peer's text (peer_address.h)
  HeapTrim heap_trim_;        // free pages back to the kernel after a burst (heap_trim.h)
  Slabs slabs_;               // the connections' long-lived objects (slab.h)
  LoopShared loop_shared_;    // loop_.data points here (stream_io.h)
  std::vector<BoundListener> bound_listeners_;
  std::vector<std::unique_ptr<ListenerHandle>> listeners_;
  std::shared_ptr<const TlsContexts> tls_;
  LocalSnapshot* current_;
  std::list<std::unique_ptr<LocalSnapshot>> snapshots_;  // current first; older ones while leased
  UpstreamPool pool_;
  AccessLog access_log_;
  RuntimeReports* reports_;
  const skew::PinKeyring* keyring_;
  skew::PinScratch pin_scratch_;
  metrics::StatsBoard* board_;
  metrics::WorkerStats stats_;  // never reassigned: connection gauges point into it
  // The last listener whose gauge was asked for: connections come in runs
  // per listener, and a map lookup by name cost about 200 instructions per
  // accepted connection.
  std::string last_gauge_listener_;
  std::int64_t* last_gauge_ = nullptr;
  ServerConnectionList connections_;  // open downstream connections
  std::vector<std::unique_ptr<StreamHandler>> graveyard_;
  bool draining_ = false;
  bool loop_handles_closed_ = false;

  // Posted from other threads; guarded by mutex_ and applied in on_async.
  std::mutex mutex_;
  std::shared_ptr<const routing::Snapshot> posted_snapshot_;
  bool posted_drain_ = false;
  std::vector<BoundListener> posted_add_;
  std::vector<std::string> posted_remove_;
  std::shared_ptr<const TlsContexts> posted_tls_;
  uint64_t posted_drain_timeout_ms_ = 0;
};

}  // namespace sg::gateway
