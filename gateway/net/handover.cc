#include "gateway/net/handover.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "gateway/net/listener_socket.h"

namespace sg::gateway {
namespace {

constexpr int kTimeoutMs = 5000;
constexpr std::size_t kMaxFds = 250;  // below SCM_MAX_FD (253)

bool wait_fd(int fd, short events) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, kTimeoutMs) == 1;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    if (!wait_fd(fd, POLLOUT)) return false;
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// One message: the description as JSON text, the fds alongside. "state":
// "flushed" in each entry is the promise that state_dir will not change any
// more; it rides in the entries, which earlier versions read with unknown
// keys ignored, so a successor of an earlier version (a rollback) still
// takes over.
bool send_sockets(int fd, const std::vector<PassedSocket>& sockets) {
  nlohmann::json list = nlohmann::json::array();
  std::vector<int> fds;
  for (const auto& s : sockets) {
    list.push_back({{"role", s.role}, {"name", s.name}, {"is_unix", s.is_unix}, {"state", "flushed"}});
    fds.push_back(s.fd);
  }
  const std::string text = list.dump() + "\n";
  if (fds.size() > kMaxFds) return false;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(fds.size(), 1)));
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  if (!wait_fd(fd, POLLOUT)) return false;
  return ::sendmsg(fd, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
}

}  // namespace

std::string handover_socket_path(const std::string& state_dir) { return state_dir + "/handover.sock"; }

std::optional<Takeover> request_takeover(const std::string& path, std::string& error) {
  error.clear();
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) return std::nullopt;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    ::close(fd);
    return std::nullopt;  // nobody there (ENOENT) or a stale socket file (ECONNREFUSED)
  }
  Takeover takeover;
  takeover.connection = fd;
  if (!send_all(fd, "TAKEOVER\n") || !wait_fd(fd, POLLIN)) {
    error = "the running skewgate did not answer the takeover request";
    ::close(fd);
    return std::nullopt;
  }
  char text[64 * 1024];
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxFds));
  iovec iov{text, sizeof text - 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0 || text[n - 1] != '\n') {
    error = "the takeover message was cut short";
    ::close(fd);
    return std::nullopt;
  }
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* data = reinterpret_cast<const int*>(CMSG_DATA(c));
    fds.assign(data, data + count);
  }
  const nlohmann::json list = nlohmann::json::parse(std::string(text, static_cast<std::size_t>(n)), nullptr, false);
  if (!list.is_array() || list.size() != fds.size()) {
    error = "the takeover message did not describe its sockets";
    for (int f : fds) ::close(f);
    ::close(fd);
    return std::nullopt;
  }
  for (std::size_t i = 0; i < fds.size(); ++i) {
    PassedSocket s;
    if (list[i].is_object()) {
      s.role = list[i].value("role", "");
      s.name = list[i].value("name", "");
      s.is_unix = list[i].value("is_unix", false);
    }
    // Entries without it come from an earlier version, which keeps taking
    // admin changes until READY.
    takeover.state_flushed = (i == 0 || takeover.state_flushed) && list[i].is_object() &&
                             list[i].value("state", "") == "flushed";
    s.fd = fds[i];
    takeover.sockets.push_back(s);
  }
  return takeover;
}

void confirm_takeover(Takeover& takeover) {
  for (auto& s : takeover.sockets)
    if (s.fd >= 0) ::close(s.fd);  // sockets the new configuration does not use
  if (takeover.connection >= 0) {
    send_all(takeover.connection, "READY\n");
    ::close(takeover.connection);
    takeover.connection = -1;
  }
}

// ---- the running process ----

HandoverListener::HandoverListener(uv_loop_t* loop, std::function<std::vector<PassedSocket>()> sockets,
                                   std::function<void()> handed_over, std::function<void()> aborted)
    : loop_(loop), sockets_(std::move(sockets)), handed_over_(std::move(handed_over)), aborted_(std::move(aborted)) {}

bool HandoverListener::listen(const std::string& path, std::string& error) {
  path_ = path;
  // Bound by hand (bind_listener unlinks a stale file first), not with
  // uv_pipe_bind: libuv unlinks a path it bound when the handle closes, and
  // by then the path belongs to our successor.
  const std::vector<BoundListener> bound =
      bind_listener(conf::SocketAddress{conf::SocketAddress::Family::unix_path, "", 0, path}, 1, error);
  if (bound.empty()) {
    error = "cannot listen for restarts on " + path + ": " + error;
    return false;
  }
  uv_pipe_init(loop_, &listener_, 0);
  listener_.data = this;
  int rc = uv_pipe_open(&listener_, bound[0].fd);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 4, on_connection);
  if (rc != 0) {
    error = "cannot listen for restarts on " + path + ": " + uv_strerror(rc);
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    return false;
  }
  listening_ = true;
  return true;
}

void HandoverListener::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<HandoverListener*>(server->data);
  if (status < 0 || self->peer_) return;  // one successor at a time
  self->peer_ = new uv_pipe_t;
  uv_pipe_init(self->loop_, self->peer_, 0);
  self->peer_->data = self;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(self->peer_)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(self->peer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    self->peer_ = nullptr;
    return;
  }
  self->received_.clear();
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(self->peer_),
      [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
        static thread_local char storage[256];
        *buf = uv_buf_init(storage, sizeof storage);
      },
      on_read);
}

// Closes the successor's connection. Before READY that means the hand-over
// failed: the state is ours again.
void HandoverListener::drop_peer() {
  uv_close(reinterpret_cast<uv_handle_t*>(peer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
  peer_ = nullptr;
  received_.clear();
  if (offered_) {
    offered_ = false;
    aborted_();
  }
}

void HandoverListener::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<HandoverListener*>(stream->data);
  if (nread < 0) {
    self->drop_peer();  // the successor went away before READY: we keep serving
    return;
  }
  self->received_.append(buf->base, static_cast<std::size_t>(nread));
  if (self->received_ == "TAKEOVER\n" && !self->offered_) {
    self->received_.clear();
    int fd = -1;
    uv_fileno(reinterpret_cast<uv_handle_t*>(self->peer_), &fd);
    const std::vector<PassedSocket> sockets = self->sockets_();  // flushes, stops writing
    self->offered_ = true;
    const bool sent = send_sockets(fd, sockets);
    for (const auto& s : sockets) ::close(s.fd);  // our dups; the originals stay with the workers
    if (!sent) self->drop_peer();
    return;
  }
  if (self->received_ == "READY\n" && self->offered_) {
    self->offered_ = false;
    self->drop_peer();
    self->handed_over_();
    return;
  }
  if (self->received_.size() > 16) self->drop_peer();
}

void HandoverListener::close() {
  if (!listening_) return;
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  offered_ = false;  // shutting down: nothing to give back
  if (peer_) {
    uv_close(reinterpret_cast<uv_handle_t*>(peer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    peer_ = nullptr;
  }
}

}  // namespace sg::gateway
