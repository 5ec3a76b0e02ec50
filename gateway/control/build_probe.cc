#include "gateway/control/build_probe.h"

#include <memory>
#include <optional>

#include "gateway/http1/http_parser.h"
#include "gateway/net/listener_socket.h"
#include "gateway/net/stream_io.h"

namespace sg::gateway {
namespace {

using Outcome = ProbeResult::Outcome;

// The answer's head is read with limits like a request's (the parser's
// defaults otherwise): a build has no business sending more.
const conf::Limits kProbeLimits{32 * 1024, 100, 8 * 1024, 0};

// Re-scanning the body prefix after every read could cost quadratic time
// on a body trickled byte by byte; scanning only once it has doubled or
// grown by this much keeps the total linear in kProbeBodyBytes.
constexpr std::size_t kRescanBytes = 1024;

std::string_view media_type(std::string_view value) {
  const std::size_t semi = value.find(';');
  if (semi != std::string_view::npos) value = value.substr(0, semi);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

std::string_view header(const ResponseHead& head, std::string_view name) {
  for (const auto& f : head.headers)
    if (routing::iequals(f.name, name)) return f.value;
  return {};
}

class ProbeImpl final : public BuildProbe, private HttpParserListener {
 public:
  ProbeImpl(uv_loop_t* loop, const conf::SocketAddress& address, const std::string& host, Done done)
      : loop_(loop), address_(address), done_(std::move(done)), parser_(HttpParser::Mode::response, *this) {
    // A navigation as a browser sends it (design.md section 3), so the app
    // answers with its document; identity, because we read the bytes.
    request_ = "GET / HTTP/1.1\r\nHost: " + host +
               "\r\nUser-Agent: skewgate-verify\r\nAccept: text/html,application/xhtml+xml\r\n"
               "Sec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Site: none\r\n"
               "Accept-Encoding: identity\r\nConnection: close\r\n\r\n";
    parser_.set_limits(&kProbeLimits);
  }

  void begin(std::chrono::milliseconds timeout) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    ++open_handles_;
    uv_timer_start(&timer_, on_timer, static_cast<std::uint64_t>(timeout.count()), 0);
    connect_.data = this;
    sockaddr_storage storage{};
    int rc = 0;
    if (address_.family == conf::SocketAddress::Family::unix_path) {
      uv_pipe_init(loop_, &socket_.pipe, 0);
      socket_.handle.data = this;
      ++open_handles_;
      socket_open_ = true;
      uv_pipe_connect(&connect_, &socket_.pipe, address_.path.c_str(), on_connect);
    } else if (!to_sockaddr(address_, storage)) {
      rc = UV_EINVAL;
    } else {
      uv_tcp_init(loop_, &socket_.tcp);
      socket_.handle.data = this;
      ++open_handles_;
      socket_open_ = true;
      rc = uv_tcp_connect(&connect_, &socket_.tcp, reinterpret_cast<sockaddr*>(&storage), on_connect);
    }
    if (rc < 0) {
      // Never call back from start(): the caller has not stored us yet.
      early_ = ProbeResult{Outcome::unreachable, {}, IdSource::header, 0, uv_strerror(rc)};
      uv_timer_start(&timer_, on_timer, 0, 0);
    }
  }

  void cancel() override {
    done_ = nullptr;
    close();
  }

 private:
  static void on_timer(uv_timer_t* t) {
    auto* p = static_cast<ProbeImpl*>(t->data);
    if (p->early_) {
      p->finish(*p->early_);
      return;
    }
    // A head came but the body stalls (a streamed page): judge what we have.
    if (p->head_ && p->evaluate(true)) return;
    p->finish({Outcome::timed_out, {}, IdSource::header, 0, "no complete answer within the probe timeout"});
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto* p = static_cast<ProbeImpl*>(req->data);
    if (p->closing_) return;
    if (status < 0) {
      p->finish({Outcome::unreachable, {}, IdSource::header, 0, uv_strerror(status)});
      return;
    }
    const int rc = write_stream(&p->socket_.stream, p->request_, nullptr);
    if (rc < 0) {
      p->finish({Outcome::unreachable, {}, IdSource::header, 0, uv_strerror(rc)});
      return;
    }
    uv_read_start(&p->socket_.stream, on_alloc, on_read);
  }

  static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* p = static_cast<ProbeImpl*>(h->data);
    *buf = uv_buf_init(p->read_buffer_, sizeof p->read_buffer_);
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* p = static_cast<ProbeImpl*>(s->data);
    if (p->closing_ || nread == 0) return;
    if (nread < 0) {
      if (p->head_) {
        p->parser_.finish();  // a body delimited by the close ends here
        p->evaluate(true);
        return;
      }
      p->finish({Outcome::bad_response, {}, IdSource::header, 0,
                 nread == UV_EOF ? "closed before an answer" : uv_strerror(static_cast<int>(nread))});
      return;
    }
    const HttpParser::Result r = p->parser_.execute({buf->base, static_cast<std::size_t>(nread)});
    if (r.error != HPE_OK && r.error != HPE_PAUSED) {
      if (p->head_) {
        p->evaluate(true);
        return;
      }
      p->finish({Outcome::bad_response, {}, IdSource::header, 0, std::string(p->parser_.rejection().detail)});
      return;
    }
    p->evaluate(p->message_complete_ || p->capped_);
  }

