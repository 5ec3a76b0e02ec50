#include "gateway/proxy/exchange.h"

#include "gateway/http/error_body.h"
#include "gateway/http1/http_head.h"
#include "gateway/proxy/request_metrics.h"
#include "routing/client_address.h"
#include "skew/decide.h"
#include "skew/pin.h"
#include "skew/pin_cookie.h"
#include "skew/replay.h"

namespace sg::gateway {
namespace {

// Reading from one side stops while the other side's write queue is above
// the high mark; it resumes when the queue drains below the low mark
// (UpstreamConnection and the downstream stream report that).
constexpr std::size_t kHighWatermark = 256 * 1024;

// The first content-type of a response ("" when it has none).
std::string_view response_content_type(const ResponseHead& response) {
  for (const HeaderField& field : response.headers)
    if (routing::iequals(field.name, "content-type")) return field.value;
  return {};
}

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" || method == "PUT" ||
         method == "DELETE";
}

}  // namespace

Exchange::Exchange(Worker& worker, DownstreamStream& downstream)
    : worker_(worker), downstream_(downstream) {
  // The access log's times are the only use of these clock reads; whether
  // it is enabled is fixed for the process (AccessLogSink opens at start).
  if (worker_.access_log().enabled()) started_ns_ = uv_hrtime();
}

Exchange::~Exchange() {
  release_upstream(false);
  // Heads and the head buffer go back to the loop for the next request.
  HeadPool& heads = worker_.heads();
  heads.give(std::move(head_));
  heads.give(std::move(response_head_));
  worker_.recycler().give_string(upstream_head_);
}

// ---- 1. decide ----

void Exchange::on_request_head(std::unique_ptr<RequestHead> head) {
  head_ = std::move(head);
  snapshot_ = worker_.lease_snapshot();
  const routing::RequestView view = head_->view();
  // A no-JS form post names its action in the body: read its first
  // actions.inspect_bytes before deciding (forwarded unchanged after).
  peek_limit_ = skew::body_peek_bytes(view, *snapshot_);
  peeking_ = peek_limit_ > 0;
  if (!peeking_) {
    decide_and_route();
    return;
  }
  // The client may hold its body back until it hears 100 Continue (RFC 9110
  // section 10.1.1); we need the body before anyone could answer, so we
  // invite it ourselves, as nginx does. HTTP/1.0 clients never expect it
  // (the stream sends nothing then).
  if (head_->has_body() && routing::iequals(view.header("expect"), "100-continue"))
    sent_continue_ = downstream_.send_continue();
}

void Exchange::decide_and_route() {
  peeking_ = false;
  // Only the first inspect_bytes count, however the body happened to arrive.
  const std::string_view peek = std::string_view(peek_).substr(0, peek_limit_);
  const routing::RequestView view = head_->view();
  const ConnectionInfo& downstream = downstream_.connection();
  const PeerText peer_ip = worker_.peer_text(downstream.peer);
  // Pins get Secure over TLS, or when a trusted hop says the client used https.
  const bool secure = downstream.secure ||
                      (downstream.peer_trusted && routing::iequals(view.header("x-forwarded-proto"), "https"));
  // The canary cohort follows the client, not the last proxy hop.
  const std::string_view client = routing::client_address(peer_ip, downstream.peer_trusted,
                                                          view.headers, snapshot_->config().trusted_proxies);
  const skew::DecisionInput input{view,   peek, client, Worker::wall_ms(), worker_.keyring(),
                                  secure, downstream.peer_trusted, &worker_.pin_scratch(),
                                  downstream.redirect_https};
  verdict_ = skew::decide(input, *snapshot_);
  if (verdict_.answer) {
    peek_.clear();
    if (!verdict_.set_cookie.empty()) verdict_.answer->headers.emplace_back("set-cookie", verdict_.set_cookie);
    answer(*verdict_.answer);
    return;
  }
  worker_.note_request(*verdict_.target);
  // The client was told to go on already: the upstream is not asked again.
  if (sent_continue_)
    std::erase_if(head_->headers, [](const HeaderField& f) { return routing::iequals(f.name, "expect"); });
  ForwardContext context{peer_ip, downstream.peer_trusted, downstream.secure};
  worker_.recycler().take_string(upstream_head_);
  append_upstream_request_head(upstream_head_, *head_, context);
  // An action's answer may say its build does not know it (skew/replay.h):
  // its body is kept, up to actions.replay_bytes, to replay it elsewhere.
  replay_watch_ = verdict_.classification.kind == routing::RequestKind::action && head_->method == "POST";
  if (replay_watch_) {
    const std::uint64_t limit = verdict_.app->config->actions.replay_bytes;
    replay_keep_ = limit > 0 && !(head_->content_length && *head_->content_length > limit);
  }
  // head_->view(), not `view`: erasing Expect above moved the header list
  // under it (its last entry would name a destroyed string).
  asset_fallback_ = skew::asset_fallback_applies(head_->view(), verdict_);
  if (!peek_.empty()) {
    forward_body(peek_);
    peek_.clear();
    peek_.shrink_to_fit();
  }
  first_upstream_ = worker_.pool().next_upstream(*verdict_.target);
  upstream_start_ns_ = uv_hrtime();
  connect_upstream();
}

