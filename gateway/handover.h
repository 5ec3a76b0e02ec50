// Zero-drop restart of the binary (design.md section 9, issue 9): a new
// process takes the listening sockets over from the running one through a
// Unix socket in state_dir, with SCM_RIGHTS, as HAProxy's `expose-fd
// listeners` and Envoy's hot restart do. The sockets themselves are shared,
// so connections waiting in their accept queues are never lost (closing a
// plain SO_REUSEPORT socket would drop its queue).
//
//   new -> old   "TAKEOVER\n"
//   old -> new   one message: a JSON list of sockets + their fds (SCM_RIGHTS)
//   new          starts its workers and admin listener on those fds
//   new -> old   "READY\n"
//   old          stops accepting, drains, exits
#pragma once

#include <uv.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sg::gateway {

struct PassedSocket {
  std::string role;  // "proxy" or "admin"
  std::string name;  // the listener's address text (port resolved)
  bool is_unix = false;
  int fd = -1;
};

std::string handover_socket_path(const std::string& state_dir);

// --- the new process (blocking, before its loops start) ---

struct Takeover {
  int connection = -1;
  std::vector<PassedSocket> sockets;
};

// nullopt (and `error` empty) when no process answers at `path`: a plain
// start. nullopt with `error` set when one answered but the exchange failed.
std::optional<Takeover> request_takeover(const std::string& path, std::string& error);
// Tells the old process to stop accepting; closes fds we did not use.
void confirm_takeover(Takeover& takeover);

// --- the running process (on the main loop) ---

class HandoverListener {
 public:
  // `sockets` is called when a successor asks; `handed_over` when it is ready.
  HandoverListener(uv_loop_t* loop, std::function<std::vector<PassedSocket>()> sockets,
                   std::function<void()> handed_over);
  bool listen(const std::string& path, std::string& error);
  void close();

 private:
  static void on_connection(uv_stream_t* server, int status);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);

  uv_loop_t* loop_;
  std::function<std::vector<PassedSocket>()> sockets_;
  std::function<void()> handed_over_;
  uv_pipe_t listener_;
  uv_pipe_t* peer_ = nullptr;
  std::string received_;
  std::string path_;
  bool listening_ = false;
};

}  // namespace sg::gateway
