// An HTTP/2 client connection: the codec behind the stream seam
// (gateway/http/downstream_stream.h) for h2 over TLS (ALPN) and h2c by prior
// knowledge. nghttp2 does the framing, HPACK and flow control; this class
// moves bytes between it and the transport, makes one Http2Stream per
// request stream (each with its own handler, the exchange), and owns the
// connection's deadlines and defences.
//
// One connection, top to bottom:
//   start()            a ready transport (after TLS and ALPN, or after the
//                      first bytes showed the h2c preface); SETTINGS out
//   on_transport_data  nghttp2_session_mem_recv -> callbacks:
//     begin_headers      a new Http2Stream (max_requests, then GOAWAY)
//     header             the stream's H2RequestBuilder (limits as HTTP/1)
//     frame_recv         HEADERS done: the stream routes it; DATA/HEADERS with
//                        END_STREAM: the request is complete; RST_STREAM,
//                        PING, SETTINGS and empty DATA spend budgets
//     data_chunk_recv    request body to the stream (window given back as
//                        the upstream takes it)
//     stream_close       the stream's handler, if still working, is told
//   send()             nghttp2_session_mem_send -> one transport write per
//                      pass, while the transport's queue is short; streams
//                      with room are told (on_downstream_drained)
//     send_data          a DATA frame: its header and the frames gathered
//                        before it, then its payload straight from the
//                        stream's bytes (no copy into nghttp2's buffer)
//   drain()            GOAWAY with the last stream ID: streams in flight
//                      finish, then the connection closes
// Defences, each counted (skewgate_http2_connection_errors_total{reason}), each a
// GOAWAY then close: rapid_reset (client resets of streams in progress past
// http2.reset_budget, CVE-2023-44487), ping_flood and settings_flood
// (http2.control_budget), empty_frame_flood (more than kMaxEmptyFrames DATA
// frames in a row without payload or END_STREAM), continuation_flood
// (nghttp2 bounds CONTINUATION frames, CVE-2024-27316), hpack_bomb (a header
// block far past the limits, or HPACK that does not decode),
// zero_window_timeout (the client keeps a stream's window at zero for
// timeouts.client_send while we have bytes for it: that stream is reset),
// h2_protocol_error (anything else nghttp2 ends the connection for).
// Memory: an idle connection gives nghttp2's 16 KiB output frame buffer
// back to the kernel after kQuietMs without I/O (h2_memory.h).
// Freed on the loop's turn after close() (its quiet deadline fires at 0 ms),
// never on the stack.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/http/downstream_stream.h"
#include "gateway/http2/h2_memory.h"
#include "gateway/http2/h2_stream.h"
#include "gateway/net/deadline.h"
#include "gateway/net/transport.h"

namespace sg::gateway {

class Http2Connection final : public ServerConnection, private TransportObserver {
 public:
  // A transport that is ready (its TLS handshake chose h2, or it is plain and
  // its first bytes, `already_read`, began with the client preface); the
  // connection owns it from now on.
  static void start(ConnectionHost& host, Transport* transport, std::string_view listener_name,
                    std::string_view already_read);

  // ServerConnection
  void drain() override;
  void close() override;

  // --- for streams ---
  ConnectionHost& host() { return host_; }
  nghttp2_session* session() { return session_; }
  const ConnectionInfo& info() const { return transport_->info(); }
  // Hands what nghttp2 has to the transport (soon, when inside a callback).
  void send();
  // The same at the start of the loop's next turn (before it waits for I/O):
  // the responses of several streams finished by upstream reads of one turn
  // leave in one write (one TLS record, one system call) instead of one each.
  void send_soon();
  // A stream is done with (closed by nghttp2): freed once off the stack.
  void retire(std::int32_t id);

 private:
  Http2Connection(ConnectionHost& host, Transport* transport);
  ~Http2Connection();

  // TransportObserver
  void on_transport_ready() override {}
  void on_transport_data(std::string_view data) override;
  void on_transport_end(int status) override;
  void on_transport_written(int status) override;
  void on_transport_shutdown(int status) override;

  bool init_session();
  void receive(std::string_view data);
  // Ends the connection for an error (`reason`, counted): GOAWAY with
  // `error_code`, then close once it is out.
  void fail(metrics::Reason reason, std::uint32_t error_code);
  bool write_out();
  void after_io();
  void close_when_done();
  void update_idle();
  void check_stalls();
  bool spend(double& tokens, std::uint64_t& last_ms, const conf::EventBudget& budget);
  int defend(metrics::Reason reason);
  void count_failure();

  static void on_idle_timer(void* self);
  static void on_stall_timer(void* self);
  static void on_quiet_timer(void* self);

  // nghttp2 callbacks
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags, void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t len, void* self);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* self);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error_code, void* self);
  static int on_send_data(nghttp2_session*, nghttp2_frame* frame, const std::uint8_t* framehd, std::size_t length,
                          nghttp2_data_source* source, void* self);

  Http2Stream* stream(std::int32_t id);

  ConnectionHost& host_;
  Transport* transport_;  // frees itself after close()
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::unique_ptr<Http2Stream>> streams_;
  std::vector<std::unique_ptr<Http2Stream>> retired_;  // freed in after_io()
  OwnedDeadline idle_timer_;   // client_idle while no stream is open; the drain grace
  OwnedDeadline stall_timer_;  // client_send for streams the client's window holds up
  OwnedDeadline quiet_timer_;  // kQuietMs without I/O: nghttp2's frame buffer goes back to the kernel
  H2Memory memory_;        // session_'s allocator (session_ is deleted in the destructor's body)
  std::string out_;        // one send() pass, then one transport write
  std::int64_t* open_gauge_ = nullptr;
  std::uint64_t streams_begun_ = 0;
  std::uint64_t header_block_bytes_ = 0;
  std::uint64_t queue_since_ = 0;  // uv_now when the transport's queue last became non-empty without progress  // decoded bytes of the block being received
  // Budgets (token buckets) and counters of the defences.
  double reset_tokens_ = 0;
  std::uint64_t reset_refill_ms_ = 0;
  double ping_tokens_ = 0;
  std::uint64_t ping_refill_ms_ = 0;
  double settings_tokens_ = 0;
  std::uint64_t settings_refill_ms_ = 0;
  unsigned empty_frames_ = 0;
  std::uint64_t pings_ = 0;
  std::uint64_t settings_ = 0;
  metrics::Reason failure_ = metrics::Reason::none;  // why we sent an error GOAWAY
  int depth_ = 0;  // inside receive()/send(): sends are batched, streams kept
  bool send_again_ = false;
  bool write_failed_ = false;  // a transport write inside on_send_data failed
  bool sending_ = false;
  bool soon_ = false;  // a send_soon() waits for the quiet deadline at 0 ms
  bool closing_ = false;
  bool shutting_down_ = false;
  bool draining_ = false;
  bool counted_ = false;  // failure_ went to the metric
};

}  // namespace sg::gateway