// ---- 2. connect ----

void Exchange::connect_upstream() {
  const routing::Build& build = *verdict_.target;
  const std::size_t count = build.upstreams.size();
  const conf::Timeouts& timeouts = snapshot_->config().timeouts;
  while (attempts_ < count) {
    const std::size_t index = (first_upstream_ + attempts_) % count;
    ++attempts_;
    if (worker_.access_log().enabled()) last_upstream_ = build.upstreams[index].to_string();
    if (UpstreamConnection* idle = worker_.pool().take_idle(build, index)) {
      idle->adopt(this);
      upstream_ = idle;
      send_request_head();
      return;
    }
    upstream_ = UpstreamConnection::connect(worker_, build.upstreams[index], index, this,
                                            timeouts.upstream_connect.count());
    if (upstream_) return;  // on_upstream_connected or on_upstream_failure follows
  }
  worker_.report_connect_failure(build);
  note_upstream_error(reason_of(UpstreamFailure::connect_failed));
  fail_upstream(reason_of(UpstreamFailure::connect_failed), 502);
}

void Exchange::on_upstream_connected(UpstreamConnection&) { send_request_head(); }

// ---- 3. send the request ----

void Exchange::send_request_head() {
  upstream_ready_ = true;
  response_parser_.emplace(HttpParser::Mode::response, static_cast<HttpParserListener&>(*this));
  response_parser_->set_head_pool(&worker_.heads());
  response_parser_->expect_no_body(head_->method == "HEAD");
  upstream_->set_io_timeout(snapshot_->config().timeouts.upstream_response.count());
  upstream_->write2(upstream_head_, request_buffer_);
  request_buffer_.clear();
  request_buffer_.shrink_to_fit();
  if (request_done_) upstream_->arm_response_timer(snapshot_->config().timeouts.upstream_response.count());
  if (downstream_paused_) {
    downstream_paused_ = false;
    downstream_.resume_reading();
  }
}

void Exchange::on_request_body(std::string_view data) {
  bytes_received_ += data.size();
  if (peeking_) {
    peek_.append(data);
    if (peek_.size() >= peek_limit_) decide_and_route();
    return;
  }
  if (verdict_.answer || response_done_) return;  // answered already: the body is dropped
  forward_body(data);
}

void Exchange::forward_body(std::string_view data) {
  if (!head_->chunked) {
    forward_to_upstream(data);
    return;
  }
  std::string chunk;
  chunk.reserve(data.size() + 24);
  append_chunk(chunk, data);
  forward_to_upstream(chunk);
}

void Exchange::on_request_complete() {
  request_done_ = true;
  if (peeking_) decide_and_route();  // the whole body was shorter than inspect_bytes
  if (!verdict_.answer && !response_done_ && !finished_) {
    if (head_->chunked) forward_to_upstream("0\r\n\r\n");
    if (upstream_ready_ && upstream_)
      upstream_->arm_response_timer(snapshot_->config().timeouts.upstream_response.count());
  }
  maybe_finish();
}

void Exchange::forward_to_upstream(std::string_view data) {
  if (replay_keep_) {
    // bytes_received_ counts the body as the client sent it (before any
    // re-chunking): the limit is on that.
    if (bytes_received_ > verdict_.app->config->actions.replay_bytes) {
      drop_replay_body();
    } else {
      replay_body_.append(data);
    }
  }
  std::size_t queued;
  if (upstream_ready_ && upstream_) {
    upstream_->write(data);
    queued = upstream_ ? upstream_->write_queue_size() : 0;
  } else {
    request_buffer_.append(data);
    queued = request_buffer_.size();
  }
  if (queued > kHighWatermark && !downstream_paused_) {
    downstream_paused_ = true;
    downstream_.pause_reading();
  }
}

