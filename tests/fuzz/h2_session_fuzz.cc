// Fuzz target: bytes from a client through skewgate's HTTP/2 connection
// (gateway/http2/h2_connection.h: nghttp2 fed through skewgate's callbacks),
// with the real stream seam on both sides of it: a fake Transport (records
// the bytes written, never blocks, never fails) underneath, and a fake
// ConnectionHost above whose new_stream hands out a handler that answers
// every request itself (no upstream), so the response path, the h2 flow
// control and the stream life cycle run too, not only the frame parser.
//
// The input: one control byte, then the client's bytes (the seeds start with
// the preface: tests/fuzz/h2_session_corpus.py writes them).
//   bits 0-1  how the bytes are split into reads: whole, one byte each,
//             small pieces (1..16 bytes, from the bytes themselves), or at
//             h2 frame boundaries as a real client's writes would be
//   bits 2-3  what the handler answers: a local answer at the head; a
//             response after the whole request body (its size echoed); a
//             larger response body streamed under flow control (more than
//             the initial window: it needs the client's WINDOW_UPDATEs);
//             or one of the three by stream, in turn
//   bit 4     the handler pauses reading at the first body bytes (the
//             request body's WINDOW_UPDATEs wait); resumed after each read
//   bit 5     the connection is drained (graceful GOAWAY) halfway through
//   bit 6     the handler resets every third stream at its head
//   bit 7     h2c by prior knowledge: the first read reaches the connection
//             as the bytes the worker already read (when it holds the
//             preface, as the worker checks); else h2 over TLS (ALPN)
// Between reads the deferred deletes run (as the worker's loop does) and
// paused handlers resume; at the end the client's EOF, the connection's
// close and its close callbacks. Nothing may crash, leak or hang (ASan with
// LeakSanitizer, UBSan and libFuzzer check that), and what the codec calls
// on a handler must follow the seam's order (checked here: abort otherwise).
#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/load.h"
#include "gateway/http/downstream_stream.h"
#include "gateway/http2/h2_connection.h"
#include "gateway/net/deadline.h"
#include "gateway/net/stream_io.h"
#include "gateway/net/transport.h"

namespace {

using sg::gateway::ConnectionHost;
using sg::gateway::ConnectionInfo;
using sg::gateway::DownstreamStream;
using sg::gateway::HeaderList;
using sg::gateway::RequestHead;
using sg::gateway::ResponseHead;
using sg::gateway::ServerConnection;
using sg::gateway::StreamHandler;
using sg::gateway::Transport;
using sg::gateway::TransportObserver;

constexpr unsigned kControlFeed = 0x03;
constexpr unsigned kFeedWhole = 0, kFeedBytes = 1, kFeedSmall = 2, kFeedFrames = 3;
constexpr unsigned kControlAnswer = 0x0c;
constexpr unsigned kAnswerAtHead = 0x00, kAnswerAfterBody = 0x04, kStreamBody = 0x08, kMixed = 0x0c;
constexpr unsigned kControlPauseBody = 0x10;
constexpr unsigned kControlDrainHalfway = 0x20;
constexpr unsigned kControlResetSome = 0x40;
constexpr unsigned kControlH2c = 0x80;
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Small windows and limits, so that flow control, the concurrency limit and
// the header limits are reached by inputs of a few KiB.
constexpr char kConfig[] = R"(
listeners: [{address: 127.0.0.1:8443}]
limits: {header_bytes: 4KiB, headers: 40, uri_bytes: 1KiB, body_bytes: 64KiB}
http2:
  max_concurrent_streams: 8
  initial_window: 16384
  connection_window: 65535
  max_requests: 64
  reset_budget: {burst: 10, per_second: 1}
  control_budget: {burst: 10, per_second: 1}
apps:
  - name: shop
    hosts: [127.0.0.1]
    default: true
    current: dpl-a
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001]}
)";

