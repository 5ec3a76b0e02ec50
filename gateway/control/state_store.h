// What skewgate remembers across restarts, in `state_dir` (design.md section
// 7): per build, when it was superseded, when it last served a request, and
// whether retention retired it. Written atomically: temp file, fsync, rename,
// fsync of the directory, so a kill -9 at any moment leaves the old or the
// new file, never a torn one.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace sg::gateway {

struct PersistedBuild {
  std::int64_t superseded_at_ms = 0;
  std::int64_t last_request_ms = 0;
  bool retired_by_retention = false;
  bool operator==(const PersistedBuild&) const = default;
};

// Keyed by routing::runtime_key(app, build).
using PersistedState = std::map<std::string, PersistedBuild>;

// A missing file is a first start (empty state). An unreadable, truncated or
// corrupt file is an error naming the file: never a silent reset.
bool load_state(const std::string& state_dir, PersistedState& state, std::string& error);
bool save_state(const std::string& state_dir, const PersistedState& state, std::string& error);

// mkdir -p with mode 0700 (state may hold secrets: the generated pin key).
bool ensure_dir(const std::string& dir, std::string& error);

// Writes `contents` to `path` atomically (also used by the control plane).
bool write_file_atomically(const std::string& path, const std::string& contents, std::string& error);

}  // namespace sg::gateway