void Exchange::on_upstream_drained(UpstreamConnection&) {
  if (downstream_paused_) {
    downstream_paused_ = false;
    downstream_.resume_reading();
  }
}

// ---- 4. the response ----

void Exchange::on_upstream_data(UpstreamConnection&, std::string_view data) {
  upstream_head_.clear();  // a response byte arrived: never retried now
  got_response_bytes_ = true;
  if (tunnel_) {
    downstream_.send_response_body(data);
    flush_downstream();
    return;
  }
  const HttpParser::Result r = response_parser_->execute(data);
  flush_downstream();
  if (finished_) return;
  if (discard_pending_) {
    try_next_build(drain_discarded(data.substr(r.consumed)));
    return;
  }
  switch (r.error) {
    case HPE_OK: return;
    case HPE_PAUSED:  // the response is complete
      if (r.consumed < data.size()) upstream_reusable_ = false;  // bytes after the response: never reuse
      maybe_finish();
      return;
    case HPE_PAUSED_UPGRADE:
      downstream_.send_response_body(data.substr(r.consumed));
      flush_downstream();
      if (!finished_) downstream_.start_tunnel();
      return;
    default:
      note_upstream_error(metrics::Reason::bad_response);
      if (response_started_) {
        abort(metrics::Reason::bad_response);
      } else {
        release_upstream(false);
        fail_upstream(metrics::Reason::bad_response, 502);
      }
  }
}

int Exchange::on_head_complete() {
  response_head_ = response_parser_->take_response();
  const ResponseHead& response = *response_head_;
  if (started_ns_) upstream_head_ns_ = uv_hrtime();
  if (response.status == 101) {
    if (!head_->upgrade) return -1;
    tunnel_ = true;
    status_ = 101;
    // A tunnel may stay quiet up to tunnel_idle (the downstream's timer);
    // the upstream's send deadline still runs while our bytes wait for it.
    if (upstream_) {
      upstream_->stop_response_timer();
      upstream_->enable_keepalive(kTunnelKeepaliveS);
    }
    response_started_ = true;
    downstream_.send_response_head(response);
    return 2;  // llhttp stops with HPE_PAUSED_UPGRADE: the rest is tunnel data
  }
  if (response.status < 200) {  // 100 Continue, 103 Early Hints: passed on, the final response follows
    interim_ = true;
    if (response.status == 100 && sent_continue_) return 0;  // the client had ours: never twice
    downstream_.send_interim_head(response);
    return 0;
  }
  if ((replay_watch_ || asset_fallback_) && discard_answer(response)) {
    // Nothing of this answer goes downstream; llhttp stops here and
    // on_upstream_data goes on with the next build.
    discard_pending_ = true;
    return HPE_PAUSED;
  }
  status_ = response.status;
  if (verdict_.no_store_on_404 && response.status == 404) set_no_store(*response_head_);
  // The pin goes next to the upstream's own Set-Cookie headers, never
  // instead, and only on an HTML page; a pin not sent is not counted issued.
  if (!verdict_.set_cookie.empty()) {
    if (skew::pin_fits_response(response.status, response_content_type(response))) {
      response_head_->headers.push_back({"set-cookie", verdict_.set_cookie});
    } else {
      verdict_.set_cookie.clear();
    }
  }
  // The stream frames the body (HTTP/1: kept length, re-chunked, none for
  // HEAD/204/304, or until close) and says whether the connection is kept.
  downstream_.send_response_head(response);
  response_started_ = true;
  return 0;
}

int Exchange::on_body(std::string_view data) {
  if (draining_) return 0;
  // Buffered until flush_downstream: a 64 KiB read at most, re-framed.
  downstream_.send_response_body(data);
  return 0;
}

int Exchange::on_message_complete() {
  if (tunnel_) return 0;  // llhttp goes on to HPE_PAUSED_UPGRADE
  if (draining_) {
    drained_ = true;
    return HPE_PAUSED;
  }
  if (interim_) {
    interim_ = false;
    return 0;
  }
  downstream_.end_response();
  response_done_ = true;
  upstream_end_ns_ = uv_hrtime();
  upstream_reusable_ = response_head_ && response_head_->keep_alive;
  if (upstream_) upstream_->disarm_timer();
  return HPE_PAUSED;
}

