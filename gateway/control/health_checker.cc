#include "gateway/control/health_checker.h"

#include <cstring>

#include "gateway/net/listener_socket.h"
#include "gateway/net/stream_io.h"

namespace sg::gateway {

// One upstream's check loop: wait `interval`, connect, send the GET, read the
// status line, close; the same timer bounds each attempt by `timeout`.
class HealthProbe {
 public:
  HealthProbe(uv_loop_t* loop, HealthChecker& owner, std::string build_key, conf::SocketAddress address,
              conf::HealthConfig config, std::string host)
      : owner_(owner), build_key_(std::move(build_key)), address_(std::move(address)), config_(std::move(config)) {
    request_ = "GET " + config_.path + " HTTP/1.1\r\nHost: " + host +
               "\r\nUser-Agent: skewgate-health\r\nConnection: close\r\n\r\n";
    loop_ = loop;
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    schedule(config_.interval.count());
  }

  const std::string& build_key() const { return build_key_; }
  bool healthy() const { return healthy_; }
  bool passed_once() const { return passed_once_; }

  void stop() {
    stopping_ = true;
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
    ++closing_handles_;
    close_socket();
  }

 private:
  void schedule(std::uint64_t ms) {
    phase_ = Phase::waiting;
    uv_timer_start(&timer_, on_timer, ms, 0);
  }

  static void on_timer(uv_timer_t* t) {
    auto* p = static_cast<HealthProbe*>(t->data);
    if (p->phase_ == Phase::waiting) {
      p->start_check();
    } else {
      p->finish(false);  // the attempt timed out
    }
  }

  void start_check() {
    phase_ = Phase::checking;
    response_.clear();
    uv_timer_start(&timer_, on_timer, config_.timeout.count(), 0);
    int rc;
    connect_.data = this;
    if (address_.family == conf::SocketAddress::Family::unix_path) {
      uv_pipe_init(loop_, &socket_.pipe, 0);
      socket_.handle.data = this;
      socket_open_ = true;
      uv_pipe_connect(&connect_, &socket_.pipe, address_.path.c_str(), on_connect);
      rc = 0;
    } else {
      uv_tcp_init(loop_, &socket_.tcp);
      socket_.handle.data = this;
      socket_open_ = true;
      sockaddr_storage storage{};
      rc = to_sockaddr(address_, storage)
               ? uv_tcp_connect(&connect_, &socket_.tcp, reinterpret_cast<sockaddr*>(&storage), on_connect)
               : UV_EINVAL;
    }
    if (rc < 0) finish(false);
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto* p = static_cast<HealthProbe*>(req->data);
    if (p->stopping_ || p->phase_ != Phase::checking) return;
    if (status < 0) {
      p->finish(false);
      return;
    }
    if (write_stream(&p->socket_.stream, p->request_, nullptr) < 0) {
      p->finish(false);
      return;
    }
    uv_read_start(&p->socket_.stream, alloc_worker_buffer_or_own, on_read);
  }

  // The main loop has no Worker: reads use a small buffer of the probe's own.
  static void alloc_worker_buffer_or_own(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* p = static_cast<HealthProbe*>(h->data);
    *buf = uv_buf_init(p->read_buffer_, sizeof p->read_buffer_);
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* p = static_cast<HealthProbe*>(s->data);
    if (p->stopping_ || p->phase_ != Phase::checking) return;
    if (nread < 0) {
      p->finish(p->status_ok());
      return;
    }
    p->response_.append(buf->base, static_cast<std::size_t>(nread));
    if (p->response_.find("\r\n") != std::string::npos || p->response_.size() > 64) p->finish(p->status_ok());
  }

  // "HTTP/1.1 2xx" or 3xx passes.
  bool status_ok() const {
    if (response_.size() < 12 || response_.compare(0, 5, "HTTP/") != 0) return false;
    const std::size_t sp = response_.find(' ');
    if (sp == std::string::npos || sp + 1 >= response_.size()) return false;
    const char c = response_[sp + 1];
    return c == '2' || c == '3';
  }

