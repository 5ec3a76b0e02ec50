// Next.js server-reference-manifest.json: only the action IDs are read.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "conf/read_file.h"

namespace sg::conf {

// actions.manifest_max_bytes by default.
constexpr std::uint64_t kDefaultManifestMaxBytes = 16 * 1024 * 1024;

struct ManifestRead {
  std::vector<std::string> action_ids;  // keys of `node` and `edge`, sorted, unique
  std::string error;                    // empty on success; never quotes file content
};

// Reads `path`, which must be a regular file (a FIFO, a directory or a
// device is refused before it is opened: see read_regular_file) of at most
// `max_bytes`. The file also holds the build's `encryptionKey`: it is parsed
// and dropped here, never copied anywhere.
ManifestRead read_action_manifest(const std::string& path, std::uint64_t max_bytes = kDefaultManifestMaxBytes);

// The control plane reads the manifests of every `registry: api` build on
// every registry change; this reads a file again only when its identity
// (device, inode, size, mtime) or the cap changed, and otherwise only
// stat()s it. Errors are kept like results: a bad file is not parsed again
// either. Not thread-safe (the main loop's).
class ManifestCache {
 public:
  ManifestRead read(const std::string& path, std::uint64_t max_bytes);
  // Forgets every path not in `used` (builds that went away).
  void keep_only(const std::set<std::string>& used);
  // How many times a file was actually opened and parsed (for tests).
  std::uint64_t reads() const { return reads_; }

 private:
  struct Entry {
    FileIdentity identity;
    std::uint64_t max_bytes = 0;
    ManifestRead result;
  };
  std::map<std::string, Entry> entries_;
  std::uint64_t reads_ = 0;
};

}  // namespace sg::conf
