// Blocking-style sockets for the loop tests, shared by the test clients and
// the scripted upstream: every wait is bounded (poll in short slices until a
// deadline, optionally cut short by a stop flag), loopback only, and HTTP/1.1
// framing just good enough to check what the proxy sends.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace loop_test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kDefaultWaitMs = 5000;

inline std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

inline void sleep_ms(int ms) { std::this_thread::sleep_for(milliseconds(ms)); }

// Waits until `counter` stops moving for `quiet_ms` (or `max_ms` passed);
// returns its value then (how far a side got before back-pressure held it).
inline std::uint64_t wait_until_stalled(const std::atomic<std::uint64_t>& counter, int quiet_ms, int max_ms) {
  const auto deadline = Clock::now() + milliseconds(max_ms);
  std::uint64_t last = counter.load();
  auto last_change = Clock::now();
  while (Clock::now() < deadline) {
    sleep_ms(20);
    const std::uint64_t now = counter.load();
    if (now != last) {
      last = now;
      last_change = Clock::now();
    } else if (Clock::now() - last_change >= milliseconds(quiet_ms)) {
      break;
    }
  }
  return counter.load();
}

// FNV-1a: a cheap checksum both ends of a body can compute.
inline std::uint64_t fnv1a(std::string_view data, std::uint64_t hash = 1469598103934665603ull) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// Deterministic, position-dependent filler so a lost, duplicated or
// reordered block changes the checksum.
inline std::string pattern(std::size_t size, std::size_t offset = 0) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>('a' + ((offset + i) * 7 + (offset + i) / 4099) % 26);
  return out;
}

// A port on 127.0.0.1 with nothing listening (bound, read, released).
inline std::uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// An HTTP/1.1 message head as seen on the wire (either direction).
struct Head {
  std::string start_line;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  std::string raw;

  // Request line parts / status.
  std::string method() const { return start_line.substr(0, start_line.find(' ')); }
  std::string target() const {
    const auto a = start_line.find(' ');
    const auto b = start_line.find(' ', a + 1);
    return start_line.substr(a + 1, b - a - 1);
  }
  int status() const {
    const auto a = start_line.find(' ');
    return a == std::string::npos ? 0 : std::atoi(start_line.c_str() + a + 1);
  }
  std::string header(std::string_view name) const {
    const std::string want = lower(name);
    for (const auto& [n, v] : headers)
      if (n == want) return v;
    return {};
  }
  bool has(std::string_view name) const {
    const std::string want = lower(name);
    for (const auto& [n, v] : headers)
      if (n == want) return true;
    return false;
  }
  std::size_t count(std::string_view name) const {
    const std::string want = lower(name);
    std::size_t n = 0;
    for (const auto& field : headers) n += field.first == want;
    return n;
  }
  bool chunked() const { return lower(header("transfer-encoding")).find("chunked") != std::string::npos; }
  std::optional<std::uint64_t> content_length() const {
    if (!has("content-length")) return std::nullopt;
    return std::stoull(header("content-length"));
  }
};

inline Head parse_head(std::string raw) {
  Head head;
  head.raw = raw;
  std::size_t pos = raw.find("\r\n");
  head.start_line = raw.substr(0, pos);
  pos += 2;
  while (pos < raw.size()) {
    const std::size_t end = raw.find("\r\n", pos);
    if (end == std::string::npos || end == pos) break;
    const std::string line = raw.substr(pos, end - pos);
    const std::size_t colon = line.find(':');
    std::string value = colon == std::string::npos ? std::string() : line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    head.headers.emplace_back(lower(line.substr(0, colon)), value);
    pos = end + 2;
  }
  return head;
}

// A connected socket with a read-ahead buffer. Non-blocking underneath;
// every call waits at most its deadline, and gives up early once `stop`
// (when given) is set.
class Wire {
 public:
  Wire() = default;
  explicit Wire(int fd, const std::atomic<bool>* stop = nullptr) : fd_(fd), stop_(stop) {
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  Wire(Wire&& other) noexcept { *this = std::move(other); }
  Wire& operator=(Wire&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = std::exchange(other.fd_, -1);
      stop_ = other.stop_;
      pending_ = std::move(other.pending_);
      eof_ = other.eof_;
      reset_ = other.reset_;
    }
    return *this;
  }
  ~Wire() { close(); }

