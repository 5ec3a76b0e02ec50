// One line per request (design.md section 9), buffered per worker and
// written in whole lines so workers sharing stdout never interleave.
#pragma once

#include <uv.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "metrics/reason.h"

namespace sg::gateway {

// Where lines go: a file descriptor shared by all workers. Thread-safe.
class AccessLogSink {
 public:
  // "stdout", "stderr", "off", or a path opened for append. Returns false and
  // sets `error` when the file cannot be opened.
  bool open(const conf::AccessLogConfig& config, std::string& error);
  // SIGUSR1: reopen a file path (log rotation).
  bool reopen(std::string& error);
  void write_lines(std::string_view lines);
  bool enabled() const { return fd_ >= 0; }
  conf::LogFormat format() const { return format_; }
  ~AccessLogSink();

 private:
  std::mutex mutex_;  // taken per flush (at most every few ms per worker), never per request
  int fd_ = -1;
  bool owns_fd_ = false;
  std::string path_;
  conf::LogFormat format_ = conf::LogFormat::plain;
};

// Appends `value` as one field of the plain format, escaped as nginx's
// `escape=default` does (control bytes, '"', '\\', DEL and bytes >= 0x80 become
// \xHH, upper-case hex) and also space, so one request is one line whose
// fields split on spaces: nothing a client sends can forge a line or a field.
// The JSON format needs none of this: it is dumped with invalid UTF-8
// replaced (U+FFFD), never thrown on.
void append_log_escaped(std::string& out, std::string_view value);

struct AccessLogEntry {
  std::string_view peer;
  std::string_view method;
  std::string_view target;
  std::string_view app;
  std::string_view client_build;
  std::string_view build;        // served by
  std::string_view upstream;     // address
  std::string_view kind;         // request kind: action, rsc, asset, document, other, upgrade
  std::string_view framework;    // whose request shape: next, react-server; empty for neither (issue 15)
  std::string_view outcome;      // served, rerouted, answered, error
  std::string_view pin;          // the pin cookie's result (valid, tampered, ...); empty when none
  // Why the request was answered, rerouted or failed, printed as its code;
  // none prints as an empty field, as a plainly served request always has.
  metrics::Reason detail = metrics::Reason::none;
  // Builds whose answer was discarded before the one that went out (an
  // action replayed, an asset fallback), in the order tried; empty when none.
  std::vector<std::string_view> tried;
  int status = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  double duration_ms = 0;
  double upstream_ms = -1;       // time to the upstream's response head; -1 when none
};

// "2026-12-05T23:45:41.123Z", the time a line starts with. The date's digits
// change once a second, so they are kept and only the milliseconds are written
// per line: snprintf'ing the whole stamp cost about 4,000 instructions per
// logged request (callgrind), a third of the line's cost. One per worker.
class LogTimestamp {
 public:
  void append(std::string& out);
  std::string text();

 private:
  std::int64_t second_ = -1;  // unix seconds prefix_ was written for
  char prefix_[64] = {};      // "2026-12-05T23:45:41."
};

class AccessLog {
 public:
  explicit AccessLog(AccessLogSink* sink) : sink_(sink) {}
  bool enabled() const { return sink_ && sink_->enabled(); }
  void record(const AccessLogEntry& entry);
  void flush();  // called by the worker's timer and at exit

 private:
  AccessLogSink* sink_;
  std::string buffer_;
  LogTimestamp timestamps_;
};

}  // namespace sg::gateway