// A response body larger than the initial window (16 KiB) and the
// connection window (64 KiB): it goes out only as the client opens them.
// The handler stops adding to it above kQueueHigh, as the exchange pauses
// its upstream above its high mark (256 KiB there; here just above the
// stream's 64 KiB low mark, so that on_downstream_drained is reached with
// a body of a few pieces), and goes on when the stream says it drained.
constexpr std::size_t kStreamedBody = 160 * 1024;
constexpr std::size_t kStreamPiece = 16 * 1024;
constexpr std::size_t kQueueHigh = 72 * 1024;

const sg::conf::Config& config() {
  static const sg::conf::Config c = [] {
    sg::conf::LoadResult loaded = sg::conf::load_string(kConfig, "h2_session_fuzz.yaml");
    if (!loaded.config) {
      for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
      std::abort();
    }
    return std::move(*loaded.config);
  }();
  return c;
}

// Underneath: takes every write at once (nothing is ever queued), counts the
// bytes, and lets the harness play the peer through the observer.
class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(bool secure) {
    info_.peer.family = sg::gateway::PeerAddress::Family::ipv4;
    info_.peer.bytes = {192, 0, 2, 1};
    info_.secure = secure;
    alpn_ = secure ? "h2" : "";
  }

  // The worker started it (and chose h2 by ALPN or the h2c preface) before
  // the connection takes it over with set_observer().
  void start(TransportObserver&) override { std::abort(); }
  void set_observer(TransportObserver& observer) override {
    if (closed_) std::abort();
    observer_ = &observer;
  }
  void read_start() override { reading_ = true; }
  void read_stop() override { reading_ = false; }
  int write(std::string_view data) override { return take(data.size()); }
  int write2(std::string_view first, std::string_view second) override { return take(first.size() + second.size()); }
  std::size_t queued_bytes() const override { return 0; }
  int shutdown() override {
    if (closed_ || shut_) std::abort();  // once, and never after close()
    shut_ = true;
    return 0;  // on_transport_shutdown is delivered by the harness, off the stack
  }
  void close() override {
    if (closed_) std::abort();  // close() once: the owner drops its pointer after it
    closed_ = true;
    observer_ = nullptr;
  }
  void set_keepalive(unsigned) override {}
  const ConnectionInfo& info() const override { return info_; }
  std::string_view alpn() const override { return alpn_; }

  // The peer's side, from the harness.
  bool open() const { return observer_ != nullptr; }
  std::uint64_t written() const { return written_; }
  bool reading() const { return reading_; }
  void deliver(std::string_view bytes) {
    if (observer_) observer_->on_transport_data(bytes);
  }
  void deliver_end() {
    if (observer_) observer_->on_transport_end(UV_EOF);
  }
  void deliver_shutdown() {
    if (observer_ && shut_ && !shutdown_reported_) {
      shutdown_reported_ = true;
      observer_->on_transport_shutdown(0);
    }
  }

 private:
  int take(std::size_t n) {
    if (closed_ || shut_) std::abort();  // nothing is written after close() or shutdown()
    written_ += n;
    return 0;
  }

  ConnectionInfo info_;
  std::string_view alpn_;
  TransportObserver* observer_ = nullptr;
  std::uint64_t written_ = 0;
  bool reading_ = false;
  bool shut_ = false;
  bool shutdown_reported_ = false;
  bool closed_ = false;
};

class Host;

// Above: what the exchange would be (gateway/proxy/exchange.cc), answering
// from here with the same calls in the same order: a local answer finishes
// at once when the request is complete or has a body; a response finishes
// when it ended (keep-alive only when the request was read whole). It checks
// the seam's order of events and never touches the stream after finished(),
// reset() or on_downstream_gone().
class Handler final : public StreamHandler {
 public:
  enum class Mode { answer_at_head, answer_after_body, stream_body };

  Handler(DownstreamStream& stream, Mode mode, bool pause_body, bool reset_at_head)
      : stream_(stream), mode_(mode), pause_body_(pause_body), reset_at_head_(reset_at_head) {}

