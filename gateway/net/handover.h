// Zero-drop restart of the binary (design.md section 9, issue 9): a new
// process takes the listening sockets over from the running one through a
// Unix socket in state_dir, with SCM_RIGHTS, as HAProxy's `expose-fd
// listeners` and Envoy's hot restart do. The sockets themselves are shared,
// so connections waiting in their accept queues are never lost (closing a
// plain SO_REUSEPORT socket would drop its queue).
//
//   new          reads the configuration file only (to find state_dir)
//   new -> old   "TAKEOVER\n"
//   old          from now on refuses admin changes (503, Retry-After: 1),
//                writes its state to state_dir one last time
//   old -> new   one message: a JSON list of sockets, each entry with
//                "state":"flushed", and their fds (SCM_RIGHTS): state_dir is
//                final, the old process will not write it again unless the
//                hand-over fails
//   new          reads state_dir, starts its workers and admin listener on
//                those fds
//   new -> old   "READY\n"
//   old          stops accepting, drains, exits
//
// So no change the old process acknowledged can be missing from what the new
// one reads (issue 13). If the new process goes away before READY (it died,
// its state or config was refused) the connection closes and the old process
// takes changes again: the new one writes state_dir only once it runs.
// A process of an earlier version sends entries without "state": taken over
// all the same, with a warning; and one of an earlier version taking over
// from this one ignores the key (a rollback still hands over).
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
  bool state_flushed = false;  // the predecessor promised not to write state_dir
};

// nullopt (and `error` empty) when no process answers at `path`: a plain
// start. nullopt with `error` set when one answered but the exchange failed.
std::optional<Takeover> request_takeover(const std::string& path, std::string& error);
// Tells the old process to stop accepting; closes fds we did not use.
void confirm_takeover(Takeover& takeover);

// --- the running process (on the main loop) ---

class HandoverListener {
 public:
  // `sockets` is called when a successor asks (it must flush the state and
  // stop writing it); `handed_over` when the successor is ready; `aborted`
  // when it went away after `sockets` and before it was ready.
  HandoverListener(uv_loop_t* loop, std::function<std::vector<PassedSocket>()> sockets,
                   std::function<void()> handed_over, std::function<void()> aborted);
  bool listen(const std::string& path, std::string& error);
  void close();

 private:
  static void on_connection(uv_stream_t* server, int status);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void drop_peer();

  uv_loop_t* loop_;
  std::function<std::vector<PassedSocket>()> sockets_;
  std::function<void()> handed_over_;
  std::function<void()> aborted_;
  uv_pipe_t listener_;
  uv_pipe_t* peer_ = nullptr;
  std::string received_;
  std::string path_;
  bool listening_ = false;
  bool offered_ = false;  // sockets sent to peer_, READY not yet received
};

}  // namespace sg::gateway
