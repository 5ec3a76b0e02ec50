// One HTTP/2 stream as the exchange sees it: the DownstreamStream of one
// request (gateway/http/downstream_stream.h). The connection
// (h2_connection.h) feeds it the decoded request; the exchange calls it with
// the response, which it hands to nghttp2 as HEADERS and DATA frames.
//
// Flow control both ways, with bounded buffers:
//   request body  each DATA chunk goes to the handler at once, and its
//                 window is given back (nghttp2_session_consume) right
//                 after; while the handler pauses reading (the upstream is
//                 slow) chunks wait in `held_` and their window is not given
//                 back, so the client can send at most one window more.
//   response body bytes wait in `pending_` until nghttp2 asks for them
//                 (the client's window and the connection's write queue
//                 decide when); the exchange pauses its upstream while
//                 queued_bytes() is above its high mark and hears
//                 on_downstream_drained below 64 KiB. A piece of 4 KiB or
//                 more is sent by flush() from the upstream's read buffer,
//                 and only what is held back is copied.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/http/downstream_stream.h"
#include "gateway/http2/h2_request_mapping.h"

namespace sg::gateway {

class Http2Connection;

class Http2Stream final : public DownstreamStream {
 public:
  Http2Stream(Http2Connection& connection, std::int32_t id, const conf::Limits& limits);
  Http2Stream(const Http2Stream&) = delete;
  Http2Stream& operator=(const Http2Stream&) = delete;
  ~Http2Stream();

  std::int32_t id() const { return id_; }

  // --- from the connection (nghttp2's callbacks) ---
  // A decoded request field; false once the block is past the limits.
  bool on_header(std::string_view name, std::string_view value) { return builder_.add(name, value); }
  // The header block is complete: route it (or refuse it).
  void on_headers_done(bool end_stream);
  // Trailers: not forwarded (HTTP/1.1 upstreams get them only when chunked,
  // and the exchange does not carry them); END_STREAM still ends the body.
  void on_data(std::string_view data);
  void on_end_stream();
  // The client reset the stream, or nghttp2 closed it: the handler, if
  // still working, hears on_downstream_gone.
  void on_closed(std::uint32_t error_code);
  // The client took none of this stream's bytes for timeouts.client_send:
  // reset it.
  void expire_send();
  // nghttp2 asks for up to `length` response bytes: how many it may send,
  // copied by nobody (NGHTTP2_DATA_FLAG_NO_COPY); the connection's
  // on_send_data then writes body_bytes(n) and calls body_sent(n).
  ssize_t read_body(std::size_t length, std::uint32_t* flags);
  std::string_view body_bytes(std::size_t n) const {
    return body_ref_.empty() ? std::string_view(pending_).substr(pending_off_, n) : body_ref_.substr(0, n);
  }
  void body_sent(std::size_t n);
  // Whether the stream waits for the client's window to send what it has.
  bool has_pending() const { return queued_bytes() > 0 || (eof_ && !eof_sent_); }
  bool handler_active() const { return handler_ != nullptr; }
  bool request_complete() const { return request_complete_; }
  bool response_complete() const { return eof_sent_; }
  // The response's END_STREAM went out.
  void on_end_sent() { eof_sent_ = true; }
  // After the connection sent what it could: tell a paused handler there is room.
  void notify_drained();
  std::uint64_t stalled_since() const { return stalled_since_; }
  void set_stalled_since(std::uint64_t ms) { stalled_since_ = ms; }

  // --- DownstreamStream ---
  const ConnectionInfo& connection() const override;
  bool send_continue() override;
  void send_interim_head(const ResponseHead& head) override;
  void send_response_head(const ResponseHead& head) override;
  void send_response_body(std::string_view data) override;
  void end_response() override;
  void flush() override;
  void send_local_answer(int status, const HeaderList& headers, std::string_view body) override;
  std::uint64_t bytes_sent() const override { return bytes_sent_; }
  std::size_t queued_bytes() const override { return pending_.size() - pending_off_ + body_ref_.size(); }
  void pause_reading() override;
  void resume_reading() override;
  void start_tunnel() override;
  void reset() override;
  void finished(bool keep_alive) override;

 private:
  // A refused request: a stream error, or its status with a JSON body;
  // counted and logged (as an HTTP/1 refusal).
  void refuse(const H2Refusal& refusal);
  void submit(int status, const std::vector<HeaderField>& headers, bool with_body);
  void release_handler();
  void deliver_held();
  void hand_over(std::string_view data);
  // body_ref_'s bytes into pending_ (dropped once closed): the upstream's
  // buffer is about to be reused.
  void keep_body_ref();

  Http2Connection& connection_;
  const std::int32_t id_;
  H2RequestBuilder builder_;
  std::unique_ptr<StreamHandler> handler_;
  std::string held_;  // request bytes the handler paused for; their window not given back
  std::uint64_t body_bytes_ = 0;
  std::uint64_t body_limit_ = 0;
  std::string pending_;  // response bytes for nghttp2, from pending_off_
  std::size_t pending_off_ = 0;
  // Response bytes in the upstream's read buffer, valid until flush()
  // returns; only while pending_ has nothing left (they come after it).
  std::string_view body_ref_;
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t stalled_since_ = 0;  // uv_now when the client's window stopped us, 0: not
  bool head_method_ = false;
  bool websocket_ = false;
  bool paused_ = false;
  bool request_complete_ = false;
  bool end_pending_ = false;  // END_STREAM arrived while data was held
  bool response_submitted_ = false;
  bool body_allowed_ = true;
  bool eof_ = false;       // end_response(): no more body bytes
  bool eof_sent_ = false;  // END_STREAM went out
  bool deferred_ = false;  // nghttp2 was told NGHTTP2_ERR_DEFERRED
  bool tunnel_ = false;
  bool was_above_low_ = false;
  bool closed_ = false;
};

}  // namespace sg::gateway
