#include "gateway/http2/h2_connection.h"

#include <uv.h>

#include <algorithm>
#include <bit>

namespace sg::gateway {
namespace {

using metrics::Reason;

// The transport's queue above which send() stops asking nghttp2 for frames:
// the rest waits in the streams (and the exchange pauses its upstream).
constexpr std::size_t kSendHighWater = 64 * 1024;
// More DATA frames than this in a row without payload or END_STREAM is a
// flood (CVE-2019-9518); a browser sends none (Envoy allows one).
constexpr unsigned kMaxEmptyFrames = 10;
// A header block's decoded bytes past this many times limits.header_bytes
// end the connection (hpack_bomb): the stream's own refusal (431) comes at
// 1x; far beyond it the client keeps sending what it was told is too much.
constexpr std::uint64_t kBombFactor = 4;
constexpr std::uint64_t kDrainIdleGraceMs = 1000;
// Quiet time after which an idle connection's frame buffer goes back to the
// kernel (as TlsTransport's record buffers).
constexpr std::uint64_t kQuietMs = 250;
// RFC 9113 section 4.1.
constexpr std::size_t kFrameHeaderBytes = 9;
// A DATA payload below this joins the frames gathered for the pass (a copy);
// from it on, it is written from the stream's bytes with what was gathered
// before it. A write of its own costs a TLS record and a system call, about
// what copying 4 KiB costs; small responses of many streams leave in one.
constexpr std::size_t kWriteDirectFrom = 4096;

Http2Connection* self_of(void* p) { return static_cast<Http2Connection*>(p); }

// A deadline's list is one per duration (net/deadline.h): the stall check's
// re-arm for "the earliest stall's rest" would make a list per remaining
// time. Rounded down to a power of two instead: at most one list per bit,
// and a check that comes early finds nothing due and re-arms for the rest
// (at most one re-arm per halving), so a stall still expires on time.
std::uint64_t rearm_ms(std::uint64_t ms) { return ms <= 1 ? 1 : std::bit_floor(ms); }

}  // namespace

Http2Connection::Http2Connection(ConnectionHost& host, Transport* transport) : host_(host), transport_(transport) {}

Http2Connection::~Http2Connection() {
  streams_.clear();
  retired_.clear();
  if (session_) nghttp2_session_del(session_);
}

void Http2Connection::start(ConnectionHost& host, Transport* transport, std::string_view listener_name,
                            std::string_view already_read) {
  auto* c = new Http2Connection(host, transport);
  c->idle_timer_.init(host.loop(), c, on_idle_timer);
  c->stall_timer_.init(host.loop(), c, on_stall_timer);
  c->quiet_timer_.init(host.loop(), c, on_quiet_timer);
  host.add_connection(c);
  c->open_gauge_ = host.connection_gauge(listener_name);
  ++*c->open_gauge_;
  transport->set_observer(*c);
  const conf::Http2Settings& h2 = host.config().http2;
  const std::uint64_t now = uv_now(host.loop());
  c->reset_tokens_ = static_cast<double>(h2.reset_budget.burst);
  c->ping_tokens_ = c->settings_tokens_ = static_cast<double>(h2.control_budget.burst);
  c->reset_refill_ms_ = c->ping_refill_ms_ = c->settings_refill_ms_ = now;
  if (!c->init_session()) {
    c->close();
    return;
  }
  c->update_idle();
  c->quiet_timer_.set(kQuietMs);
  if (host.draining()) c->drain();  // accepted just before a drain began
  transport->read_start();
  if (!already_read.empty()) {
    c->on_transport_data(already_read);
  } else {
    c->send();  // our SETTINGS
  }
}

bool Http2Connection::init_session() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks, on_invalid_frame);
  nghttp2_session_callbacks_set_send_data_callback(callbacks, on_send_data);

  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return false;
  }
  // Window updates only as the upstream takes request bytes (Http2Stream).
  nghttp2_option_set_no_auto_window_update(option, 1);
  const conf::Config& config = host_.config();
  // nghttp2's own bounds stay as backstops: CONTINUATION frames per block
  // (8, CVE-2024-27316), SETTINGS entries (32), queued ACKs (1000).
  nghttp2_option_set_max_continuations(option, 8);
  memory_.begin_session();
  const int rc = nghttp2_session_server_new3(&session_, callbacks, this, option, memory_.mem());
  memory_.end_session();
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rc != 0) return false;

  const conf::Http2Settings& h2 = config.http2;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, static_cast<std::uint32_t>(h2.max_concurrent_streams)},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<std::uint32_t>(h2.initial_window)},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, static_cast<std::uint32_t>(h2.max_frame_size)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(config.limits.header_bytes)},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},  // RFC 8441: WebSocket over h2
  };
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings)) != 0) return false;
  // The connection window: RFC 9113's 65535 is too small for uploads over a
  // long round trip; streams stay bounded by initial_window each.
  if (h2.connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE)
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(h2.connection_window));
  return true;
}