void Exchange::flush_downstream() {
  downstream_.flush();
  if (upstream_ && !upstream_paused_ && downstream_.queued_bytes() > kHighWatermark) {
    upstream_paused_ = true;
    upstream_->pause_reading();
  }
}

void Exchange::on_downstream_drained() {
  if (upstream_paused_ && upstream_) {
    upstream_paused_ = false;
    upstream_->resume_reading();
  }
}

void Exchange::on_tunnel_data(std::string_view data) {
  bytes_received_ += data.size();
  if (upstream_) forward_to_upstream(data);
}

// ---- 4b. answers that are discarded (skew/replay.h) ----

bool Exchange::discard_answer(const ResponseHead& response) {
  if (replay_watch_) {
    const skew::ResponseView view{response.status, response.headers};
    if (skew::action_not_found_signal(head_->view(), verdict_.classification, view) != skew::NotFoundSignal::none)
      return true;
    // An answer from a build that knows the action: the call ran, it is
    // never replayed now, and its body is no longer needed.
    replay_watch_ = false;
    drop_replay_body();
    if (!tried_.empty()) {
      verdict_.outcome = skew::Outcome::rerouted;
      verdict_.reason = metrics::Reason::action_replayed;
    }
    return false;
  }
  // Asset fallback: current's 404 and every 404 but the last are discarded.
  if (response.status != 404) return false;
  if (!candidates_listed_) {
    next_builds_ = skew::asset_fallback_candidates(*verdict_.app);
    candidates_listed_ = true;
  }
  if (next_build_ < next_builds_.size()) return true;
  // Every build tried answered 404: this last one goes out, and no cache may
  // keep it (a build deployed or kept later may have the file).
  if (!tried_.empty()) set_no_store(*response_head_);
  return false;
}

// Whether the connection of an answer just discarded can carry the next
// request: its whole body is in the bytes already read (`rest`, what follows
// its head), nothing follows it, it is kept alive, and our request was all
// sent. Next.js's miss (a 409 of 26 bytes) arrives with its head, so a
// replay costs no new upstream connection (it cost one per replay, a
// connect and a TIME_WAIT each). Nothing is waited for: an answer whose body
// is still to come is closed, as before.
bool Exchange::drain_discarded(std::string_view rest) {
  if (!response_head_ || !response_head_->keep_alive || !request_done_) return false;
  draining_ = true;
  drained_ = false;
  response_parser_->resume_after_head();
  const HttpParser::Result r = response_parser_->execute(rest);
  draining_ = false;
  return drained_ && r.error == HPE_PAUSED && r.consumed == rest.size();
}

// The answer just discarded came from verdict_.target: its connection goes
// back to the pool when drain_discarded read all of it, else it is closed
// (never reused mid-body). The request goes to the next build, or the client
// gets the action_not_found reload answer.
void Exchange::try_next_build(bool reusable) {
  discard_pending_ = false;
  tried_.push_back(verdict_.target);
  release_upstream(reusable);
  response_parser_.reset();
  worker_.heads().give(std::move(response_head_));
  upstream_ready_ = false;
  got_response_bytes_ = false;
  interim_ = false;
  if (replay_watch_) {
    if (!candidates_listed_) {
      next_builds_ = skew::replay_candidates(*verdict_.app, verdict_.classification.action_client,
                                             verdict_.classification.action_id, tried_);
      candidates_listed_ = true;
    }
    // Replayed only with the whole body in hand: kept within replay_bytes,
    // and the answer came after the client's last byte.
    if (!replay_keep_ || !request_done_ || next_build_ >= next_builds_.size()) {
      drop_replay_body();
      replay_watch_ = false;
      skew::answer_action_not_found(verdict_, head_->view());
      answer(*verdict_.answer);
      return;
    }
  }
  verdict_.target = next_builds_[next_build_++];
  verdict_.outcome = skew::Outcome::rerouted;
  verdict_.reason = replay_watch_ ? metrics::Reason::action_replayed : metrics::Reason::asset_fallback;
  worker_.note_request(*verdict_.target);
  // The whole body goes with the head now: the next build is not asked to
  // invite it (RFC 9110 section 10.1.1), and no second 100 reaches the client.
  std::erase_if(head_->headers, [](const HeaderField& f) { return routing::iequals(f.name, "expect"); });
  upstream_head_.clear();
  const ConnectionInfo& downstream = downstream_.connection();
  const PeerText peer_ip = worker_.peer_text(downstream.peer);
  ForwardContext context{peer_ip, downstream.peer_trusted, downstream.secure};
  append_upstream_request_head(upstream_head_, *head_, context);
  // A copy: the body stays kept until this build's answer has been judged.
  request_buffer_ = replay_body_;
  attempts_ = 0;
  reused_retry_done_ = false;
  first_upstream_ = worker_.pool().next_upstream(*verdict_.target);
  connect_upstream();
}