  void on_request_head(std::unique_ptr<RequestHead> head) override {
    if (!head || head_seen_ || finished_) std::abort();
    head_seen_ = true;
    // What the h2 mapping promises every stream that reaches a handler.
    if (head->method.empty()) std::abort();
    if (head->target.empty() || (head->target.front() != '/' && head->target != "*")) std::abort();
    if (head->target == "*" && head->method != "OPTIONS") std::abort();
    head_request_ = head->method == "HEAD";
    has_body_ = head->has_body();
    if (reset_at_head_) {
      finished_ = true;
      stream_.reset();
      return;
    }
    if (mode_ == Mode::answer_at_head) {
      answer_local();
    } else if (mode_ == Mode::stream_body) {
      start_streaming();
    }
  }

  void on_request_body(std::string_view data) override {
    if (!head_seen_ || complete_) std::abort();
    if (finished_) return;
    body_bytes_ += data.size();
    if (pause_body_ && !paused_) {
      paused_ = true;
      stream_.pause_reading();
    }
  }

  void on_request_complete() override {
    if (!head_seen_ || complete_) std::abort();
    complete_ = true;
    if (finished_) return;
    if (mode_ == Mode::answer_after_body) respond_with_body_size();
    if (!finished_) maybe_finish();
  }

  void on_tunnel_data(std::string_view) override {
    std::abort();  // no handler here starts a tunnel
  }

  void on_downstream_drained() override {
    if (!finished_ && mode_ == Mode::stream_body && response_started_ && !response_done_) pump();
  }

  void on_downstream_gone(sg::metrics::Reason, int) override { finished_ = true; }

  bool response_started() const override { return response_started_; }

  // Between reads: what the upstream taking the body would do.
  void resume() {
    if (paused_ && !finished_) {
      paused_ = false;
      stream_.resume_reading();
    }
  }

 private:
  void answer_local() {
    response_started_ = true;
    response_done_ = true;
    const HeaderList headers{{"content-type", "text/plain"}, {"cache-control", "no-store"}};
    stream_.send_local_answer(200, headers, "ok\n");
    if (!finished_ && (complete_ || has_body_)) maybe_finish();
  }

  void respond_with_body_size() {
    ResponseHead head;
    head.status = 200;
    head.reason = "OK";
    const std::string body = "received " + std::to_string(body_bytes_) + " bytes\n";
    head.headers.push_back({"content-type", "text/plain"});
    head.headers.push_back({"connection", "keep-alive"});  // hop-by-hop: the codec drops it
    head.headers.push_back({"content-length", std::to_string(body.size())});
    head.content_length = body.size();
    response_started_ = true;
    stream_.send_response_head(head);
    if (finished_) return;
    if (!head_request_) stream_.send_response_body(body);
    if (finished_) return;
    end();
  }

  void start_streaming() {
    response_started_ = true;
    // An Early Hints head first, as an upstream may send.
    ResponseHead hints;
    hints.status = 103;
    hints.headers.push_back({"link", "</app.css>; rel=preload; as=style"});
    stream_.send_interim_head(hints);
    if (finished_) return;
    ResponseHead head;
    head.status = 200;
    head.headers.push_back({"content-type", "application/octet-stream"});
    head.headers.push_back({"transfer-encoding", "chunked"});  // hop-by-hop: dropped
    head.chunked = true;
    stream_.send_response_head(head);
    if (finished_) return;
    pump();
  }

  // Body pieces while the codec's queue for this stream is short, as the
  // exchange pauses the upstream read above its high mark.
  void pump() {
    while (!finished_ && streamed_ < kStreamedBody && stream_.queued_bytes() < kQueueHigh) {
      const std::size_t n = std::min(kStreamPiece, kStreamedBody - streamed_);
      const std::string piece(n, static_cast<char>('a' + (streamed_ / kStreamPiece) % 26));
      streamed_ += n;
      if (!head_request_) stream_.send_response_body(piece);
      if (finished_) return;
      stream_.flush();
    }
    if (!finished_ && streamed_ >= kStreamedBody) end();
  }

  void end() {
    stream_.end_response();
    if (finished_) return;
    response_done_ = true;
    stream_.flush();
    if (!finished_) maybe_finish();
  }