Http2Stream* Http2Connection::stream(std::int32_t id) {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

// ---- reading ----

void Http2Connection::on_transport_data(std::string_view data) {
  if (closing_) return;
  ++depth_;
  receive(data);
  --depth_;
  after_io();
}

void Http2Connection::receive(std::string_view data) {
  if (shutting_down_ || failure_ != Reason::none) return;  // ending for an error: nothing more is read
  const ssize_t rc =
      nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
  if (rc >= 0) return;
  if (rc == NGHTTP2_ERR_CALLBACK_FAILURE && failure_ != Reason::none) {
    // One of our defences (defend()): GOAWAY ENHANCE_YOUR_CALM, then close.
    fail(failure_, NGHTTP2_ENHANCE_YOUR_CALM);
    return;
  }
  Reason reason = Reason::h2_protocol_error;
  std::uint32_t code = NGHTTP2_PROTOCOL_ERROR;
  switch (rc) {
    case NGHTTP2_ERR_FLOODED:
      // Its queue of ACKs to send is full: the client sends PING or SETTINGS
      // faster than it reads.
      reason = pings_ >= settings_ ? Reason::ping_flood : Reason::settings_flood;
      code = NGHTTP2_ENHANCE_YOUR_CALM;
      break;
    case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
      reason = Reason::continuation_flood;
      code = NGHTTP2_ENHANCE_YOUR_CALM;
      break;
    case NGHTTP2_ERR_HEADER_COMP:
      reason = Reason::hpack_bomb;
      code = NGHTTP2_COMPRESSION_ERROR;
      break;
    default: break;
  }
  if (failure_ == Reason::none) failure_ = reason;
  if (nghttp2_is_fatal(static_cast<int>(rc))) {
    // The session cannot write a GOAWAY any more: count, and close.
    count_failure();
    close();
    return;
  }
  fail(failure_, code);
}

void Http2Connection::count_failure() {
  if (counted_) return;
  counted_ = true;
  host_.count_http2_error(failure_ != Reason::none ? failure_ : Reason::h2_protocol_error);
}

// A defence tripped inside a callback: nghttp2 stops reading this input
// (a terminate_session inside its callbacks leaves its reader in a state it
// then asserts on, with nghttp2 1.52), and receive() sends the GOAWAY.
int Http2Connection::defend(Reason reason) {
  if (failure_ == Reason::none) failure_ = reason;
  return NGHTTP2_ERR_CALLBACK_FAILURE;
}

int Http2Connection::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* p) {
  Http2Connection* c = self_of(p);
  if (frame->hd.type != NGHTTP2_HEADERS || c->failure_ != Reason::none) return 0;
  c->header_block_bytes_ = 0;
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  const std::int32_t id = frame->hd.stream_id;
  auto stream = std::make_unique<Http2Stream>(*c, id, c->host_.config().limits);
  nghttp2_session_set_stream_user_data(c->session_, id, stream.get());
  c->streams_.emplace(id, std::move(stream));
  c->update_idle();
  // nginx's keepalive_requests for h2: past it the client is told to go to
  // a new connection; this stream is still served.
  if (++c->streams_begun_ == c->host_.config().http2.max_requests)
    nghttp2_submit_goaway(c->session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR, nullptr, 0);
  return 0;
}

int Http2Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                               std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
                               void* p) {
  Http2Connection* c = self_of(p);
  if (c->failure_ != Reason::none) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  c->header_block_bytes_ += namelen + valuelen;
  const conf::Limits& limits = c->host_.config().limits;
  if (c->header_block_bytes_ > kBombFactor * limits.header_bytes + 64 * 1024) return c->defend(Reason::hpack_bomb);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers
  Http2Stream* s = c->stream(frame->hd.stream_id);
  if (s == nullptr) return 0;
  s->on_header(std::string_view(reinterpret_cast<const char*>(name), namelen),
               std::string_view(reinterpret_cast<const char*>(value), valuelen));
  return 0;
}