void Exchange::drop_replay_body() {
  replay_keep_ = false;
  replay_body_.clear();
  replay_body_.shrink_to_fit();
}

// ---- failures ----

void Exchange::on_upstream_failure(UpstreamConnection& upstream, UpstreamFailure failure) {
  upstream_ = nullptr;  // it closes itself
  if (tunnel_) {
    finish();  // a tunnel's connection is never kept
    return;
  }
  if (failure == UpstreamFailure::closed && response_started_ && !response_done_ && response_parser_) {
    // llhttp_finish returns what on_message_complete returned (HPE_PAUSED):
    // whether the response ended is response_done_.
    response_parser_->finish();
  }
  if (failure == UpstreamFailure::closed && response_done_) {
    // A response delimited by the upstream closing has ended.
    flush_downstream();
    upstream_reusable_ = false;
    maybe_finish();
    return;
  }
  const bool connect_failure = failure == UpstreamFailure::connect_refused ||
                               failure == UpstreamFailure::connect_timeout ||
                               failure == UpstreamFailure::connect_failed;
  // Every failed connect counts (a sick upstream shows even when the retry
  // succeeds); a pooled connection found closed and retried does not.
  const bool retry_reused = !connect_failure && upstream.reused() && retry_allowed();
  if (!retry_reused) note_upstream_error(reason_of(failure));
  if (connect_failure && attempts_ < verdict_.target->upstreams.size()) {
    upstream_ready_ = false;
    connect_upstream();
    return;
  }
  if (connect_failure) worker_.report_connect_failure(*verdict_.target);
  if (retry_reused) {
    // A pooled connection the upstream had already closed: nothing was
    // processed, so a fresh connection may safely try again.
    reused_retry_done_ = true;
    upstream_ready_ = false;
    const std::size_t index = upstream.pool_slot();
    upstream_ = UpstreamConnection::connect(worker_, verdict_.target->upstreams[index], index, this,
                                            snapshot_->config().timeouts.upstream_connect.count());
    if (upstream_) return;
  }
  if (response_started_) {
    abort(reason_of(failure));
    return;
  }
  const bool timeout = failure == UpstreamFailure::connect_timeout || failure == UpstreamFailure::response_timeout ||
                       failure == UpstreamFailure::send_timeout;
  fail_upstream(reason_of(failure), timeout ? 504 : 502);
}

// An asset of a gone build that current does not have either: no cache may
// keep the miss, the file may come back with the next deploy.
void Exchange::set_no_store(ResponseHead& response) {
  std::erase_if(response.headers, [](const HeaderField& f) { return routing::iequals(f.name, "cache-control"); });
  response.headers.push_back({"cache-control", "no-store"});
}

bool Exchange::retry_allowed() const {
  return !reused_retry_done_ && !got_response_bytes_ && is_idempotent(head_->method) && !head_->has_body() &&
         !upstream_head_.empty();
}

void Exchange::fail_upstream(metrics::Reason reason, int status) {
  detail_ = reason;
  verdict_.set_cookie.clear();  // the error goes out without the pin (not issued)
  skew::Answer reply;
  reply.status = status;
  reply.headers = {{"content-type", "application/json"}, {"cache-control", "no-store"}};
  reply.body = upstream_error_body(verdict_.app ? verdict_.app->name : "", verdict_.target ? verdict_.target->id : "",
                                   reason);
  verdict_.outcome = skew::Outcome::error;
  answer(reply);
}

// A local response: a skew answer or an upstream error.
void Exchange::answer(const skew::Answer& reply) {
  status_ = reply.status;
  response_started_ = true;
  response_done_ = true;
  upstream_reusable_ = false;
  // The stream closes the connection after it when a request body is still
  // to come, rather than wait for a body the client may never send.
  downstream_.send_local_answer(reply.status, reply.headers, reply.body);
  // A bodiless request's on_request_complete follows in the same parse.
  if (request_done_ || head_->has_body()) maybe_finish();
}

