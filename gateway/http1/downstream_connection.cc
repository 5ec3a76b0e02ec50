#include "gateway/http1/downstream_connection.h"

#include "gateway/http/error_body.h"
#include "gateway/http1/local_reply.h"
#include "gateway/net/slab.h"
#include "gateway/net/stream_io.h"

namespace sg::gateway {
namespace {

// kParkTimer: the first moments of keep-alive idleness (kParkMs), after
// which the parser and the response buffer go back to the loop and
// kIdleTimer runs for the rest of timeouts.client_idle.
enum TimerMode { kNoTimer = 0, kHeaderTimer, kBodyTimer, kParkTimer, kIdleTimer, kTunnelTimer, kLingerTimer };

// After answering an error we stop writing but keep reading (and discarding)
// for a moment: closing with unread input makes the kernel send RST, which can
// destroy our response before the client has read it (nginx's lingering_close).
constexpr std::uint64_t kLingerMs = 2000;
constexpr std::uint64_t kDrainIdleGraceMs = 1000;
// A client that keeps its connection busy sends its next request within
// this: it keeps its parser and buffer (re-creating them cost about 300
// instructions per request); a connection idle for longer gives them back.
constexpr std::uint64_t kParkMs = 50;
constexpr std::size_t kLowWatermark = 64 * 1024;
// Busy::out holds one upstream read, re-framed; a larger one is not kept for the
// connection's next responses.
constexpr std::size_t kKeepOutCapacity = 256 * 1024;
// A body piece this large is written from the upstream's read buffer rather
// than copied after the head. A smaller one is copied: under TLS the head
// and a small body then stay one record (two SSL_write calls would make two).
constexpr std::size_t kBodyByReference = 4096;

}  // namespace

// The state of a connection that is reading or answering a request.
struct DownstreamConnection::Busy {
  Busy(DownstreamConnection& c, const conf::Limits& limits) : parser(HttpParser::Mode::request, c), send_timer(c) {
    parser.set_limits(&limits);
    parser.set_request_checks(true);
    parser.set_head_pool(c.host_.head_pool());
  }

  // Runs while the write queue is not empty.
  struct SendTimer : Deadline {
    explicit SendTimer(DownstreamConnection& c)
        : Deadline([](Deadline& d) { static_cast<SendTimer&>(d).connection.on_send_timer(); }), connection(c) {}
    DownstreamConnection& connection;
  };

