// A client connection: reads and parses requests, runs one Exchange at a
// time (pipelined requests wait their turn, so answers go out in order), and
// owns its deadlines: one for reading (header, body, keep-alive idle, tunnel
// idle, lingering close: one phase at a time) and one for sending (while
// bytes wait for a client that does not read). Each expiry is logged and
// counted, and frees the connection. Freed only in its close callback.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/http1/http_parser.h"
#include "gateway/net/lazy_timer.h"
#include "gateway/net/transport.h"

namespace sg::gateway {

class Exchange;
class Worker;
struct ListenerHandle;

class DownstreamConnection final : private HttpParserListener, private TransportObserver {
 public:
  static void accept(Worker& worker, ListenerHandle& listener);

  // --- used by the Exchange ---
  int write(std::string_view data);
  std::size_t write_queue_size() const;
  // Back-pressure from the upstream side.
  void pause_reading();
  void resume_reading();
  // The response was fully handed to the socket. With keep_alive the next
  // (possibly already buffered) request is served, else the connection
  // closes once the socket has sent everything.
  void exchange_finished(bool keep_alive);
  // Upgrade: from now on raw bytes flow both ways through the exchange.
  void start_tunnel();
  // Bytes crossed the tunnel from the upstream (the client's own are seen here).
  void note_tunnel_activity();
  // Abort: close now, pending writes are dropped.
  void close();
  bool closing() const { return closing_; }
  bool tls() const { return transport_->info().secure; }
  bool redirect_https() const { return transport_->info().redirect_https; }
  const std::string& peer_ip() const { return transport_->info().peer_ip; }
  bool peer_trusted() const { return transport_->info().peer_trusted; }
  bool idle() const { return !exchange_; }
  // Drain: close an idle connection now, a busy one after its response.
  void drain();

 private:
  DownstreamConnection(Worker& worker, Transport* transport);
  ~DownstreamConnection() = default;

  // HttpParserListener
  int on_head_complete() override;
  int on_body(std::string_view data) override;
  int on_message_complete() override;
  // TransportObserver
  void on_transport_ready() override;
  void on_transport_data(std::string_view data) override;
  void on_transport_end(int status) override;
  void on_transport_written(int status) override;
  void on_transport_shutdown(int status) override;

  void on_timer();
  void on_send_timer();
  void arm_send_timer();
  // A deadline ran out: logged with `code` and counted; with `status` and no
  // response started the client gets that error, then the connection closes.
  void expire(std::string_view code, std::string_view detail, int status);
  static void on_timer_closed(uv_handle_t* handle);

  void consume(std::string_view data);
  void serve_buffered();
  void reject(const ParseRejection& rejection);
  // Flush, then close; with `linger`, read and discard input for a moment
  // first so unread bytes cannot turn our answer into a reset.
  void close_after_flush(bool linger = true);
  void start_reading();
  void stop_reading();
  void set_timer(std::uint64_t ms, int mode);

  Worker& worker_;
  Transport* transport_;  // frees itself after close()
  LazyTimer timer_;       // reading: one phase at a time (timer_mode_)
  LazyTimer send_timer_;  // runs while the write queue is not empty
  HttpParser parser_;
  std::unique_ptr<Exchange> exchange_;
  std::string buffered_;  // bytes read past a complete request (pipelining) or tunnel data
  std::int64_t* open_gauge_ = nullptr;  // the listener's skewgate_downstream_connections
  int timer_mode_ = 0;
  std::uint64_t tunnel_idle_ms_ = 0;
  int handles_open_ = 0;
  bool backpressured_ = false;
  bool waiting_for_response_ = false;  // a complete request is being answered
  bool in_consume_ = false;
  bool tunnel_ = false;
  bool upgrade_request_ = false;
  bool closing_ = false;
  bool close_when_done_ = false;
  bool lingering_ = false;
  bool linger_after_shutdown_ = true;
};

}  // namespace sg::gateway
