// One connection to one upstream address: connect, bytes in and out, and a
// timer. It knows nothing of HTTP; the owning Exchange parses the response.
// Freed only in its close callback, so `this` survives any callback it makes.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conf/address.h"
#include "gateway/net/lazy_timer.h"
#include "gateway/net/stream_io.h"
#include "metrics/reason.h"

namespace sg::gateway {

class Worker;

// What went wrong with an upstream; reason_of() gives its catalogue code
// (response detail, access log, metric label).
enum class UpstreamFailure {
  connect_refused,
  connect_timeout,
  connect_failed,
  response_timeout,
  reset,
  closed,
  send_timeout,  // request bytes queued and the upstream took none for upstream_response
};
metrics::Reason reason_of(UpstreamFailure failure);

class UpstreamConnection final : private WriteObserver {
 public:
  class Owner {
   public:
    virtual void on_upstream_connected(UpstreamConnection& upstream) = 0;
    virtual void on_upstream_data(UpstreamConnection& upstream, std::string_view data) = 0;
    // EOF, a reset or a timeout; the connection closes itself right after.
    virtual void on_upstream_failure(UpstreamConnection& upstream, UpstreamFailure failure) = 0;
    virtual void on_upstream_drained(UpstreamConnection& upstream) = 0;  // write queue below the low watermark

   protected:
    ~Owner() = default;
  };

  // Starts a connect; the owner hears on_upstream_connected or a failure.
  static UpstreamConnection* connect(Worker& worker, const conf::SocketAddress& address, std::size_t pool_slot,
                                     Owner* owner, std::uint64_t connect_timeout_ms);

  // Taken from the pool by a new exchange.
  void adopt(Owner* owner);
  bool reused() const { return requests_ > 1; }
  std::size_t pool_slot() const { return pool_slot_; }
  const conf::SocketAddress& address() const { return address_; }

  int write(std::string_view data);
  int write2(std::string_view first, std::string_view second);
  std::size_t write_queue_size() const;
  void pause_reading();
  void resume_reading();

  // While an exchange uses the connection, one deadline of `ms` runs
  // whenever the upstream owes us something: write progress while request
  // bytes are queued (a send timeout), and once the response is awaited, a
  // read (the response timeout). Any progress pushes it back. Paused reads
  // stop only the read half: the client's send deadline covers that time.
  void set_io_timeout(std::uint64_t ms);
  void arm_response_timer(std::uint64_t ms);
  // A tunnel: no response is awaited any more, the send deadline stays.
  void stop_response_timer();
  void disarm_timer();
  // TCP keepalive probes (tunnels: a peer that vanished is noticed).
  void enable_keepalive(unsigned delay_s);

  // Parked in the pool: any byte or EOF from the upstream, or the idle
  // timeout, closes it.
  void park(std::uint64_t idle_timeout_ms);
  void close();
  bool closing() const { return closing_; }
  // The pool's list of idle connections this one is parked in; nullptr while
  // it serves an exchange. UpstreamPool's bookkeeping: no map from
  // connection to list, so parking allocates nothing.
  std::vector<UpstreamConnection*>* idle_list() const { return idle_list_; }
  void set_idle_list(std::vector<UpstreamConnection*>* list) { idle_list_ = list; }

 private:
  UpstreamConnection(Worker& worker, const conf::SocketAddress& address, std::size_t pool_slot);
  ~UpstreamConnection() = default;
  // Destroys `c` and gives its block back to the loop's slab.
  static void destroy(UpstreamConnection* c);
  static void on_connect(uv_connect_t* req, int status);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void on_timer();
  static void on_close(uv_handle_t* handle);
  void on_write_done(int status) override;
  void fail(UpstreamFailure failure);
  void count_request() { ++requests_; }
  void refresh_io_timer(bool progress);

  enum class TimerMode { none, connect, io, idle };

  Worker& worker_;
  conf::SocketAddress address_;
  std::size_t pool_slot_;
  StreamHandle socket_;
  LazyTimer timer_;
  uv_connect_t connect_req_;
  Owner* owner_ = nullptr;
  std::vector<UpstreamConnection*>* idle_list_ = nullptr;
  TimerMode timer_mode_ = TimerMode::none;
  std::uint64_t io_timeout_ms_ = 0;
  bool response_wanted_ = false;
  unsigned requests_ = 0;
  int handles_open_ = 0;
  bool connected_ = false;
  bool reading_ = false;
  bool paused_ = false;
  bool closing_ = false;
};

}  // namespace sg::gateway