bool Http2Connection::spend(double& tokens, std::uint64_t& last_ms, const conf::EventBudget& budget) {
  const std::uint64_t now = uv_now(host_.loop());
  tokens = std::min(static_cast<double>(budget.burst),
                    tokens + static_cast<double>(now - last_ms) * static_cast<double>(budget.per_second) / 1000.0);
  last_ms = now;
  if (tokens < 1.0) return false;
  tokens -= 1.0;
  return true;
}

int Http2Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* p) {
  Http2Connection* c = self_of(p);
  if (c->failure_ != Reason::none) return 0;
  const conf::Http2Settings& h2 = c->host_.config().http2;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_DATA && frame->hd.length == 0 && !end_stream) {
    if (++c->empty_frames_ > kMaxEmptyFrames) {
      return c->defend(Reason::empty_frame_flood);
    }
  } else if (frame->hd.type != NGHTTP2_CONTINUATION) {
    c->empty_frames_ = 0;
  }
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Http2Stream* s = c->stream(frame->hd.stream_id);
      if (s == nullptr) break;
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        s->on_headers_done(end_stream);
      } else if (end_stream) {
        s->on_end_stream();  // trailers end the body
      }
      break;
    }
    case NGHTTP2_DATA:
      if (end_stream)
        if (Http2Stream* s = c->stream(frame->hd.stream_id)) s->on_end_stream();
      break;
    case NGHTTP2_RST_STREAM: {
      // CVE-2023-44487: resets of streams we are still serving cost us a
      // request each; a budget of them, then the connection goes.
      Http2Stream* s = c->stream(frame->hd.stream_id);
      if (s != nullptr && !s->response_complete() &&
          !c->spend(c->reset_tokens_, c->reset_refill_ms_, h2.reset_budget)) {
        return c->defend(Reason::rapid_reset);
      }
      break;
    }
    case NGHTTP2_PING:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
        ++c->pings_;
        if (!c->spend(c->ping_tokens_, c->ping_refill_ms_, h2.control_budget)) {
          return c->defend(Reason::ping_flood);
        }
      }
      break;
    case NGHTTP2_SETTINGS:
      if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
        ++c->settings_;
        if (!c->spend(c->settings_tokens_, c->settings_refill_ms_, h2.control_budget)) {
          return c->defend(Reason::settings_flood);
        }
      }
      break;
    default: break;
  }
  return 0;
}

int Http2Connection::on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                                   const std::uint8_t* data, std::size_t len, void* p) {
  Http2Connection* c = self_of(p);
  Http2Stream* s = c->failure_ == Reason::none ? c->stream(stream_id) : nullptr;
  if (s == nullptr) {
    nghttp2_session_consume_connection(session, len);
    return 0;
  }
  s->on_data(std::string_view(reinterpret_cast<const char*>(data), len));
  return 0;
}

int Http2Connection::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* p) {
  Http2Connection* c = self_of(p);
  if (Http2Stream* s = c->stream(stream_id)) s->on_closed(error_code);
  c->retire(stream_id);
  return 0;
}

int Http2Connection::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* p) {
  Http2Connection* c = self_of(p);
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) c->count_failure();
  if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    if (Http2Stream* s = c->stream(frame->hd.stream_id)) {
      s->on_end_sent();
      // RFC 9113 section 8.1: the response is whole; a request body still
      // on its way is not wanted.
      if (!s->request_complete())
        nghttp2_submit_rst_stream(c->session_, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
    }
  }
  return 0;
}

int Http2Connection::on_invalid_frame(nghttp2_session*, const nghttp2_frame* frame, int lib_error_code, void* p) {
  Http2Connection* c = self_of(p);
  // A malformed request (RFC 9113 section 8.1.1): nghttp2 resets the stream;
  // it is counted and logged as a refusal.
  if (frame->hd.type == NGHTTP2_HEADERS &&
      (lib_error_code == NGHTTP2_ERR_HTTP_HEADER || lib_error_code == NGHTTP2_ERR_HTTP_MESSAGING)) {
    c->host_.count_rejection(Reason::malformed_request);
    c->host_.log_connection_error(peer_text(c->transport_->info().peer), Reason::malformed_request, 0, 0);
  }
  return 0;
}

void Http2Connection::retire(std::int32_t id) {
  const auto it = streams_.find(id);
  if (it == streams_.end()) return;
  retired_.push_back(std::move(it->second));
  streams_.erase(it);
  update_idle();
}

// ---- writing ----