  // The exchange's maybe_finish: once the response is done, finished;
  // keep-alive only when the request was read whole.
  void maybe_finish() {
    if (!response_done_ || finished_) return;
    finished_ = true;
    stream_.finished(complete_);
  }

  DownstreamStream& stream_;
  const Mode mode_;
  const bool pause_body_;
  const bool reset_at_head_;
  bool head_seen_ = false;
  bool head_request_ = false;
  bool has_body_ = false;
  bool complete_ = false;
  bool paused_ = false;
  bool finished_ = false;  // finished(), reset() or gone: the stream is not touched again
  bool response_started_ = false;
  bool response_done_ = false;
  std::size_t body_bytes_ = 0;
  std::size_t streamed_ = 0;
};

class Host final : public ConnectionHost {
 public:
  Host(uv_loop_t* loop, unsigned control) : loop_(loop), control_(control) {}

  uv_loop_t* loop() override { return loop_; }
  const sg::conf::Config& config() const override { return ::config(); }

  std::unique_ptr<StreamHandler> new_stream(DownstreamStream& stream) override {
    const unsigned n = streams_++;
    Handler::Mode mode = Handler::Mode::answer_at_head;
    switch (control_ & kControlAnswer) {
      case kAnswerAtHead: mode = Handler::Mode::answer_at_head; break;
      case kAnswerAfterBody: mode = Handler::Mode::answer_after_body; break;
      case kStreamBody: mode = Handler::Mode::stream_body; break;
      case kMixed: mode = static_cast<Handler::Mode>(n % 3); break;
      default: std::abort();
    }
    const bool reset = (control_ & kControlResetSome) != 0 && n % 3 == 2;
    auto handler = std::make_unique<Handler>(stream, mode, (control_ & kControlPauseBody) != 0, reset);
    live_.push_back(handler.get());
    return handler;
  }

  void defer_delete(std::unique_ptr<StreamHandler> handler) override {
    std::erase(live_, static_cast<Handler*>(handler.get()));
    deferred_.push_back(std::move(handler));
  }

  void add_connection(ServerConnection* connection) override {
    if (connection_) std::abort();
    connection_ = connection;
  }
  void remove_connection(ServerConnection* connection) override {
    if (connection != connection_) std::abort();
    connection_ = nullptr;
  }
  bool draining() const override { return draining_; }
  std::int64_t* connection_gauge(std::string_view) override { return &gauge_; }
  void count_rejection(sg::metrics::Reason) override { ++rejections_; }
  void log_connection_error(std::string_view, sg::metrics::Reason, int, std::uint64_t) override {}
  void count_http2_error(sg::metrics::Reason) override { ++http2_errors_; }

  // The worker's loop turn: deferred deletes, then what the upstream side would resume.
  void turn() {
    deferred_.clear();
    const std::vector<Handler*> live = live_;
    for (Handler* h : live) {
      if (std::find(live_.begin(), live_.end(), h) != live_.end()) h->resume();
    }
    deferred_.clear();
  }
  void drain() {
    draining_ = true;
    if (connection_) connection_->drain();
  }
  void close() {
    if (connection_) connection_->close();
  }
  ServerConnection* connection() const { return connection_; }
  unsigned streams() const { return streams_; }
  std::uint64_t rejections() const { return rejections_; }
  std::uint64_t http2_errors() const { return http2_errors_; }
  std::int64_t gauge() const { return gauge_; }
  std::size_t live_handlers() const { return live_.size(); }
  void clear() { deferred_.clear(); }

 private:
  uv_loop_t* loop_;
  unsigned control_;
  unsigned streams_ = 0;
  std::vector<Handler*> live_;  // handed out and not yet deferred-deleted
  std::vector<std::unique_ptr<StreamHandler>> deferred_;
  ServerConnection* connection_ = nullptr;
  bool draining_ = false;
  std::int64_t gauge_ = 0;
  std::uint64_t rejections_ = 0;
  std::uint64_t http2_errors_ = 0;
};

