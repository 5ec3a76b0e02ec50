#include "gateway/proxy/access_log.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <system_error>

#include <nlohmann/json.hpp>

namespace sg::gateway {
namespace {

constexpr std::size_t kFlushAt = 16 * 1024;

template <typename Number>
void append_number(std::string& out, Number value) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, ec == std::errc() ? end : buf);
}

// %.3f, exactly as printf rounds (to_chars is specified as printf's).
void append_millis(std::string& out, double value) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, 3);
  out.append(buf, ec == std::errc() ? end : buf);
}

// A field of the plain format: "-" when empty, else escaped.
void append_field(std::string& out, std::string_view value) {
  if (value.empty())
    out += '-';
  else
    append_log_escaped(out, value);
}

void append_pair(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  append_field(out, value);
}

}  // namespace

void append_log_escaped(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const auto needs_escape = [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c >= 0x7F || c == '"' || c == '\\';
  };
  // Runs of plain bytes are appended whole: a byte at a time, escaping was
  // most of a logged request's cost (callgrind, ka50 with the log on).
  while (!value.empty()) {
    std::size_t plain = 0;
    while (plain < value.size() && !needs_escape(value[plain])) ++plain;
    out.append(value.data(), plain);
    if (plain == value.size()) return;
    const auto c = static_cast<unsigned char>(value[plain]);
    const char escaped[4] = {'\\', 'x', kHex[c >> 4], kHex[c & 0xF]};
    out.append(escaped, sizeof escaped);
    value.remove_prefix(plain + 1);
  }
}

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

void LogTimestamp::append(std::string& out) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto ms_total = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  const std::int64_t secs = ms_total / 1000;
  if (secs != second_) {
    const std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::snprintf(prefix_, sizeof prefix_, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    second_ = secs;
  }
  const int ms = static_cast<int>(ms_total % 1000);
  const char digits[4] = {static_cast<char>('0' + ms / 100), static_cast<char>('0' + ms / 10 % 10),
                          static_cast<char>('0' + ms % 10), 'Z'};
  out.append(prefix_).append(digits, sizeof digits);
}

std::string LogTimestamp::text() {
  std::string out;
  append(out);
  return out;
}

void AccessLog::record(const AccessLogEntry& e) {
  if (!enabled()) return;
  const std::string_view detail = e.detail == metrics::Reason::none ? std::string_view() : metrics::to_string(e.detail);
  if (sink_->format() == conf::LogFormat::json) {
    nlohmann::json j = {
        {"time", timestamps_.text()},      {"peer", e.peer},
        {"method", e.method},           {"path", e.target.substr(0, e.target.find('?'))},
        {"target", e.target},
        {"app", e.app},                 {"client_build", e.client_build},
        {"build", e.build},             {"upstream", e.upstream},
        {"kind", e.kind},               {"outcome", e.outcome},
        {"detail", detail},
        {"status", e.status},           {"bytes_received", e.bytes_received},
        {"bytes_sent", e.bytes_sent},   {"duration_ms", e.duration_ms},
    };
    if (e.upstream_ms >= 0) j["upstream_ms"] = e.upstream_ms;
    if (!e.framework.empty()) j["framework"] = e.framework;
    if (!e.pin.empty()) j["pin"] = e.pin;
    if (!e.tried.empty()) j["tried"] = e.tried;
    buffer_ += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    buffer_ += '\n';
  } else {
    timestamps_.append(buffer_);
    buffer_ += ' ';
    append_field(buffer_, e.peer);
    buffer_ += " \"";
    append_field(buffer_, e.method);
    buffer_ += ' ';
    append_field(buffer_, e.target);
    buffer_ += "\" ";
    append_number(buffer_, e.status);
    buffer_ += ' ';
    append_number(buffer_, e.bytes_received);
    buffer_ += ' ';
    append_number(buffer_, e.bytes_sent);
    buffer_ += ' ';
    append_millis(buffer_, e.duration_ms);
    append_pair(buffer_, " app=", e.app);
    append_pair(buffer_, " client_build=", e.client_build);
    append_pair(buffer_, " build=", e.build);
    append_pair(buffer_, " kind=", e.kind);
    if (!e.framework.empty()) append_pair(buffer_, " framework=", e.framework);
    append_pair(buffer_, " outcome=", e.outcome);
    append_pair(buffer_, " detail=", detail);
    if (!e.pin.empty()) append_pair(buffer_, " pin=", e.pin);
    if (!e.tried.empty()) {
      std::string tried;
      for (const std::string_view id : e.tried) tried.append(tried.empty() ? "" : ",").append(id);
      append_pair(buffer_, " tried=", tried);
    }
    append_pair(buffer_, " upstream=", e.upstream);
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
