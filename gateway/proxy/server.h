// The main thread's side: binds listeners, runs one Worker per thread, hands
// new snapshots to every worker and drains them on shutdown.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gateway/net/handover.h"
#include "gateway/proxy/access_log.h"
#include "gateway/proxy/worker.h"
#include "routing/snapshot.h"

namespace sg::gateway {

// `workers: auto` = the CPUs this process may run on (taskset is honoured).
unsigned resolve_worker_count(unsigned configured);

class Server {
 public:
  // `reports` (optional) receives what workers learn for the control plane.
  // `keyring` (optional) is shared by every worker and must outlive them.
  Server(std::shared_ptr<const routing::Snapshot> snapshot, AccessLogSink& log_sink,
         RuntimeReports* reports = nullptr, const skew::PinKeyring* keyring = nullptr);
  ~Server();

  // Binds every listener and starts the workers. False with `error` set when
  // a listener cannot be bound (nothing is left running then).
  // `passed`: sockets handed over by a predecessor (handover.h); the ones
  // used are marked fd = -1.
  bool start(std::string& error, std::vector<PassedSocket>* passed = nullptr);
  // The TLS contexts (and redirect_https flags) of the listeners, before
  // start(); a listener missing from them is plain.
  void set_tls(std::shared_ptr<const TlsContexts> tls) { tls_ = std::move(tls); }
  // Duplicates of every listening socket, for a successor.
  std::vector<PassedSocket> handover_sockets() const;
  // The listeners' real addresses (port 0 resolved), in config order.
  const std::vector<std::string>& listener_names() const { return listener_names_; }
  unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
  // What the workers publish for /metrics (null before start()).
  const metrics::StatsBoard* stats_board() const { return board_.get(); }

  // A reload's listeners: new ones are bound (all or none: false with
  // `error`) and handed to every worker, removed ones closed. `notes` says
  // what changed and what cannot change live (workers). `tls` (when set)
  // reaches each worker in the same message, so a new listener never
  // accepts before its TLS context is there; new handshakes use it, open
  // connections keep theirs.
  bool update_listeners(const conf::Config& next, std::vector<std::string>& notes, std::string& error,
                        std::shared_ptr<const TlsContexts> tls = nullptr);
  // Every worker switches to `snapshot` for new requests.
  void apply(std::shared_ptr<const routing::Snapshot> snapshot);
  // Stop accepting, let in-flight requests finish (up to the drain timeout),
  // join the threads. Returns the number of libuv handles left open (0 = clean).
  int drain_and_join();

 private:
  std::shared_ptr<const routing::Snapshot> snapshot_;
  AccessLogSink& log_sink_;
  RuntimeReports* reports_;
  const skew::PinKeyring* keyring_;
  std::shared_ptr<const TlsContexts> tls_;
  std::unique_ptr<metrics::StatsBoard> board_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::vector<int> leaked_;
  std::vector<std::string> listener_names_;
  std::vector<PassedSocket> handover_;  // our own dups, closed with the server
  bool drained_ = false;

  std::vector<BoundListener> sockets_for(const conf::SocketAddress& address, unsigned count,
                                         std::vector<PassedSocket>* passed, std::string& error);
};

}  // namespace sg::gateway
