// One request's life, top to bottom. The downstream side is a stream
// (gateway/http/downstream_stream.h): the exchange never sees its protocol.
//   codec          parses a request head (HTTP/1: http1/downstream_connection.h)
//                  and asks the worker for a handler: new_stream() -> Exchange
//   on_request_head decide (skew::decide) -> answer locally, or
//   connect()      take a pooled upstream connection or open one (round robin,
//                  retrying only connect failures on the build's next upstream)
//   send head      rewritten head (HTTP/1.1 upstream: http1/http_head.h) +
//                  request body (on_request_body), streamed with back-pressure
//                  (the stream's pause_reading/resume_reading)
//   response       parsed from the upstream (http1/http_parser.h) and handed to
//                  the stream unframed: send_interim_head, send_response_head,
//                  send_response_body, end_response, then flush() once per
//                  upstream read; the codec frames it. Back-pressure: the
//                  stream's queued_bytes() and on_downstream_drained.
//                  An answer skew/replay.h says to discard (an action the build
//                  did not know, an asset current lacks) never goes downstream:
//                  its connection is closed and the next build is tried.
//                  A 101 turns the exchange into a tunnel (start_tunnel).
//   answer()       a local answer instead: the stream's send_local_answer
//   finish()       exactly once: access log, upstream back to the pool or closed,
//                  stream.finished(): the codec serves its next request.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/http/downstream_stream.h"
#include "gateway/http/http_head.h"
#include "gateway/http1/http_parser.h"
#include "gateway/proxy/upstream_connection.h"
#include "gateway/proxy/worker.h"
#include "skew/verdict.h"

namespace sg::gateway {

class Exchange final : public StreamHandler, private UpstreamConnection::Owner, private HttpParserListener {
 public:
  Exchange(Worker& worker, DownstreamStream& downstream);
  ~Exchange() override;
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // --- StreamHandler: from the downstream stream ---
  void on_request_head(std::unique_ptr<RequestHead> head) override;
  void on_request_body(std::string_view data) override;
  void on_request_complete() override;
  void on_tunnel_data(std::string_view data) override;  // after a 101
  void on_downstream_drained() override;                // its queue fell below the low mark
  // The client closed or reset, or one of its deadlines ran out (`detail`,
  // and the `status` it is answered with, 0 for none): abort quietly.
  void on_downstream_gone(metrics::Reason detail = metrics::Reason::none, int status = 0) override;
  bool response_started() const override { return response_started_; }

 private:
  // UpstreamConnection::Owner
  void on_upstream_connected(UpstreamConnection& upstream) override;
  void on_upstream_data(UpstreamConnection& upstream, std::string_view data) override;
  void on_upstream_failure(UpstreamConnection& upstream, UpstreamFailure failure) override;
  void on_upstream_drained(UpstreamConnection& upstream) override;
  // HttpParserListener (the upstream's response)
  int on_head_complete() override;
  int on_body(std::string_view data) override;
  int on_message_complete() override;

  void decide_and_route();
  // Answer-side rules (skew/replay.h), at the final response head: true when
  // the answer is to be discarded and the request tried on another build.
  bool discard_answer(const ResponseHead& response);
  bool drain_discarded(std::string_view rest);
  void try_next_build(bool reusable);
  void drop_replay_body();
  void forward_body(std::string_view data);
  static void set_no_store(ResponseHead& response);
  void answer(const skew::Answer& answer);
  void fail_upstream(metrics::Reason reason, int status);
  void connect_upstream();
  void use_upstream(UpstreamConnection* upstream);
  void send_request_head();
  void forward_to_upstream(std::string_view data);
  void flush_downstream();
  void release_upstream(bool reusable);
  void maybe_finish();
  void finish();
  void abort(metrics::Reason reason);  // after response bytes went out: close the client
  void account();  // metrics and the access-log line, once per request
  void record_metrics();
  void note_upstream_error(metrics::Reason reason);
  void log();
  bool retry_allowed() const;

  Worker& worker_;
  DownstreamStream& downstream_;
  std::unique_ptr<RequestHead> head_;
  SnapshotLease snapshot_;
  skew::Verdict verdict_;
  std::uint64_t started_ns_ = 0;        // access log only: taken when it is enabled
  std::uint64_t upstream_head_ns_ = 0;  // likewise
  std::uint64_t upstream_start_ns_ = 0;  // an upstream was chosen
  std::uint64_t upstream_end_ns_ = 0;    // its response ended

  // Upstream side.
  UpstreamConnection* upstream_ = nullptr;
  std::size_t first_upstream_ = 0;
  std::size_t attempts_ = 0;
  std::string upstream_head_;   // kept until the first response byte, for a retry
  std::string request_buffer_;  // body bytes that arrived before the upstream was ready
  std::string last_upstream_;   // address, for the access log
  bool upstream_ready_ = false;
  bool reused_retry_done_ = false;
  bool got_response_bytes_ = false;
  bool upstream_paused_ = false;    // by us, for downstream back-pressure
  bool downstream_paused_ = false;  // by us, for upstream back-pressure

  // Response side.
  std::optional<HttpParser> response_parser_;  // in place: no allocation per request
  std::unique_ptr<ResponseHead> response_head_;
  bool interim_ = false;             // the response being parsed is a 1xx
  bool response_started_ = false;    // some response bytes went downstream
  bool response_done_ = false;
  bool upstream_reusable_ = false;
  bool tunnel_ = false;

  // Request side.
  std::string peek_;  // body bytes read before deciding (no-JS form posts)
  std::uint64_t peek_limit_ = 0;
  bool peeking_ = false;
  bool sent_continue_ = false;  // we answered Expect: 100-continue ourselves
  bool request_done_ = false;
  bool finished_ = false;

  // Answer-side replay and asset fallback (skew/replay.h).
  bool replay_watch_ = false;  // an action: each answer's head is checked for "not found"
  bool replay_keep_ = false;   // its body is being kept (no more than actions.replay_bytes)
  bool asset_fallback_ = false;
  bool discard_pending_ = false;  // on_head_complete paused the parser: discard and go on
  bool draining_ = false;         // the discarded answer's body is being read past, not sent
  bool drained_ = false;          // ... and it ended within the bytes in hand
  std::string replay_body_;    // the body as sent upstream (framed), until an answer's head is kept
  std::vector<const routing::Build*> tried_;       // builds whose answer was discarded, in order
  std::vector<const routing::Build*> next_builds_;  // candidates, listed at the first discard
  std::size_t next_build_ = 0;
  bool candidates_listed_ = false;

  // Accounting.
  int status_ = 0;
  metrics::Reason detail_ = metrics::Reason::none;
  std::uint64_t bytes_received_ = 0;
};

}  // namespace sg::gateway
