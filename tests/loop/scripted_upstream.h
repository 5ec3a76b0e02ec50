// A scripted upstream for the loop tests: a listener on 127.0.0.1:0 served by
// its own thread; every accepted connection runs the test's script on a thread
// of its own (so one stalled connection never blocks the next accept). All
// waits inside a script are bounded and end early when the upstream is
// destroyed; the destructor joins every thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wire.h"

namespace loop_test {

class ScriptedUpstream {
 public:
  // conn: the accepted connection; index: 0 for the first connection accepted.
  using Script = std::function<void(Wire& conn, int index)>;

  explicit ScriptedUpstream(Script script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 64);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~ScriptedUpstream() {
    stop_ = true;
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(connection_threads_);
    }
    for (auto& t : threads) t.join();
    ::close(listen_fd_);
  }

  ScriptedUpstream(const ScriptedUpstream&) = delete;
  ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }
  // Scripts that finished (returned), for tests that wait on the upstream side.
  int finished() const { return finished_.load(); }
  bool wait_finished(int count, int wait_ms = kDefaultWaitMs) const {
    const auto deadline = Clock::now() + milliseconds(wait_ms);
    while (finished_.load() < count) {
      if (Clock::now() > deadline) return false;
      sleep_ms(5);
    }
    return true;
  }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      const int index = accepted_++;
      std::lock_guard lock(mutex_);
      connection_threads_.emplace_back([this, fd, index] {
        Wire conn(fd, &stop_);
        script_(conn, index);
        ++finished_;
      });
    }
  }

  Script script_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> finished_{0};
  std::mutex mutex_;
  std::vector<std::thread> connection_threads_;
  std::thread accept_thread_;
};

// ---- reusable script pieces ----

// Reads one request (head and body, Content-Length or chunked); the body is
// decoded. nullopt when the connection ended first.
struct Request {
  Head head;
  std::string body;
};

inline std::optional<Request> read_request(Wire& conn, int wait_ms = kDefaultWaitMs) {
  std::optional<Head> head = conn.read_head(wait_ms);
  if (!head) return std::nullopt;
  Request request{std::move(*head), {}};
  if (request.head.chunked()) {
    std::optional<std::string> body = conn.read_chunked(wait_ms);
    if (!body) return std::nullopt;
    request.body = std::move(*body);
  } else if (auto length = request.head.content_length(); length && *length > 0) {
    std::optional<std::string> body = conn.read_exact(*length, wait_ms);
    if (!body) return std::nullopt;
    request.body = std::move(*body);
  }
  return request;
}

inline std::string ok_response(std::string_view body, std::string_view extra_headers = "") {
  std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ";
  out.append(std::to_string(body.size())).append("\r\n").append(extra_headers).append("\r\n").append(body);
  return out;
}

// Answers every request on the connection with `name + " " + target`, until
// the proxy closes it.
inline ScriptedUpstream::Script echo_target_script(std::string name) {
  return [name](Wire& conn, int) {
    while (std::optional<Request> request = read_request(conn)) {
      if (!conn.send(ok_response(name + " " + request->head.target()))) return;
    }
  };
}

}  // namespace loop_test
