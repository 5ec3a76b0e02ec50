// An HTTP/1 client connection: the codec behind the stream seam
// (gateway/http/downstream_stream.h). It reads and parses requests, runs one
// request at a time (pipelined requests wait their turn, so answers go out in
// order) and writes HTTP/1.1 responses: the handler (the exchange) never sees
// a byte of HTTP/1. It owns its deadlines: one for reading (header, body,
// keep-alive idle, tunnel idle, lingering close: one phase at a time) and one
// for sending (while bytes wait for a client that does not read). Each expiry
// is logged and counted, and frees the connection. Freed on the loop's turn
// after close() (its deadline fires at 0 ms), never on the stack.
//
// One request, top to bottom:
//   start()               an accepted transport (TCP, or TLS over it), timers, gauge
//   on_transport_data     -> consume(): llhttp (http_parser.h, request_checks.h)
//   on_head_complete      host_.new_stream(*this) -> handler_->on_request_head;
//                         the request's method, version, keep-alive and body
//                         are remembered for framing (no copy of the head)
//   on_body               handler_->on_request_body (unframed); the body timer
//   on_message_complete   handler_->on_request_complete; parsing pauses, later
//                         bytes wait in Busy::buffered (pipelining)
//   send_continue / send_interim_head / send_response_head / send_response_body
//   / end_response        HTTP/1.1 bytes appended to Busy::out: framing chosen at the
//                         head (Content-Length kept, re-chunked, none for
//                         HEAD/204/304, until close for HTTP/1.0 clients),
//                         Connection: close when not kept alive
//   flush                 out -> transport, one write per upstream read; the
//                         send timer runs while bytes wait; on_transport_written
//                         -> handler_->on_downstream_drained below the low mark
//   send_local_answer     a whole answer (local_reply.h), written at once
//   start_tunnel          after a 101: raw bytes both ways, the tunnel timer
//   finished(keep_alive)  the handler is deferred-deleted; keep-alive: the
//                         idle timer and the next buffered request; else flush,
//                         shut down and (maybe) linger, then close
// Errors of the client (a bad head, a deadline) are answered here when no
// response byte went out (reject, expire) and reported to the handler
// (on_downstream_gone), or logged through the host when there is no handler.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/http/downstream_stream.h"
#include "gateway/http1/http_head.h"
#include "gateway/http1/http_parser.h"
#include "gateway/net/deadline.h"
#include "gateway/net/recycler.h"
#include "gateway/net/transport.h"

namespace sg::gateway {

// The connection is its own reading Deadline (a base, so that the deadline's
// callback finds the connection without an owner pointer).
class DownstreamConnection final : public ServerConnection,
                                   private DownstreamStream,
                                   private HttpParserListener,
                                   private TransportObserver,
                                   private Deadline {
 public:
  // A client connected on `listener_name`; `transport` (TCP, or TLS over it)
  // was accepted by the host, and is owned by the connection from now on.
  static void start(ConnectionHost& host, Transport* transport, std::string_view listener_name);
  // The same for a transport that is ready already and was read by someone
  // else first (gateway/proxy/codec_selector.h): `already_read` is parsed
  // as the first bytes of the connection.
  static void adopt(ConnectionHost& host, Transport* transport, std::string_view listener_name,
                    std::string_view already_read);

  // ServerConnection
  // Drain: close an idle connection now, a busy one after its response.
  void drain() override;
  // Abort: close now, pending writes are dropped.
  void close() override;

 private:
  DownstreamConnection(ConnectionHost& host, Transport* transport);
  ~DownstreamConnection();
  static DownstreamConnection* create(ConnectionHost& host, Transport* transport, std::string_view listener_name);

  // DownstreamStream (the request being served)
  const ConnectionInfo& connection() const override { return transport_->info(); }
  bool send_continue() override;
  void send_interim_head(const ResponseHead& head) override;
  void send_response_head(const ResponseHead& head) override;
  void send_response_body(std::string_view data) override;
  void end_response() override;
  void flush() override;
  void send_local_answer(int status, const HeaderList& headers, std::string_view body) override;
  std::uint64_t bytes_sent() const override;
  std::size_t queued_bytes() const override { return transport_->queued_bytes(); }
  // Back-pressure from the upstream side.
  void pause_reading() override;
  void resume_reading() override;
  // Upgrade: from now on raw bytes flow both ways through the handler.
  void start_tunnel() override;
  void reset() override { close(); }
  // The response was fully handed to the socket. With keep_alive the next
  // (possibly already buffered) request is served, else the connection
  // closes once the socket has sent everything.
  void finished(bool keep_alive) override;

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

  int write(std::string_view data);
  // Bytes crossed the tunnel from the upstream (the client's own are seen here).
  void note_tunnel_activity();
  // The handler is done or gone: deleted once off the stack.
  void release_handler();

  void on_timer();
  void on_send_timer();
  void arm_send_timer();
  // A deadline ran out: logged with `code` and counted; with `status` and no
  // response started the client gets that error, then the connection closes.
  void expire(metrics::Reason code, std::string_view detail, int status);

  void consume(std::string_view data);
  void serve_buffered();
  void reject(const ParseRejection& rejection);
  // Flush, then close; with `linger`, read and discard input for a moment
  // first so unread bytes cannot turn our answer into a reset.
  void close_after_flush(bool linger = true);
  void start_reading();
  void stop_reading();
  void set_timer(std::uint64_t ms, int mode);
  // What only a busy connection needs (Busy, in the .cc: the parser, the
  // response and pipelining buffers, the send deadline) is one block lent by
  // the loop (recycler.h) from the first byte of a request, and given back
  // when a keep-alive connection stays idle (kParkMs): an idle connection
  // holds a null pointer instead of about 150 bytes and the parser.
  struct Busy;
  Recycler& recycler();
  Busy& busy();
  HttpParser& parser();
  bool in_message() const;
  bool has_buffered() const;
  void release_idle_state();

  ConnectionHost& host_;
  Transport* transport_;  // frees itself after close()
  // The reading deadline (the Deadline base): one phase at a time
  // (timer_mode_); once closing, the free on the loop's next turn (the
  // connection may be on the stack at close()).
  Deadline& timer() { return *this; }
  Busy* busy_ = nullptr;  // lent by the recycler while busy (busy())
  std::unique_ptr<StreamHandler> handler_;  // the request being served
  std::int64_t* open_gauge_ = nullptr;  // the listener's skewgate_downstream_connections
  std::uint8_t timer_mode_ = 0;
  bool backpressured_ = false;
  bool waiting_for_response_ = false;  // a complete request is being answered
  bool in_consume_ = false;
  bool tunnel_ = false;
  bool upgrade_request_ = false;
  bool closing_ = false;
  bool close_when_done_ = false;
  bool lingering_ = false;
  bool linger_after_shutdown_ = true;

  // The request being served, as its response's framing needs it.
  bool request_head_method_ = false;  // HEAD: a response never has a body
  bool request_http11_ = true;        // 1.1 or later: chunking is understood
  bool request_keep_alive_ = true;    // the client wants the connection kept
  bool request_has_body_ = false;
  // The response being written.
  BodyFraming framing_ = BodyFraming::none;
  bool send_body_ = true;   // false: HEAD, 204, 304 (the body is dropped)
  bool keep_alive_ = true;  // what the response head said
};

}  // namespace sg::gateway