void Http2Connection::send() {
  if (closing_) return;
  if (depth_ > 0 || sending_) {
    send_again_ = true;
    return;
  }
  sending_ = true;
  // Passes until nghttp2 has nothing more or the socket's queue is long: a
  // write the kernel takes whole reports no on_transport_written, so
  // stopping earlier would leave frames waiting for the client's next one.
  bool wrote = true;
  do {
    send_again_ = false;
    wrote = false;
    while (transport_->queued_bytes() < kSendHighWater) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        sending_ = false;
        if (!write_failed_) count_failure();  // a failed write is the client's going, not an h2 error
        close();
        return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      if (out_.size() >= kSendHighWater && !write_out()) return;
      wrote = true;
    }
    if (!out_.empty() && !write_out()) return;
    // Room again: streams whose exchange paused its upstream hear it (and
    // may hand over more bytes: send_again_).
    for (auto& [id, s] : streams_) s->notify_drained();
  } while ((send_again_ || wrote) && !closing_ && transport_->queued_bytes() < kSendHighWater);
  sending_ = false;
  if (closing_) return;
  if (streams_.empty() && out_.capacity() > 0) std::string().swap(out_);  // idle: no write buffer kept
  check_stalls();
  close_when_done();
}

// A DATA frame whose payload the stream did not copy to nghttp2
// (NGHTTP2_DATA_FLAG_NO_COPY): its 9-byte header joins the frames gathered
// so far; a small payload too, a large one is written with them from the
// stream's bytes in one transport write. No padding is ever asked for (no
// select_padding_callback), so the header is all that precedes the payload.
int Http2Connection::on_send_data(nghttp2_session*, nghttp2_frame*, const std::uint8_t* framehd,
                                  std::size_t length, nghttp2_data_source* source, void* p) {
  Http2Connection* c = self_of(p);
  auto* s = static_cast<Http2Stream*>(source->ptr);
  c->out_.append(reinterpret_cast<const char*>(framehd), kFrameHeaderBytes);
  const std::string_view payload = s->body_bytes(length);
  if (length < kWriteDirectFrom) {
    c->out_.append(payload);
    s->body_sent(length);
    return 0;
  }
  const int rc = c->transport_->write2(c->out_, payload);
  c->out_.clear();
  if (rc < 0) {
    c->write_failed_ = true;
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  s->body_sent(length);
  return 0;
}

// The quiet deadline at 0 ms: it fires at the start of the loop's next
// turn, after this turn's I/O callbacks, and a due timer also keeps the loop
// from waiting for I/O meanwhile (as an active uv_idle_t would, without a
// handle per connection).
void Http2Connection::send_soon() {
  if (closing_ || soon_) return;
  soon_ = true;
  quiet_timer_.set(0);
}

// One transport write of what send() gathered; false when the connection
// closed (the write failed).
bool Http2Connection::write_out() {
  const int rc = transport_->write(out_);
  out_.clear();
  if (rc >= 0) return true;
  sending_ = false;
  close();
  return false;
}

void Http2Connection::after_io() {
  if (closing_) return;
  soon_ = false;  // this send() serves it; a send_soon() from inside asks again
  send();
  retired_.clear();
  if (!closing_) quiet_timer_.set(soon_ ? 0 : kQuietMs);
}

void Http2Connection::on_quiet_timer(void* p) {
  Http2Connection* c = self_of(p);
  if (c->closing_) {
    delete c;  // close() deferred it to the check phase: nothing of ours is on the stack now
    return;
  }
  if (c->soon_) {
    c->after_io();
    return;
  }
  // Nothing queued nor half-sent (aob.item is null), and not terminated
  // (want_write is 0 after a terminating GOAWAY even with a frame queued;
  // want_read is 0 then too): the frame buffer's bytes are dead.
  if (nghttp2_session_want_write(c->session_) == 0 && nghttp2_session_want_read(c->session_) != 0)
    c->memory_.release_idle();
}

// Nothing more to read or write (GOAWAY sent both ways, or the last stream
// of a draining connection ended): flush, then close.
void Http2Connection::close_when_done() {
  if (closing_ || shutting_down_) return;
  if (nghttp2_session_want_read(session_) || nghttp2_session_want_write(session_)) return;
  shutting_down_ = true;
  if (transport_->shutdown() != 0) close();
}

void Http2Connection::on_transport_written(int status) {
  if (closing_) return;
  if (status < 0) {
    close();
    return;
  }
  queue_since_ = 0;  // progress: check_stalls() starts the deadline over if bytes still wait
  after_io();
}

void Http2Connection::on_transport_shutdown(int) { close(); }

void Http2Connection::on_transport_end(int) {
  // The client went away: its streams' exchanges are aborted (as HTTP/1's 499).
  close();
}

void Http2Connection::fail(Reason reason, std::uint32_t error_code) {
  if (closing_ || shutting_down_) return;
  if (failure_ == Reason::none) failure_ = reason;
  // A GOAWAY with the error, then nothing more is read; close_when_done()
  // closes once it is out.
  // Refused when nghttp2 ended the session itself (its GOAWAY is queued).
  nghttp2_session_terminate_session(session_, error_code);
  if (nghttp2_session_want_write(session_) == 0) count_failure();
}

// ---- deadlines ----

void Http2Connection::update_idle() {
  if (closing_) return;
  if (streams_.empty()) {
    // A connection that has not sent a request yet gets client_header, as
    // an HTTP/1 connection that sent nothing does.
    const conf::Timeouts& timeouts = host_.config().timeouts;
    const std::uint64_t ms = draining_              ? kDrainIdleGraceMs
                             : streams_begun_ == 0 ? timeouts.client_header.count()
                                                   : timeouts.client_idle.count();
    idle_timer_.set(ms);
  } else {
    idle_timer_.clear();
  }
}

void Http2Connection::on_idle_timer(void* p) {
  Http2Connection* c = self_of(p);
  if (c->closing_ || !c->streams_.empty()) return;
  // RFC 9113 section 6.8: tell the client which streams were seen.
  nghttp2_session_terminate_session(c->session_, NGHTTP2_NO_ERROR);
  c->after_io();
}

// A stream with bytes to send and no window: the client holds it up. Each
// gets timeouts.client_send from the moment it stalled.
void Http2Connection::check_stalls() {
  const std::uint64_t limit = host_.config().timeouts.client_send.count();
  if (limit == 0) return;
  const std::uint64_t now = uv_now(host_.loop());
  const bool connection_blocked = nghttp2_session_get_remote_window_size(session_) <= 0;
  bool any = false;
  for (auto& [id, s] : streams_) {
    const bool blocked = s->has_pending() && s->response_complete() == false &&
                         (connection_blocked || nghttp2_session_get_stream_remote_window_size(session_, id) <= 0);
    if (!blocked) {
      s->set_stalled_since(0);
      continue;
    }
    if (s->stalled_since() == 0) s->set_stalled_since(now);
    any = true;
  }
  // Bytes the kernel did not take: the client reads nothing at all. Its
  // progress (on_transport_written) starts the deadline over.
  if (transport_->queued_bytes() == 0) {
    queue_since_ = 0;
  } else if (queue_since_ == 0) {
    queue_since_ = now;
  }
  if ((any || queue_since_ != 0) && !stall_timer_.armed()) stall_timer_.set(limit);
}

void Http2Connection::on_stall_timer(void* p) {
  Http2Connection* c = self_of(p);
  if (c->closing_) return;
  const std::uint64_t limit = c->host_.config().timeouts.client_send.count();
  const std::uint64_t now = uv_now(c->host_.loop());
  if (c->queue_since_ != 0 && now - c->queue_since_ >= limit) {
    // The client took none of our bytes: nothing can reach it (nginx's
    // send_timeout).
    c->host_.count_rejection(Reason::client_send_timeout);
    c->close();
    return;
  }
  std::uint64_t next = c->queue_since_ != 0 ? c->queue_since_ + limit - now : 0;
  ++c->depth_;
  for (auto& [id, s] : c->streams_) {
    if (s->stalled_since() == 0) continue;
    if (now - s->stalled_since() < limit) {
      const std::uint64_t left = s->stalled_since() + limit - now;
      next = next == 0 ? left : std::min(next, left);
      continue;
    }
    c->host_.count_http2_error(Reason::zero_window_timeout);
    s->set_stalled_since(0);
    s->expire_send();
  }
  --c->depth_;
  if (next != 0) c->stall_timer_.set(rearm_ms(next));
  c->after_io();
}

// ---- the end ----

void Http2Connection::drain() {
  if (closing_ || draining_) return;
  draining_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  update_idle();
  after_io();
}

void Http2Connection::close() {
  if (closing_) return;
  closing_ = true;
  ++depth_;
  for (auto& [id, s] : streams_) s->on_closed(NGHTTP2_CANCEL);
  --depth_;
  if (open_gauge_) --*open_gauge_;
  host_.remove_connection(this);
  idle_timer_.clear();
  stall_timer_.clear();
  transport_->close();
  quiet_timer_.defer();  // the free (on_quiet_timer), in this turn's check phase
}

}  // namespace sg::gateway
