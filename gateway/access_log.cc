#include "gateway/access_log.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

namespace sg::gateway {
namespace {

constexpr std::size_t kFlushAt = 16 * 1024;

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string_view or_dash(std::string_view v) { return v.empty() ? std::string_view("-") : v; }

}  // namespace

bool AccessLogSink::open(const conf::AccessLogConfig& config, std::string& error) {
  format_ = config.format;
  path_ = config.path;
  if (path_ == "off") return true;
  if (path_ == "stdout" || path_.empty()) {
    fd_ = STDOUT_FILENO;
    return true;
  }
  if (path_ == "stderr") {
    fd_ = STDERR_FILENO;
    return true;
  }
  return reopen(error);
}

bool AccessLogSink::reopen(std::string& error) {
  if (path_ == "off" || path_ == "stdout" || path_ == "stderr" || path_.empty()) return true;
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = "cannot open access log " + path_ + ": " + std::strerror(errno);
    return false;
  }
  std::lock_guard lock(mutex_);
  if (owns_fd_) ::close(fd_);
  fd_ = fd;
  owns_fd_ = true;
  return true;
}

AccessLogSink::~AccessLogSink() {
  if (owns_fd_) ::close(fd_);
}

void AccessLogSink::write_lines(std::string_view lines) {
  std::lock_guard lock(mutex_);
  // Pipes keep writes of at most PIPE_BUF bytes whole: cut at line ends.
  while (!lines.empty()) {
    std::size_t n = lines.size();
    if (n > PIPE_BUF) {
      const std::size_t cut = lines.rfind('\n', PIPE_BUF - 1);
      n = cut == std::string_view::npos ? PIPE_BUF : cut + 1;
    }
    const ssize_t w = ::write(fd_, lines.data(), n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // a broken log must not break proxying
    }
    lines.remove_prefix(static_cast<std::size_t>(w));
  }
}

void AccessLog::record(const AccessLogEntry& e) {
  if (!enabled()) return;
  if (sink_->format() == conf::LogFormat::json) {
    nlohmann::json j = {
        {"time", utc_timestamp()},      {"peer", e.peer},
        {"method", e.method},           {"path", e.target.substr(0, e.target.find('?'))},
        {"target", e.target},
        {"app", e.app},                 {"client_build", e.client_build},
        {"build", e.build},             {"upstream", e.upstream},
        {"kind", e.kind},               {"outcome", e.outcome},
        {"detail", e.detail},
        {"status", e.status},           {"bytes_received", e.bytes_received},
        {"bytes_sent", e.bytes_sent},   {"duration_ms", e.duration_ms},
    };
    if (e.upstream_ms >= 0) j["upstream_ms"] = e.upstream_ms;
    if (!e.pin.empty()) j["pin"] = e.pin;
    buffer_ += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    buffer_ += '\n';
  } else {
    char numbers[128];
    std::snprintf(numbers, sizeof numbers, " %d %llu %llu %.3f", e.status,
                  static_cast<unsigned long long>(e.bytes_received), static_cast<unsigned long long>(e.bytes_sent),
                  e.duration_ms);
    buffer_ += utc_timestamp();
    buffer_ += ' ';
    buffer_ += or_dash(e.peer);
    buffer_ += " \"";
    buffer_ += e.method;
    buffer_ += ' ';
    buffer_ += e.target;
    buffer_ += '"';
    buffer_ += numbers;
    buffer_ += " app=";
    buffer_ += or_dash(e.app);
    buffer_ += " client_build=";
    buffer_ += or_dash(e.client_build);
    buffer_ += " build=";
    buffer_ += or_dash(e.build);
    buffer_ += " kind=";
    buffer_ += or_dash(e.kind);
    buffer_ += " outcome=";
    buffer_ += or_dash(e.outcome);
    buffer_ += " detail=";
    buffer_ += or_dash(e.detail);
    if (!e.pin.empty()) {
      buffer_ += " pin=";
      buffer_ += e.pin;
    }
    buffer_ += " upstream=";
    buffer_ += or_dash(e.upstream);
    buffer_ += '\n';
  }
  if (buffer_.size() >= kFlushAt) flush();
}

void AccessLog::flush() {
  if (buffer_.empty() || !enabled()) return;
  sink_->write_lines(buffer_);
  buffer_.clear();
}

}  // namespace sg::gateway
