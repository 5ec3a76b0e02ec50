#include "gateway/http2/h2_stream.h"

#include <uv.h>

#include <array>
#include <charconv>
#include <cstring>

#include "gateway/http/connection_tokens.h"
#include "gateway/http/error_body.h"
#include "gateway/http2/h2_connection.h"

namespace sg::gateway {
namespace {

using routing::iequals;

// Below this many queued response bytes a paused exchange may read its
// upstream again (as HTTP/1's low mark).
constexpr std::size_t kLowWatermark = 64 * 1024;
// A body piece this large is sent from the upstream's read buffer
// (flush() writes it at once) instead of being copied into pending_: a
// 16 KiB copy was 16k of h2_16k's 142k instructions per request. Smaller
// ones are copied, to leave with other streams' frames in one write.
constexpr std::size_t kBodyByReference = 4096;
// pending_ drops what nghttp2 took once this much is behind pending_off_.
constexpr std::size_t kCompactBytes = 64 * 1024;

// RFC 9113 section 8.2.2: connection-specific fields never go out in h2.
// Transfer-Encoding is the upstream's framing; Upgrade ended with the 101.
constexpr std::array<std::string_view, 8> kHopByHop{"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                                                   "upgrade",    "te",         "trailer",          "http2-settings"};

bool hop_by_hop(std::string_view name) {
  for (std::string_view h : kHopByHop)
    if (iequals(name, h)) return true;
  return false;
}


nghttp2_nv nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// A response head as nghttp2 takes it: :status, then the fields that may go
// out in h2, names lower-cased (RFC 9113 section 8.2.1). On the stack: a
// response of up to kInlineFields fields and kInlineNameBytes of names costs
// no allocation (it cost two, about 400 instructions per h2 response); a
// larger one takes its arrays from the heap, sized up front. The entries
// point into this object (status text, lower-cased names): it is filled in
// place and never moved.
struct ResponseFields {
  static constexpr std::size_t kInlineFields = 24;
  static constexpr std::size_t kInlineNameBytes = 512;

  ResponseFields(int status, const std::vector<HeaderField>& headers, bool drop_websocket_accept) {
    const auto r = std::to_chars(status_text, status_text + sizeof status_text, status);
    std::size_t name_bytes = 0;
    for (const HeaderField& field : headers) name_bytes += field.name.size();
    char* names = inline_names;
    if (name_bytes > sizeof inline_names) {
      heap_names.resize(name_bytes);
      names = heap_names.data();
    }
    entries = inline_entries.data();
    if (headers.size() + 1 > inline_entries.size()) {
      heap_entries.resize(headers.size() + 1);
      entries = heap_entries.data();
    }
    entries[count++] = nv(":status", std::string_view(status_text, static_cast<std::size_t>(r.ptr - status_text)));
    const ConnectionTokens connection(headers);
    for (const HeaderField& field : headers) {
      if (hop_by_hop(field.name) || connection.names(field.name)) continue;
      // A WebSocket's HTTP/1 handshake answer (RFC 8441 section 5: unused in h2).
      if (drop_websocket_accept && iequals(field.name, "sec-websocket-accept")) continue;
      char* name = names;
      for (char c : field.name) *names++ = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
      entries[count++] = nv(std::string_view(name, field.name.size()), field.value);
    }
  }
  ResponseFields(const ResponseFields&) = delete;
  ResponseFields& operator=(const ResponseFields&) = delete;

  const nghttp2_nv* data() const { return entries; }
  std::size_t size() const { return count; }

 private:
  char status_text[4];
  char inline_names[kInlineNameBytes];
  std::array<nghttp2_nv, kInlineFields> inline_entries;
  std::string heap_names;                // only past kInlineNameBytes
  std::vector<nghttp2_nv> heap_entries;  // only past kInlineFields
  nghttp2_nv* entries = nullptr;
  std::size_t count = 0;
};

ssize_t read_callback(nghttp2_session*, std::int32_t, std::uint8_t*, std::size_t length, std::uint32_t* flags,
                      nghttp2_data_source* source, void*) {
  return static_cast<Http2Stream*>(source->ptr)->read_body(length, flags);
}

}  // namespace

Http2Stream::Http2Stream(Http2Connection& connection, std::int32_t id, const conf::Limits& limits)
    : connection_(connection), id_(id), builder_(limits, connection.host().head_pool()), body_limit_(limits.body_bytes) {}

Http2Stream::~Http2Stream() {
  if (handler_) release_handler();
}

const ConnectionInfo& Http2Stream::connection() const { return connection_.info(); }

// ---- the request ----

void Http2Stream::on_headers_done(bool end_stream) {
  std::unique_ptr<RequestHead> head = builder_.finish(end_stream);
  if (!head) {
    refuse(*builder_.refusal());
    return;
  }
  if (body_limit_ > 0 && head->content_length && *head->content_length > body_limit_) {
    refuse({ParseRejection{413, metrics::Reason::body_too_large, "request body larger than limits.body_bytes"}});
    return;
  }
  websocket_ = builder_.websocket();
  head_method_ = head->method == "HEAD";
  request_complete_ = end_stream;
  handler_ = connection_.host().new_stream(*this);
  StreamHandler* handler = handler_.get();
  handler->on_request_head(std::move(head));
  if (end_stream && handler_.get() == handler) handler->on_request_complete();
}

void Http2Stream::on_data(std::string_view data) {
  body_bytes_ += data.size();
  if (!handler_) {
    // Refused or finished: the bytes are dropped, their window given back.
    nghttp2_session_consume(connection_.session(), id_, data.size());
    return;
  }
  if (!tunnel_ && body_limit_ > 0 && body_bytes_ > body_limit_) {
    nghttp2_session_consume(connection_.session(), id_, data.size());
    const bool answer = !handler_->response_started();
    auto handler = std::move(handler_);
    handler->on_downstream_gone(metrics::Reason::body_too_large, answer ? 413 : 0);
    connection_.host().defer_delete(std::move(handler));
    connection_.host().count_rejection(metrics::Reason::body_too_large);
    if (answer) {
      const std::string body = json_error_body(metrics::Reason::body_too_large, "request body larger than limits.body_bytes");
      send_local_answer(413, {{"content-type", "application/json"}, {"cache-control", "no-store"}}, body);
    } else {
      reset();
    }
    return;
  }
  if (paused_ || !held_.empty()) {
    held_.append(data);
    return;
  }
  hand_over(data);
}

// Request (or tunnel) bytes to the handler; their window goes back to the
// client: the upstream took them (or queued them, and pauses us past its mark).
void Http2Stream::hand_over(std::string_view data) {
  if (handler_) {
    if (tunnel_) {
      handler_->on_tunnel_data(data);
    } else {
      handler_->on_request_body(data);
    }
  }
  nghttp2_session_consume(connection_.session(), id_, data.size());
}

void Http2Stream::on_end_stream() {
  if (!held_.empty()) {
    end_pending_ = true;
    return;
  }
  request_complete_ = true;
  if (!handler_) return;
  if (tunnel_) {
    // The client ended its side of the WebSocket: end the tunnel, as an
    // HTTP/1 client's close would.
    auto handler = std::move(handler_);
    handler->on_downstream_gone();
    connection_.host().defer_delete(std::move(handler));
    if (!eof_) end_response();
    flush();
    return;
  }
  handler_->on_request_complete();
}

void Http2Stream::pause_reading() { paused_ = true; }

void Http2Stream::resume_reading() {
  paused_ = false;
  deliver_held();
}

void Http2Stream::deliver_held() {
  if (held_.empty() || paused_ || closed_) return;
  const std::string data = std::move(held_);
  held_.clear();
  hand_over(data);
  if (end_pending_ && held_.empty()) {
    end_pending_ = false;
    on_end_stream();
  }
  connection_.send();  // the WINDOW_UPDATE
}

// ---- the response ----

bool Http2Stream::send_continue() {
  send_interim_head(ResponseHead{100, "Continue"});
  return true;
}

void Http2Stream::send_interim_head(const ResponseHead& head) {
  if (closed_ || response_submitted_) return;
  // RFC 9113 section 8.1: interim responses are HEADERS frames without END_STREAM.
  const ResponseFields fields(head.status, head.headers, false);
  nghttp2_submit_headers(connection_.session(), NGHTTP2_FLAG_NONE, id_, nullptr, fields.data(), fields.size(),
                         nullptr);
}

void Http2Stream::submit(int status, const std::vector<HeaderField>& headers, bool with_body) {
  const ResponseFields fields(status, headers, websocket_);
  response_submitted_ = true;
  if (!with_body) {
    eof_ = true;
    eof_sent_ = true;  // END_STREAM on the HEADERS
    nghttp2_submit_response(connection_.session(), id_, fields.data(), fields.size(), nullptr);
    return;
  }
  nghttp2_data_provider provider;
  provider.source.ptr = this;
  provider.read_callback = read_callback;
  nghttp2_submit_response(connection_.session(), id_, fields.data(), fields.size(), &provider);
}

void Http2Stream::send_response_head(const ResponseHead& head) {
  if (closed_ || response_submitted_) return;
  if (head.status == 101) {
    // RFC 8441 section 5: the build accepted the WebSocket; over h2 that is a
    // 2xx to the extended CONNECT, and the stream carries the tunnel.
    submit(200, head.headers, true);
    return;
  }
  body_allowed_ = !head_method_ && head.status != 204 && head.status != 304;
  submit(head.status, head.headers, body_allowed_);
}

void Http2Stream::send_response_body(std::string_view data) {
  if (closed_ || !body_allowed_ || eof_) return;
  if (pending_off_ == pending_.size() && body_ref_.empty() && data.size() >= kBodyByReference) {
    // Sent from the upstream's read buffer by flush() (no copy into pending_).
    body_ref_ = data;
  } else {
    keep_body_ref();
    if (pending_off_ >= kCompactBytes && pending_off_ * 2 >= pending_.size()) {
      pending_.erase(0, pending_off_);
      pending_off_ = 0;
    }
    pending_.append(data);
  }
  if (queued_bytes() >= kLowWatermark) was_above_low_ = true;
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(connection_.session(), id_);
  }
}

void Http2Stream::keep_body_ref() {
  if (body_ref_.empty()) return;
  if (!closed_) pending_.assign(body_ref_);
  body_ref_ = {};
}

void Http2Stream::end_response() {
  if (closed_ || eof_) return;
  eof_ = true;
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(connection_.session(), id_);
  }
}