void Exchange::abort(metrics::Reason reason) {
  if (finished_) return;
  detail_ = reason;
  finished_ = true;
  account();
  release_upstream(false);
  downstream_.reset();  // calls on_downstream_gone, which sees finished_
}

void Exchange::on_downstream_gone(metrics::Reason detail, int status) {
  if (finished_) return;
  finished_ = true;
  if (detail != metrics::Reason::none) detail_ = detail;
  if (detail_ == metrics::Reason::none) detail_ = metrics::Reason::client_closed;
  if (status != 0) status_ = status;
  account();
  release_upstream(false);
}

// ---- 5. finish ----

void Exchange::maybe_finish() {
  if (!response_done_) return;
  if (!request_done_) {
    // The response ended before the request body: neither connection can
    // be reused, since the rest of the body is still on its way (finish()
    // tells the stream).
    upstream_reusable_ = false;
  }
  finish();
}

void Exchange::finish() {
  if (finished_) return;
  finished_ = true;
  account();
  // The stream adds its own conditions (what the response head said).
  const bool keep_alive = request_done_ && !tunnel_;
  release_upstream(upstream_reusable_ && request_done_ && response_done_);
  downstream_.finished(keep_alive);  // defers our deletion
}

void Exchange::release_upstream(bool reusable) {
  if (!upstream_) return;
  UpstreamConnection* upstream = upstream_;
  upstream_ = nullptr;
  if (reusable && verdict_.target) {
    upstream->disarm_timer();
    if (upstream_paused_) upstream->resume_reading();
    worker_.pool().put_idle(*verdict_.target, upstream, snapshot_->config().timeouts.upstream_idle.count());
  } else {
    upstream->adopt(nullptr);
    upstream->close();
  }
}

void Exchange::account() {
  record_metrics();
  log();
}

void Exchange::record_metrics() {
  metrics::WorkerStats* stats = worker_.stats();
  if (stats == nullptr || peeking_) return;  // gone before a decision: nothing to label it by
  std::optional<double> upstream_s;
  if (upstream_end_ns_ > upstream_start_ns_ && upstream_start_ns_ > 0)
    upstream_s = static_cast<double>(upstream_end_ns_ - upstream_start_ns_) / 1e9;
  stats->record(request_sample(verdict_, Worker::wall_ms(), upstream_s));
}

void Exchange::note_upstream_error(metrics::Reason reason) {
  metrics::WorkerStats* stats = worker_.stats();
  const std::optional<std::size_t> label = metrics::kUpstreamErrorLabels.index(reason);
  if (stats && label && verdict_.app && verdict_.target)
    stats->record_upstream_error(verdict_.app->name, verdict_.target->id, *label);
}

void Exchange::log() {
  AccessLog& access_log = worker_.access_log();
  if (!access_log.enabled()) return;
  AccessLogEntry e;
  const PeerText peer = worker_.peer_text(downstream_.connection().peer);
  e.peer = peer;
  e.method = head_->method;
  e.target = head_->target;
  if (verdict_.app) e.app = verdict_.app->name;
  e.client_build = verdict_.client_build.id;
  if (verdict_.target && !verdict_.answer) e.build = verdict_.target->id;
  e.upstream = last_upstream_;
  e.outcome = skew::to_string(verdict_.outcome);
  e.detail = detail_ == metrics::Reason::none ? verdict_.reason : detail_;
  e.tried.reserve(tried_.size());
  for (const routing::Build* build : tried_) e.tried.push_back(build->id);
  e.kind = routing::to_string(verdict_.classification.kind);
  if (verdict_.classification.framework != routing::RequestFramework::none)
    e.framework = routing::to_string(verdict_.classification.framework);
  if (verdict_.pin_result) e.pin = skew::to_string(*verdict_.pin_result);
  e.status = status_;
  e.bytes_received = bytes_received_;
  e.bytes_sent = downstream_.bytes_sent();
  const std::uint64_t now = uv_hrtime();
  e.duration_ms = static_cast<double>(now - started_ns_) / 1e6;
  if (upstream_head_ns_) e.upstream_ms = static_cast<double>(upstream_head_ns_ - started_ns_) / 1e6;
  access_log.record(e);
}

}  // namespace sg::gateway