  void finish(bool passed) {
    close_socket();
    const bool was = healthy_;
    if (passed) {
      passed_once_ = true;
      fails_ = 0;
      if (!healthy_ && ++passes_ >= config_.rise) healthy_ = true;
    } else {
      passes_ = 0;
      if (healthy_ && ++fails_ >= config_.fall) healthy_ = false;
    }
    if (!stopping_) schedule(config_.interval.count());
    if (was != healthy_) owner_.probe_changed(build_key_);
  }

  void close_socket() {
    if (!socket_open_) return;
    socket_open_ = false;
    ++closing_handles_;
    uv_close(&socket_.handle, on_closed);
  }

  static void on_closed(uv_handle_t* h) {
    auto* p = static_cast<HealthProbe*>(h->data);
    if (--p->closing_handles_ == 0 && p->stopping_) delete p;
  }

  enum class Phase { waiting, checking };

  HealthChecker& owner_;
  uv_loop_t* loop_;
  std::string build_key_;
  conf::SocketAddress address_;
  conf::HealthConfig config_;
  std::string request_;
  std::string response_;
  uv_timer_t timer_;
  StreamHandle socket_;
  uv_connect_t connect_;
  char read_buffer_[256];
  Phase phase_ = Phase::waiting;
  std::uint64_t passes_ = 0;
  std::uint64_t fails_ = 0;
  int closing_handles_ = 0;
  bool socket_open_ = false;
  bool stopping_ = false;
  bool healthy_ = true;  // as HAProxy and nginx: up until checks say otherwise
  bool passed_once_ = false;
};

HealthChecker::HealthChecker(uv_loop_t* loop, OnChange on_change) : loop_(loop), on_change_(std::move(on_change)) {}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::update(const routing::Snapshot& snapshot) {
  std::map<std::string, HealthProbe*> next;
  for (const routing::App& app : snapshot.apps()) {
    const conf::HealthConfig& health = app.config->health;
    if (health.path.empty()) continue;
    const std::string host = app.config->hosts.empty() || app.config->hosts[0].rfind("*.", 0) == 0
                                 ? std::string("localhost")
                                 : app.config->hosts[0];
    for (const routing::Build& build : app.builds) {
      if (build.state == conf::BuildState::retired) continue;
      const std::string build_key = routing::runtime_key(app.name, build.id);
      for (const auto& upstream : build.upstreams) {
        const std::string key = build_key + "\n" + upstream.to_string() + "\n" + health.path + "\n" +
                                std::to_string(health.interval.count()) + "/" +
                                std::to_string(health.timeout.count()) + "/" + std::to_string(health.rise) + "/" +
                                std::to_string(health.fall) + "\n" + host;
        auto it = probes_.find(key);
        if (it != probes_.end()) {
          next[key] = it->second;
          probes_.erase(it);
        } else {
          next[key] = new HealthProbe(loop_, *this, build_key, upstream, health, host);
        }
      }
    }
  }
  for (auto& [key, probe] : probes_) probe->stop();
  probes_ = std::move(next);
  // Builds that lost their checks count as healthy again.
  for (auto it = build_health_.begin(); it != build_health_.end();) {
    if (!has_checks(it->first)) {
      if (!it->second) on_change_(it->first, true);
      it = build_health_.erase(it);
    } else {
      ++it;
    }
  }
}

void HealthChecker::stop() {
  for (auto& [key, probe] : probes_) probe->stop();
  probes_.clear();
}

bool HealthChecker::has_checks(const std::string& build_key) const {
  for (const auto& [key, probe] : probes_)
    if (probe->build_key() == build_key) return true;
  return false;
}

bool HealthChecker::has_passed(const std::string& build_key) const {
  for (const auto& [key, probe] : probes_)
    if (probe->build_key() == build_key && probe->passed_once()) return true;
  return false;
}

void HealthChecker::probe_changed(const std::string& build_key) {
  bool any_healthy = false;
  for (const auto& [key, probe] : probes_)
    if (probe->build_key() == build_key && probe->healthy()) any_healthy = true;
  auto [it, inserted] = build_health_.emplace(build_key, true);
  if (it->second == any_healthy) return;
  it->second = any_healthy;
  on_change_(build_key, any_healthy);
}

}  // namespace sg::gateway