// Small responses wait for the loop's next turn, to leave with the other
// streams' in one write. A body by reference goes now, while the upstream's
// read buffer holds it; what the client's window or the transport's queue
// holds back is copied after all (the next read reuses that buffer).
void Http2Stream::flush() {
  if (!body_ref_.empty()) {
    connection_.send();
    keep_body_ref();
  }
  connection_.send_soon();
}

ssize_t Http2Stream::read_body(std::size_t length, std::uint32_t* flags) {
  const std::size_t available = queued_bytes();
  const std::size_t n = std::min(length, available);
  // The bytes stay in pending_ (or the upstream's buffer) until on_send_data
  // wrote them (body_sent), on this stack.
  if (n > 0) *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (n == available && eof_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

void Http2Stream::body_sent(std::size_t n) {
  bytes_sent_ += n;
  if (!body_ref_.empty()) {
    body_ref_.remove_prefix(n);
    return;
  }
  pending_off_ += n;
  if (pending_off_ == pending_.size()) {
    pending_.clear();
    pending_off_ = 0;
  }
}

void Http2Stream::notify_drained() {
  if (!was_above_low_ || queued_bytes() >= kLowWatermark) return;
  was_above_low_ = false;
  if (handler_) handler_->on_downstream_drained();
}

void Http2Stream::send_local_answer(int status, const HeaderList& headers, std::string_view body) {
  if (closed_ || response_submitted_) return;
  std::vector<HeaderField> fields;
  fields.reserve(headers.size() + 1);
  for (const auto& [name, value] : headers) fields.push_back({name, value});
  char length[24];
  const auto r = std::to_chars(length, length + sizeof length, body.size());
  fields.push_back({"content-length", std::string(length, static_cast<std::size_t>(r.ptr - length))});
  const bool with_body = !head_method_ && !body.empty() && status != 204 && status != 304;
  body_allowed_ = with_body;
  if (with_body) {
    pending_.assign(body);
    pending_off_ = 0;
    eof_ = true;
  }
  submit(status, fields, with_body);
  connection_.send();
}

void Http2Stream::start_tunnel() {
  tunnel_ = true;
  deliver_held();
}

// ---- the end ----

void Http2Stream::refuse(const H2Refusal& refusal) {
  ConnectionHost& host = connection_.host();
  host.count_rejection(refusal.rejection.code);
  if (refusal.reset) {
    host.log_connection_error(peer_text(connection_.info().peer), refusal.rejection.code, 0, 0);
    nghttp2_submit_rst_stream(connection_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_PROTOCOL_ERROR);
    return;
  }
  const std::string body = json_error_body(refusal.rejection.code, refusal.rejection.detail);
  HeaderList headers{{"content-type", "application/json"}, {"cache-control", "no-store"}};
  if (refusal.rejection.status == 405) headers.push_back({"allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"});
  send_local_answer(refusal.rejection.status, headers, body);
  host.log_connection_error(peer_text(connection_.info().peer), refusal.rejection.code, refusal.rejection.status,
                            body.size());
}

void Http2Stream::reset() {
  if (handler_) {
    auto handler = std::move(handler_);
    handler->on_downstream_gone();
    connection_.host().defer_delete(std::move(handler));
  }
  if (!closed_) nghttp2_submit_rst_stream(connection_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_INTERNAL_ERROR);
  connection_.send();
}

void Http2Stream::expire_send() {
  if (handler_) {
    auto handler = std::move(handler_);
    handler->on_downstream_gone(metrics::Reason::client_send_timeout, 0);
    connection_.host().defer_delete(std::move(handler));
  }
  if (!closed_) nghttp2_submit_rst_stream(connection_.session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
}

void Http2Stream::finished(bool) {
  release_handler();
  // The response is whole; a request body still arriving is not wanted
  // (RFC 9113 section 8.1: RST_STREAM NO_ERROR after the response).
  connection_.send_soon();
}

void Http2Stream::on_closed(std::uint32_t error_code) {
  closed_ = true;
  held_.clear();
  // The response went out whole (the exchange flushed it and finishes
  // next, on the same stack): nothing was lost.
  if (eof_sent_ && error_code == NGHTTP2_NO_ERROR) return;
  if (handler_) {
    auto handler = std::move(handler_);
    handler->on_downstream_gone();
    connection_.host().defer_delete(std::move(handler));
  }
}

void Http2Stream::release_handler() {
  if (handler_) connection_.host().defer_delete(std::move(handler_));
}

}  // namespace sg::gateway