  HttpParser parser;
  std::string buffered;  // bytes read past a complete request (pipelining) or tunnel data
  std::string out;       // response bytes of one upstream read, until flush(); reused
  // Unframed body bytes of that read, written after out by flush(); a view
  // into the upstream's read buffer, which the exchange flushes before
  // returning from the read (Exchange::flush_downstream).
  std::string_view body;
  SendTimer send_timer;
  std::uint64_t bytes_sent = 0;  // of the current request's response
  std::uint64_t tunnel_idle_ms = 0;
};

DownstreamConnection::DownstreamConnection(ConnectionHost& host, Transport* transport)
    : Deadline([](Deadline& d) { static_cast<DownstreamConnection&>(d).on_timer(); }),
      host_(host),
      transport_(transport) {}

DownstreamConnection::~DownstreamConnection() {
  if (busy_) {
    recycler().give_string(busy_->out);
    busy_->~Busy();
    recycler().give(busy_, sizeof(Busy));
  }
}

Recycler& DownstreamConnection::recycler() {
  return *static_cast<const LoopShared*>(host_.loop()->data)->recycler;
}

// The limits are the config's when the request starts (as the timeouts are):
// copied, since the parser outlives the snapshot they came from (ASan saw a
// read of a freed snapshot in on_url_cb when it did not).
DownstreamConnection::Busy& DownstreamConnection::busy() {
  if (!busy_) {
    busy_ = new (recycler().take(sizeof(Busy))) Busy(*this, host_.config().limits);
    recycler().take_string(busy_->out);
  }
  return *busy_;
}

HttpParser& DownstreamConnection::parser() { return busy().parser; }

bool DownstreamConnection::in_message() const { return busy_ && busy_->parser.in_message(); }

bool DownstreamConnection::has_buffered() const { return busy_ && !busy_->buffered.empty(); }

std::uint64_t DownstreamConnection::bytes_sent() const { return busy_ ? busy_->bytes_sent : 0; }

// Between requests of a keep-alive connection, nothing half-read, nothing
// on the stack and nothing queued: the parser is at a message boundary
// (llhttp_init again gives the same state), the response buffer holds
// nothing to send and the send deadline is not running.
void DownstreamConnection::release_idle_state() {
  if (!busy_ || in_consume_ || waiting_for_response_ || handler_ || tunnel_ || upgrade_request_ || closing_ ||
      lingering_ || !busy_->buffered.empty() || busy_->parser.in_message() || busy_->send_timer.armed() ||
      transport_->queued_bytes() > 0)
    return;
  recycler().give_string(busy_->out);
  busy_->~Busy();
  recycler().give(busy_, sizeof(Busy));
  busy_ = nullptr;
}

void DownstreamConnection::start(ConnectionHost& host, Transport* transport, std::string_view listener_name) {
  transport->start(*create(host, transport, listener_name));
}

void DownstreamConnection::adopt(ConnectionHost& host, Transport* transport, std::string_view listener_name,
                                 std::string_view already_read) {
  DownstreamConnection* c = create(host, transport, listener_name);
  transport->set_observer(*c);
  c->on_transport_ready();
  if (!already_read.empty()) c->on_transport_data(already_read);
}

DownstreamConnection* DownstreamConnection::create(ConnectionHost& host, Transport* transport,
                                                   std::string_view listener_name) {
  static_assert(alignof(DownstreamConnection) <= 8, "a slab block is 8-aligned");
  auto* c = new (slab_take(static_cast<const LoopShared*>(host.loop()->data)->slabs, sizeof(DownstreamConnection)))
      DownstreamConnection(host, transport);
  host.add_connection(c);
  c->open_gauge_ = host.connection_gauge(listener_name);
  ++*c->open_gauge_;
  return c;
}

void DownstreamConnection::on_transport_ready() {
  set_timer(host_.config().timeouts.client_header.count(), kHeaderTimer);
  start_reading();
}

// ---- reading and parsing ----

void DownstreamConnection::on_transport_data(std::string_view data) {
  if (closing_ || lingering_) return;
  if (tunnel_) {
    note_tunnel_activity();
    handler_->on_tunnel_data(data);
    return;
  }
  consume(data);
}

// EOF or reset: an exchange in flight is aborted (nginx's 499).
void DownstreamConnection::on_transport_end(int) { close(); }

void DownstreamConnection::consume(std::string_view data) {
  // client_body runs between two reads of a body, not over the whole body.
  if (timer_mode_ == kBodyTimer && !backpressured_)
    set_timer(host_.config().timeouts.client_body.count(), kBodyTimer);
  in_consume_ = true;
  while (!data.empty() && !closing_ && !lingering_) {
    if (waiting_for_response_) {
      // A pipelined request: keep it until the current response is done.
      busy().buffered.append(data);
      stop_reading();
      break;
    }
    const HttpParser::Result r = parser().execute(data);
    // The header timeout starts only when a head spans reads (slowloris);
    // a head that arrives whole never touches the timer.
    if (!handler_ && (timer_mode_ == kIdleTimer || timer_mode_ == kParkTimer) && busy_->parser.in_message() &&
        !busy_->parser.head_complete())
      set_timer(host_.config().timeouts.client_header.count(), kHeaderTimer);
    if (r.error == HPE_OK) break;
    data.remove_prefix(r.consumed);
    if (r.error == HPE_PAUSED) {
      busy_->parser.resume();
      continue;
    }
    if (r.error == HPE_PAUSED_UPGRADE) {
      busy_->buffered.append(data);  // first tunnel bytes, sent once the upstream agrees
      stop_reading();
      break;
    }
    reject(busy_->parser.rejection());
    break;
  }
  in_consume_ = false;
}

int DownstreamConnection::on_head_complete() {
  set_timer(0, kNoTimer);
  // The parser has vetted and normalised the head (gateway/request_checks.h):
  // CONNECT, bad targets, Host and hop-by-hop tricks never get here.
  Busy& b = busy();
  std::unique_ptr<RequestHead> head = b.parser.take_request();
  upgrade_request_ = head->upgrade;
  request_head_method_ = head->method == "HEAD";
  request_http11_ = head->http_major == 1 && head->http_minor >= 1;
  request_keep_alive_ = head->keep_alive;
  request_has_body_ = head->has_body();
  framing_ = BodyFraming::none;
  send_body_ = true;
  keep_alive_ = true;
  b.bytes_sent = 0;
  b.out.clear();  // what an aborted response left unflushed never goes out
  b.body = {};
  if (request_has_body_) set_timer(host_.config().timeouts.client_body.count(), kBodyTimer);
  // Kept before the head goes in: the handler may finish at once.
  handler_ = host_.new_stream(*this);
  handler_->on_request_head(std::move(head));
  return 0;
}

int DownstreamConnection::on_body(std::string_view data) {
  if (handler_) handler_->on_request_body(data);
  return 0;
}

int DownstreamConnection::on_message_complete() {
  if (timer_mode_ == kBodyTimer) set_timer(0, kNoTimer);
  if (!handler_) return HPE_PAUSED;
  waiting_for_response_ = true;
  handler_->on_request_complete();  // may finish at once (a local answer)
  // An upgrade must reach llhttp's own pause so the rest is tunnel data.
  return upgrade_request_ ? 0 : HPE_PAUSED;
}

// ---- the response (DownstreamStream) ----

bool DownstreamConnection::send_continue() {
  if (!request_http11_) return false;  // HTTP/1.0 has no 100 Continue (RFC 9110 section 15.2.1)
  write("HTTP/1.1 100 Continue\r\n\r\n");
  return true;
}

void DownstreamConnection::send_interim_head(const ResponseHead& head) {
  append_downstream_response_head(busy().out, head, BodyFraming::none, true);
}

void DownstreamConnection::send_response_head(const ResponseHead& head) {
  if (head.status == 101) {
    // The tunnel's bytes follow as they come, unframed.
    framing_ = BodyFraming::none;
    send_body_ = true;
    append_downstream_response_head(busy().out, head, BodyFraming::none, true);
    return;
  }
  send_body_ = !request_head_method_ && head.status != 204 && head.status != 304;
  if (head.status == 204) {
    framing_ = BodyFraming::none;
  } else if (head.content_length) {
    framing_ = BodyFraming::content_length;
  } else if (!send_body_) {
    framing_ = head.chunked ? BodyFraming::chunked : BodyFraming::none;
  } else {
    // Chunked, or delimited by the upstream closing: re-chunk for HTTP/1.1
    // clients so the connection survives; 1.0 clients read to close.
    framing_ = request_http11_ ? BodyFraming::chunked : BodyFraming::until_close;
  }
  keep_alive_ = request_keep_alive_ && framing_ != BodyFraming::until_close && !host_.draining();
  append_downstream_response_head(busy().out, head, framing_, keep_alive_);
}

void DownstreamConnection::send_response_body(std::string_view data) {
  if (tunnel_) note_tunnel_activity();
  if (!send_body_) return;
  Busy& b = busy();
  if (framing_ == BodyFraming::chunked) {
    append_chunk(b.out, data);
  } else if (b.body.empty() && data.size() >= kBodyByReference) {
    // Sent as it is, from the upstream's read buffer, after out (the head):
    // one writev and no copy of the body (a 16 KiB body was copied here).
    b.body = data;
  } else if (b.body.empty()) {
    b.out.append(data);
  } else {
    // A second piece in one read: the first is copied after all, in order.
    b.out.append(b.body).append(data);
    b.body = {};
  }
}

void DownstreamConnection::end_response() {
  if (framing_ == BodyFraming::chunked && send_body_) busy().out.append("0\r\n\r\n", 5);
}

void DownstreamConnection::flush() {
  if (!busy_) return;  // nothing was put in out
  Busy& b = *busy_;
  if (b.body.empty()) {
    if (b.out.empty()) return;
    b.bytes_sent += b.out.size();
    write(b.out);
  } else if (!closing_) {
    // As write(), for two pieces: what the kernel does not take now is
    // copied into the transport's queue, so body is not needed after this.
    b.bytes_sent += b.out.size() + b.body.size();
    if (transport_->write2(b.out, b.body) < 0) {
      b.body = {};
      close();
      return;
    }
    if (!b.send_timer.armed() && queued_bytes() > 0) arm_send_timer();
  }
  b.body = {};
  b.out.clear();
  if (b.out.capacity() > kKeepOutCapacity) b.out.shrink_to_fit();
}

void DownstreamConnection::send_local_answer(int status, const HeaderList& headers, std::string_view body) {
  keep_alive_ = request_keep_alive_ && !host_.draining();
  // With a request body still to come, close after answering rather than
  // wait for a body the client may never send (Expect: 100-continue).
  if (!waiting_for_response_ && request_has_body_) keep_alive_ = false;
  const std::string bytes = render_reply(status, headers, body, keep_alive_, request_head_method_);
  busy().bytes_sent += bytes.size();
  write(bytes);
}

int DownstreamConnection::write(std::string_view data) {
  if (closing_) return UV_ECANCELED;
  const int rc = transport_->write(data);
  if (rc < 0) {
    close();
    return rc;
  }
  // Bytes wait for the client: it has client_send to take some of them.
  if (queued_bytes() > 0 && !(busy_ && busy_->send_timer.armed())) arm_send_timer();
  return rc;
}

void DownstreamConnection::arm_send_timer() {
  if (closing_) return;
  const std::uint64_t ms = host_.config().timeouts.client_send.count();
  if (ms > 0) busy().send_timer.set(host_.loop(), ms);  // 0: no send deadline
}

void DownstreamConnection::on_transport_written(int status) {
  if (closing_) return;
  if (status < 0) {
    close();
    return;
  }
  // The client took bytes: progress, the send deadline starts over.
  if (queued_bytes() > 0) {
    arm_send_timer();
  } else if (busy_) {
    busy_->send_timer.clear();
  }
  if (handler_ && queued_bytes() < kLowWatermark) handler_->on_downstream_drained();
}

// Reads paused for the upstream's sake: the client is not late, so its body
// deadline stops; the upstream's send deadline runs instead.
void DownstreamConnection::pause_reading() {
  backpressured_ = true;
  if (timer_mode_ == kBodyTimer && !closing_) timer().clear();
  stop_reading();
}

void DownstreamConnection::resume_reading() {
  backpressured_ = false;
  if (timer_mode_ == kBodyTimer) set_timer(host_.config().timeouts.client_body.count(), kBodyTimer);
  if (!waiting_for_response_ || tunnel_) start_reading();
}

void DownstreamConnection::finished(bool keep_alive) {
  release_handler();
  waiting_for_response_ = false;
  // The upstream declined the upgrade (no 101): still HTTP/1.1, the next
  // request is parsed as usual (RFC 9110 section 7.8).
  if (upgrade_request_ && busy_) busy_->parser.resume_after_upgrade();
  upgrade_request_ = false;
  if (!keep_alive || !keep_alive_ || tunnel_ || close_when_done_ || host_.draining()) {
    // Lingering is for input we have not read; a finished request with
    // nothing after it (Connection: close) can be closed once flushed.
    close_after_flush(has_buffered() || in_message());
    return;
  }
  const std::uint64_t idle_ms = host_.config().timeouts.client_idle.count();
  if (idle_ms > kParkMs) {
    set_timer(kParkMs, kParkTimer);
  } else {
    set_timer(idle_ms, kIdleTimer);
  }
  if (!in_consume_) serve_buffered();
}

void DownstreamConnection::serve_buffered() {
  if (has_buffered()) {
    const std::string data = std::move(busy_->buffered);
    busy_->buffered.clear();
    consume(data);
  }
  if (!closing_ && !lingering_ && !waiting_for_response_ && !backpressured_) start_reading();
}

void DownstreamConnection::note_tunnel_activity() {
  if (timer_mode_ == kTunnelTimer && busy_ && busy_->tunnel_idle_ms > 0 && !closing_) timer().set(host_.loop(), busy_->tunnel_idle_ms);
}

void DownstreamConnection::start_tunnel() {
  tunnel_ = true;
  Busy& b = busy();
  b.tunnel_idle_ms = host_.config().timeouts.tunnel_idle.count();
  set_timer(b.tunnel_idle_ms, kTunnelTimer);
  transport_->set_keepalive(kTunnelKeepaliveS);
  if (!b.buffered.empty()) {
    const std::string data = std::move(b.buffered);
    b.buffered.clear();
    handler_->on_tunnel_data(data);
  }
  if (!closing_ && !backpressured_) start_reading();
}

// An idle keep-alive client may be sending its next request right now:
// closing at once would reset it. Give it a short grace in which that request
// is still answered (with Connection: close), then close.
void DownstreamConnection::drain() {
  close_when_done_ = true;
  if (!handler_ && !has_buffered() && !in_message()) set_timer(kDrainIdleGraceMs, kIdleTimer);
}

// ---- errors, timers, closing ----

void DownstreamConnection::reject(const ParseRejection& rejection) {
  if (closing_ || lingering_) return;
  bool can_answer = true;
  if (handler_) {
    can_answer = !handler_->response_started();
    auto handler = std::move(handler_);
    handler->on_downstream_gone();
    host_.defer_delete(std::move(handler));
  }
  if (!can_answer) {
    close();
    return;
  }
  const std::string body = json_error_body(rejection.code, rejection.detail);
  HeaderList headers{{"content-type", "application/json"}, {"cache-control", "no-store"}};
  // RFC 9110 section 15.5.6: a 405 lists the methods that are served. The
  // only 405 here is CONNECT: skewgate is a reverse proxy, not a tunnel, and
  // every other method is proxied.
  if (rejection.status == 405) headers.push_back({"allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"});
  write(render_reply(rejection.status, headers, body, false, false));
  host_.log_connection_error(peer_text(transport_->info().peer), rejection.code, rejection.status, body.size());
  host_.count_rejection(rejection.code);
  close_after_flush();
}

void DownstreamConnection::expire(metrics::Reason code, std::string_view detail, int status) {
  if (closing_) return;
  host_.count_rejection(code);
  const bool answer = status != 0 && !lingering_ && !(handler_ && handler_->response_started());
  if (handler_) {
    // The handler writes the access-log line (it knows the request).
    auto handler = std::move(handler_);
    handler->on_downstream_gone(code, answer ? status : 0);
    host_.defer_delete(std::move(handler));
  } else {
    host_.log_connection_error(peer_text(transport_->info().peer), code, answer ? status : 0, 0);
  }
  if (!answer) {
    close();
    return;
  }
  const std::string body = json_error_body(code, detail);
  write(render_reply(status, {{"content-type", "application/json"}, {"cache-control", "no-store"}}, body, false,
                     false));
  close_after_flush();
}

void DownstreamConnection::close_after_flush(bool linger) {
  if (closing_ || lingering_) return;
  lingering_ = true;
  set_timer(0, kNoTimer);  // the send deadline covers the flush; then the linger timer
  linger_after_shutdown_ = linger;
  waiting_for_response_ = false;
  // TLS ends with close_notify (RFC 8446 section 6.1), which shutdown() sends.
  if (!linger && queued_bytes() == 0 && !transport_->info().secure) {
    close();  // everything is in the kernel's send buffer: close() still delivers it
    return;
  }
  if (transport_->shutdown() != 0) close();
}

void DownstreamConnection::on_transport_shutdown(int status) {
  if (closing_) return;
  if (status < 0 || !linger_after_shutdown_) {
    close();
    return;
  }
  set_timer(kLingerMs, kLingerTimer);
  start_reading();  // discard until EOF or the linger timer
}

void DownstreamConnection::on_timer() {
  DownstreamConnection* c = this;
  if (c->closing_) {
    // close() deferred it to the check phase: nothing of ours is on the stack now
    Slabs* slabs = static_cast<const LoopShared*>(c->host_.loop()->data)->slabs;
    c->~DownstreamConnection();
    slab_give(slabs, c, sizeof(DownstreamConnection));
    return;
  }
  switch (c->timer_mode_) {
    case kHeaderTimer:
      if (c->in_message()) {
        c->reject({408, metrics::Reason::client_header_timeout,
                   "request head not received within timeouts.client_header"});
      } else {
        // Nothing was sent at all: just close, as nginx does (over TLS
        // after close_notify: an orderly end, not a truncation).
        c->close_after_flush(false);
      }
      break;
    case kBodyTimer:
      // 408 while nothing of the response went out, else just close.
      c->expire(metrics::Reason::client_body_timeout, "request body stalled for longer than timeouts.client_body", 408);
      break;
    case kTunnelTimer: c->expire(metrics::Reason::tunnel_idle_timeout, {}, 0); break;  // closes both sides
    case kParkTimer: {
      c->release_idle_state();
      const std::uint64_t idle_ms = c->host_.config().timeouts.client_idle.count();
      c->set_timer(idle_ms > kParkMs ? idle_ms - kParkMs : 1, kIdleTimer);
      break;
    }
    case kIdleTimer: c->close_after_flush(false); break;  // idle: nothing queued; TLS says close_notify
    case kLingerTimer: c->close(); break;
    default: break;
  }
}

// The client took none of our bytes for client_send (it stopped reading):
// nothing can reach it any more, so close (nginx's send_timeout).
void DownstreamConnection::on_send_timer() {
  if (closing_) return;
  expire(metrics::Reason::client_send_timeout, {}, 0);
}

void DownstreamConnection::set_timer(std::uint64_t ms, int mode) {
  if (closing_) return;  // timer() holds the free now
  timer_mode_ = mode;
  if (mode == kNoTimer || ms == 0) {
    timer().clear();
  } else {
    timer().set(host_.loop(), ms);
  }
}

void DownstreamConnection::start_reading() {
  if (!closing_) transport_->read_start();
}

void DownstreamConnection::stop_reading() { transport_->read_stop(); }

void DownstreamConnection::close() {
  if (closing_) return;
  closing_ = true;
  if (handler_) {
    auto handler = std::move(handler_);
    handler->on_downstream_gone();
    host_.defer_delete(std::move(handler));
  }
  if (open_gauge_) --*open_gauge_;
  host_.remove_connection(this);
  if (busy_) busy_->send_timer.clear();
  transport_->close();
  timer().defer(host_.loop());  // the free (on_timer), once whoever called us has returned
}

void DownstreamConnection::release_handler() { host_.defer_delete(std::move(handler_)); }

}  // namespace sg::gateway
