#include "gateway/admin/admin_server.h"

#include <unistd.h>

#include <algorithm>
#include <memory>

#include "gateway/http/error_body.h"
#include "gateway/http1/http_head.h"
#include "gateway/http1/http_parser.h"
#include "gateway/http1/local_reply.h"
#include "gateway/net/listener_socket.h"

namespace sg::gateway {

namespace {

constexpr std::uint64_t kRequestTimeoutMs = 10'000;
const conf::Limits kAdminLimits{16 * 1024, 100, 8 * 1024, AdminServer::kMaxBodyBytes};

}  // namespace

AdminRequest AdminRequest::from_head(RequestHead&& head) {
  AdminRequest request;
  request.method = std::move(head.method);
  const std::size_t q = head.target.find('?');
  request.path = head.target.substr(0, q);
  if (q != std::string::npos) request.query = head.target.substr(q + 1);
  request.headers = std::move(head.headers);
  return request;
}

std::string_view AdminRequest::header(std::string_view name) const {
  for (const auto& f : headers)
    if (routing::iequals(f.name, name)) return f.value;
  return {};
}

// One admin connection: read one request, answer, close.
class AdminConnection final : private HttpParserListener {
 public:
  AdminConnection(AdminServer& server, uv_loop_t* loop, bool is_unix)
      : server_(server), parser_(HttpParser::Mode::request, *this) {
    if (is_unix) {
      uv_pipe_init(loop, &socket_.pipe, 0);
    } else {
      uv_tcp_init(loop, &socket_.tcp);
    }
    socket_.handle.data = this;
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    parser_.set_limits(&kAdminLimits);
  }

  bool accept(uv_stream_t* listener) {
    if (uv_accept(listener, &socket_.stream) != 0) return false;
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<AdminConnection*>(t->data)->close(); },
                   kRequestTimeoutMs, 0);
    uv_read_start(
        &socket_.stream,
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
          auto* c = static_cast<AdminConnection*>(h->data);
          *buf = uv_buf_init(c->buffer_, sizeof c->buffer_);
        },
        on_read);
    return true;
  }

  void close() {
    if (closing_) return;
    closing_ = true;
    alive_.reset();
    server_.forget(this);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
    uv_close(&socket_.handle, on_closed);
  }

 private:
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<AdminConnection*>(s->data);
    if (c->closing_ || c->answered_ || c->handling_) return;
    if (nread < 0) {
      c->close();
      return;
    }
    const HttpParser::Result r = c->parser_.execute({buf->base, static_cast<std::size_t>(nread)});
    if (c->answered_ || r.error == HPE_OK || r.error == HPE_PAUSED) return;
    const ParseRejection rejection = c->parser_.rejection();
    c->respond({rejection.status, json_error_body(rejection.code, rejection.detail)});
  }

  int on_head_complete() override {
    request_ = AdminRequest::from_head(std::move(*parser_.take_request()));
    return 0;
  }

  int on_body(std::string_view data) override {
    request_.body.append(data);
    return 0;
  }

  // One request per connection: nothing more is read. The answer may come
  // later (a probe); by then the connection may have closed (its timer, a
  // shutdown), which `alive_` tells.
  int on_message_complete() override {
    uv_read_stop(&socket_.stream);
    handling_ = true;
    std::weak_ptr<bool> alive = alive_;
    server_.handler()(request_, [this, alive](AdminResponse response) {
      if (alive.expired()) return;
      respond(response);
    });
    return HPE_PAUSED;
  }

  void respond(const AdminResponse& response) {
    if (answered_ || closing_) return;
    answered_ = true;
    uv_read_stop(&socket_.stream);
    HeaderList headers = {{"content-type", response.content_type}, {"cache-control", "no-store"}};
    headers.insert(headers.end(), response.headers.begin(), response.headers.end());
    const std::string bytes = render_reply(response.status, headers, response.body, false, request_.method == "HEAD");
    write_stream(&socket_.stream, bytes, nullptr);
    shutdown_.data = this;
    if (uv_shutdown(&shutdown_, &socket_.stream,
                    [](uv_shutdown_t* req, int) { static_cast<AdminConnection*>(req->data)->close(); }) != 0)
      close();
  }

  static void on_closed(uv_handle_t* h) {
    auto* c = static_cast<AdminConnection*>(h->data);
    if (++c->closed_handles_ == 2) delete c;
  }

  AdminServer& server_;
  StreamHandle socket_;
  uv_timer_t timer_;
  uv_shutdown_t shutdown_;
  HttpParser parser_;
  AdminRequest request_;
  char buffer_[16 * 1024];
  int closed_handles_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  bool handling_ = false;  // the request is complete; its answer may be pending
  bool answered_ = false;
  bool closing_ = false;
};

AdminServer::AdminServer(uv_loop_t* loop, Handler handler) : loop_(loop), handler_(std::move(handler)) {}

AdminServer::~AdminServer() { close(); }

bool AdminServer::listen(const conf::SocketAddress& address, std::string& error) {
  std::vector<BoundListener> bound = bind_listener(address, 1, error);
  if (bound.empty()) {
    error = "admin listener: " + error;
    return false;
  }
  return adopt(bound[0].fd, bound[0].name, bound[0].is_unix, error);
}

bool AdminServer::adopt(int fd, const std::string& name, bool is_unix, std::string& error) {
  if (is_unix) {
    uv_pipe_init(loop_, &listener_.pipe, 0);
    uv_pipe_open(&listener_.pipe, fd);
  } else {
    uv_tcp_init(loop_, &listener_.tcp);
    uv_tcp_open(&listener_.tcp, fd);
  }
  listener_.handle.data = this;
  is_unix_ = is_unix;
  if (uv_listen(&listener_.stream, 128, on_connection) != 0) {
    error = "admin listener: cannot listen on " + name;
    uv_close(&listener_.handle, nullptr);
    return false;
  }
  listening_ = true;
  bound_ = name;
  return true;
}

int AdminServer::dup_fd() const {
  uv_os_fd_t fd = -1;
  if (!listening_ || uv_fileno(&listener_.handle, &fd) != 0) return -1;
  return ::dup(fd);
}

void AdminServer::on_connection(uv_stream_t* listener, int status) {
  auto* server = static_cast<AdminServer*>(listener->data);
  if (status < 0 || server->closed_) return;
  auto* c = new AdminConnection(*server, server->loop_, server->is_unix_);
  server->connections_.push_back(c);
  if (!c->accept(listener)) c->close();
}

void AdminServer::forget(AdminConnection* connection) {
  connections_.erase(std::remove(connections_.begin(), connections_.end(), connection), connections_.end());
}

void AdminServer::stop_accepting() {
  if (!listening_) return;
  listening_ = false;
  uv_close(&listener_.handle, nullptr);
}

void AdminServer::close() {
  if (closed_) return;
  closed_ = true;
  stop_accepting();
  const std::vector<AdminConnection*> open = connections_;
  for (AdminConnection* c : open) c->close();
}

}  // namespace sg::gateway