  // As in Node's glue: the callbacks collect, evaluate() decides.
  int on_head_complete() override {
    std::unique_ptr<ResponseHead> head = parser_.take_response();
    if (head && head->status >= 100 && head->status < 200) return 0;  // interim (103): the answer follows
    head_ = std::move(head);
    return 0;
  }

  int on_body(std::string_view data) override {
    if (!head_) return 0;
    const std::size_t room = kProbeBodyBytes - body_.size();
    if (data.size() >= room) capped_ = true;
    body_.append(data.substr(0, std::min(room, data.size())));
    return 0;
  }

  int on_message_complete() override {
    if (!head_) return 0;  // the end of an interim answer
    message_complete_ = true;
    return HPE_PAUSED;
  }

  // True once the probe finished.
  bool evaluate(bool complete) {
    if (closing_ || !head_) return closing_;
    ProbeResult result;
    result.status = head_->status;
    const std::string from_header = header_deployment_id(head_->headers);
    if (!from_header.empty()) {
      result.outcome = Outcome::reported;
      result.id = from_header;
      result.source = IdSource::header;
      finish(std::move(result));
      return true;
    }
    result.outcome = Outcome::no_id;
    const std::string_view type = media_type(header(*head_, "content-type"));
    const std::string_view encoding = header(*head_, "content-encoding");
    if (!routing::iequals(type, "text/html")) {
      result.detail = "no " + std::string(kDeploymentIdHeader) + " header, and the answer is not text/html";
      finish(std::move(result));
      return true;
    }
    if (!encoding.empty() && !routing::iequals(encoding, "identity")) {
      result.detail = "no " + std::string(kDeploymentIdHeader) + " header, and the HTML is content-encoded";
      finish(std::move(result));
      return true;
    }
    if (!complete && body_.size() < 2 * scanned_ && body_.size() < scanned_ + kRescanBytes) return false;
    scanned_ = body_.size();
    HtmlIdScan scan = scan_html_deployment_id(body_, complete);
    switch (scan.status) {
      case HtmlIdScan::Status::need_more: return false;
      case HtmlIdScan::Status::found:
        result.outcome = Outcome::reported;
        result.id = std::move(scan.id);
        result.source = IdSource::html;
        break;
      case HtmlIdScan::Status::absent:
        result.detail = "no " + std::string(kDeploymentIdHeader) + " header; " + std::string(scan.why);
        break;
    }
    finish(std::move(result));
    return true;
  }

  void finish(ProbeResult result) {
    if (closing_) return;
    Done done = std::move(done_);
    done_ = nullptr;
    close();
    if (done) done(result);  // `this` lives until the close callbacks
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
    if (socket_open_) uv_close(&socket_.handle, on_closed);
  }

  static void on_closed(uv_handle_t* h) {
    auto* p = static_cast<ProbeImpl*>(h->data);
    if (--p->open_handles_ == 0) delete p;
  }

  uv_loop_t* loop_;
  conf::SocketAddress address_;
  Done done_;
  HttpParser parser_;
  std::string request_;
  uv_timer_t timer_;
  StreamHandle socket_;
  uv_connect_t connect_;
  std::optional<ProbeResult> early_;
  std::unique_ptr<ResponseHead> head_;
  std::string body_;
  std::size_t scanned_ = 0;
  char read_buffer_[16 * 1024];
  int open_handles_ = 0;
  bool socket_open_ = false;
  bool closing_ = false;
  bool capped_ = false;
  bool message_complete_ = false;
};

}  // namespace

std::string_view to_string(ProbeResult::Outcome outcome) {
  switch (outcome) {
    case Outcome::reported: return "reported";
    case Outcome::no_id: return "no_id";
    case Outcome::unreachable: return "unreachable";
    case Outcome::timed_out: return "timed_out";
    case Outcome::bad_response: return "bad_response";
  }
  return "?";
}

BuildProbe* start_build_probe(uv_loop_t* loop, const conf::SocketAddress& address, const std::string& host,
                              std::chrono::milliseconds timeout, BuildProbe::Done done) {
  auto* probe = new ProbeImpl(loop, address, host, std::move(done));
  probe->begin(timeout);
  return probe;
}

}  // namespace sg::gateway