  // A client connection to 127.0.0.1:port. `rcvbuf` > 0 shrinks the receive
  // buffer before connecting (so the window is small from the handshake on).
  static Wire connect(std::uint16_t port, int rcvbuf = 0) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      return Wire();
    }
    return Wire(fd);
  }

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  bool eof() const { return eof_; }
  bool was_reset() const { return reset_; }
  std::string& pending() { return pending_; }

  void set_sndbuf(int bytes) { ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes); }

  // Sends everything; false on error, stop or deadline.
  bool send(std::string_view data, int wait_ms = kDefaultWaitMs) {
    const auto deadline = Clock::now() + milliseconds(wait_ms);
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      if (!wait(POLLOUT, deadline)) return false;
    }
    return true;
  }

  // Reads what is available (at least one byte) into pending(); false on
  // EOF, reset, stop or deadline.
  bool fill(Clock::time_point deadline) {
    if (fd_ < 0 || eof_) return false;
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        pending_.append(buf, static_cast<std::size_t>(n));
        return true;
      }
      if (n == 0) {
        eof_ = true;
        return false;
      }
      if (errno == ECONNRESET) {
        eof_ = reset_ = true;
        return false;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
      if (!wait(POLLIN, deadline)) return false;
    }
  }
  bool fill(int wait_ms = kDefaultWaitMs) { return fill(Clock::now() + milliseconds(wait_ms)); }

  // Consumes up to n bytes that are already pending or arrive before the deadline.
  std::string read_some(std::size_t max, int wait_ms = kDefaultWaitMs) {
    if (pending_.empty()) fill(wait_ms);
    std::string out = pending_.substr(0, max);
    pending_.erase(0, out.size());
    return out;
  }

  std::optional<std::string> read_exact(std::size_t n, int wait_ms = kDefaultWaitMs) {
    const auto deadline = Clock::now() + milliseconds(wait_ms);
    while (pending_.size() < n)
      if (!fill(deadline)) return std::nullopt;
    std::string out = pending_.substr(0, n);
    pending_.erase(0, n);
    return out;
  }

  std::optional<std::string> read_line(Clock::time_point deadline) {
    for (;;) {
      const std::size_t end = pending_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = pending_.substr(0, end);
        pending_.erase(0, end + 2);
        return line;
      }
      if (!fill(deadline)) return std::nullopt;
    }
  }

  // A message head through its blank line; nullopt on EOF before it, or timeout.
  std::optional<Head> read_head(int wait_ms = kDefaultWaitMs) {
    const auto deadline = Clock::now() + milliseconds(wait_ms);
    for (;;) {
      const std::size_t end = pending_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string raw = pending_.substr(0, end + 4);
        pending_.erase(0, end + 4);
        return parse_head(std::move(raw));
      }
      if (!fill(deadline)) return std::nullopt;
    }
  }

  // A chunked body, decoded (extensions ignored, trailers skipped).
  std::optional<std::string> read_chunked(int wait_ms = kDefaultWaitMs, std::size_t* chunk_count = nullptr) {
    const auto deadline = Clock::now() + milliseconds(wait_ms);
    std::string body;
    for (;;) {
      std::optional<std::string> size_line = read_line(deadline);
      if (!size_line) return std::nullopt;
      const std::size_t size = std::stoull(size_line->substr(0, size_line->find(';')), nullptr, 16);
      if (size == 0) {
        for (;;) {  // trailers up to the blank line
          std::optional<std::string> trailer = read_line(deadline);
          if (!trailer) return std::nullopt;
          if (trailer->empty()) return body;
        }
      }
      if (chunk_count) ++*chunk_count;
      while (pending_.size() < size + 2)
        if (!fill(deadline)) return std::nullopt;
      if (pending_.compare(size, 2, "\r\n") != 0) return std::nullopt;
      body.append(pending_, 0, size);
      pending_.erase(0, size + 2);
    }
  }

  // Everything until the peer closes (or the deadline).
  std::string read_to_eof(int wait_ms = kDefaultWaitMs) {
    const auto deadline = Clock::now() + milliseconds(wait_ms);
    while (fill(deadline)) {
    }
    return std::exchange(pending_, {});
  }

  // True when the peer closed (FIN or RST) before the deadline; bytes that
  // arrive meanwhile are discarded.
  bool wait_closed(int wait_ms = kDefaultWaitMs) {
    const auto deadline = Clock::now() + milliseconds(wait_ms);
    while (!eof_) {
      pending_.clear();
      if (!fill(deadline) && !eof_) return false;
    }
    return true;
  }

  // Waits until the peer closes, the stop flag, or the deadline: a stall.
  void stall(int wait_ms = kDefaultWaitMs) {
    const auto deadline = Clock::now() + milliseconds(wait_ms);
    while (Clock::now() < deadline && !stopped() && fd_ >= 0) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0 && (p.revents & (POLLHUP | POLLERR))) return;
    }
  }

  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // RST instead of FIN: SO_LINGER {on, 0} then close.
  void reset() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool stopped() const { return stop_ && stop_->load(); }

  bool wait(short events, Clock::time_point deadline) {
    for (;;) {
      if (stopped()) return false;
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, events, 0};
      const int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 20)));
      if (rc > 0) return true;
      if (rc < 0 && errno != EINTR) return false;
    }
  }

  int fd_ = -1;
  const std::atomic<bool>* stop_ = nullptr;
  std::string pending_;
  bool eof_ = false;
  bool reset_ = false;
};

// A response read by a client: head plus the body decoded from its framing.
struct Response {
  Head head;
  std::string body;
  int status() const { return head.status(); }
  std::string header(std::string_view name) const { return head.header(name); }
};

// Reads one response; nullopt if the connection ended or timed out first.
// `head_request`: a response to HEAD has no body whatever it says.
inline std::optional<Response> read_response(Wire& wire, bool head_request = false, int wait_ms = kDefaultWaitMs) {
  for (;;) {
    std::optional<Head> head = wire.read_head(wait_ms);
    if (!head) return std::nullopt;
    Response response{std::move(*head), {}};
    const int status = response.status();
    if (status >= 100 && status < 200 && status != 101) continue;  // interim
    if (head_request || status == 101 || status == 204 || status == 304) return response;
    if (response.head.chunked()) {
      std::optional<std::string> body = wire.read_chunked(wait_ms);
      if (!body) return std::nullopt;
      response.body = std::move(*body);
    } else if (auto length = response.head.content_length()) {
      std::optional<std::string> body = wire.read_exact(*length, wait_ms);
      if (!body) return std::nullopt;
      response.body = std::move(*body);
    } else {
      response.body = wire.read_to_eof(wait_ms);
    }
    return response;
  }
}

inline std::string get_request(std::string_view target, std::string_view extra_headers = "") {
  std::string out = "GET ";
  out.append(target).append(" HTTP/1.1\r\nHost: shop.test\r\n").append(extra_headers).append("\r\n");
  return out;
}

}  // namespace loop_test