// The reads a client's bytes arrive in.
std::vector<std::string_view> split(std::string_view wire, unsigned feed) {
  std::vector<std::string_view> reads;
  std::size_t i = 0;
  switch (feed) {
    case kFeedWhole:
      if (!wire.empty()) reads.push_back(wire);
      break;
    case kFeedBytes:
      for (; i < wire.size(); ++i) reads.push_back(wire.substr(i, 1));
      break;
    case kFeedSmall:
      while (i < wire.size()) {
        const std::size_t n = 1 + static_cast<unsigned char>(wire[i]) % 16;
        reads.push_back(wire.substr(i, n));
        i += n;
      }
      break;
    case kFeedFrames: {
      // The preface (24 bytes) alone, then one frame per read (9-byte header, 24-bit length).
      const std::size_t preface = std::min<std::size_t>(24, wire.size());
      reads.push_back(wire.substr(0, preface));
      i = preface;
      while (i < wire.size()) {
        std::size_t n = wire.size() - i;
        if (n >= 9) {
          const std::size_t len = (static_cast<std::size_t>(static_cast<unsigned char>(wire[i])) << 16) |
                                  (static_cast<std::size_t>(static_cast<unsigned char>(wire[i + 1])) << 8) |
                                  static_cast<unsigned char>(wire[i + 2]);
          n = std::min(n, 9 + len);
        }
        reads.push_back(wire.substr(i, n));
        i += n;
      }
      break;
    }
    default: std::abort();
  }
  return reads;
}

// The loop with what a worker gives its loop (net/stream_io.h): the
// connection's deadlines are on its lists.
uv_loop_t* loop() {
  static uv_loop_t* l = [] {
    auto* created = new uv_loop_t;
    if (uv_loop_init(created) != 0) std::abort();
    auto* shared = new sg::gateway::LoopShared;
    shared->deadlines = new sg::gateway::DeadlineQueues(created);
    created->data = shared;
    return created;
  }();
  return l;
}

// Runs the loop's ready callbacks (close callbacks, zero timers) without
// waiting for the connection's real deadlines (seconds away).
void run_ready(uv_loop_t* l) {
  for (int i = 0; i < 8; ++i) uv_run(l, UV_RUN_NOWAIT);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned control = data[0];
  const std::string_view wire(reinterpret_cast<const char*>(data + 1), size - 1);
  uv_loop_t* l = loop();
  uv_update_time(l);

  Host host(l, control);
  const std::vector<std::string_view> reads = split(wire, control & kControlFeed);
  const bool h2c = (control & kControlH2c) != 0 && !reads.empty() && reads[0].starts_with(kPreface);
  auto transport = std::make_unique<FakeTransport>(!h2c);
  sg::gateway::Http2Connection::start(host, transport.get(), "fuzz", h2c ? reads[0] : std::string_view());
  host.turn();

  for (std::size_t i = h2c ? 1 : 0; i < reads.size() && transport->open(); ++i) {
    if ((control & kControlDrainHalfway) && i == reads.size() / 2) host.drain();
    if (!transport->open()) break;
    transport->deliver(reads[i]);
    transport->deliver_shutdown();
    host.turn();
  }
  // The client hangs up; whatever is still open is closed, then its handles.
  transport->deliver_end();
  host.turn();
  host.close();
  host.clear();
  run_ready(l);
  if (host.connection() || host.live_handlers() || host.gauge() != 0) std::abort();  // freed, and every stream ended
  // SG_FUZZ_VERBOSE=1 (with the replay driver): what each input did, to check that a seed
  // reaches what it was written for.
  static const bool verbose = std::getenv("SG_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "h2_session: control 0x%02x, %zu reads: %u streams, %llu bytes written, %llu refused, %llu h2 errors\n",
                 control, reads.size(), host.streams(), static_cast<unsigned long long>(transport->written()),
                 static_cast<unsigned long long>(host.rejections()), static_cast<unsigned long long>(host.http2_errors()));
  }
  return 0;
}
