// react-server function ids of one build: a walk of `<outDir>/client/` that
// reads every `.mjs` / `.js` file with conf/function_ids.h. Called only off
// the data path (config load, the control plane on the main loop), never on
// a worker.
//
// The outDir is a path an operator or a deploy script names (config or admin
// API), and the tree under it is written by a build tool: the walk must not
// be steered into reading anything else, block, or run without end. So
// nothing under the outDir is followed through a symlink (fstatat with
// AT_SYMLINK_NOFOLLOW, openat with O_NOFOLLOW), only regular files are
// opened (a FIFO, device or socket named *.js is counted and skipped, never
// opened), and depth, file count, file size and total size are capped. The
// outDir path itself may be a symlink (deploy tools point `current` at a
// release dir); `client` under it may not.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "conf/config.h"
#include "conf/read_file.h"

namespace sg::conf {

// actions.functions_max_bytes by default: the sum of the chunk files' sizes.
constexpr std::uint64_t kDefaultFunctionsMaxBytes = 256 * 1024 * 1024;
constexpr std::uint64_t kMaxFunctionFiles = 50'000;
constexpr int kMaxFunctionDirDepth = 32;  // `client` itself is depth 0

struct FunctionLimits {
  std::uint64_t file_max_bytes = 16 * 1024 * 1024;  // actions.manifest_max_bytes
  std::uint64_t total_max_bytes = kDefaultFunctionsMaxBytes;
  std::uint64_t max_files = kMaxFunctionFiles;
  int max_depth = kMaxFunctionDirDepth;
  bool operator==(const FunctionLimits&) const = default;
};

// The limits an app's `actions` set (one definition for the loader and the
// control plane): each chunk at most manifest_max_bytes, all of them at most
// functions_max_bytes.
inline FunctionLimits function_limits(const ActionsConfig& actions) {
  return FunctionLimits{.file_max_bytes = actions.manifest_max_bytes, .total_max_bytes = actions.functions_max_bytes};
}

struct FunctionsRead {
  std::vector<std::string> ids;  // sorted, unique; may be empty (a build without server functions)
  std::string error;             // empty on success; never quotes file content
  std::uint64_t files = 0;       // chunk files read or reused
  std::uint64_t bytes = 0;       // their total size
  std::uint64_t skipped_entries = 0;  // symlinks, FIFOs, devices, sockets under client/
  std::uint64_t skipped_ids = 0;      // literals refused by the extractor
};

// One chunk file's part of a walk, kept by FunctionIdsCache.
struct ChunkIds {
  FileIdentity identity;
  std::vector<std::string> ids;
  std::uint64_t skipped_ids = 0;
};
using ChunkMap = std::map<std::string, ChunkIds>;  // path relative to client/

// Walks `<out_dir>/client/`. With `previous`, a file whose identity
// (device, inode, size, mtime) is unchanged is not opened again: its ids
// come from there. `chunks` (optional) receives every file's part;
// `opened` (optional) counts the files actually read.
FunctionsRead read_function_ids(const std::string& out_dir, const FunctionLimits& limits,
                                const ChunkMap* previous = nullptr, ChunkMap* chunks = nullptr,
                                std::uint64_t* opened = nullptr);

// The control plane collects the ids of every `registry: api` build on every
// registry change; this re-walks with stat()s only and reads a file again
// only when it changed. A failed walk is not cached. Not thread-safe (the
// main loop's).
class FunctionIdsCache {
 public:
  FunctionsRead read(const std::string& out_dir, const FunctionLimits& limits);
  // Forgets every dir not in `used` (builds that went away).
  void keep_only(const std::set<std::string>& used);
  // How many chunk files were actually opened and scanned (for tests).
  std::uint64_t reads() const { return reads_; }

 private:
  struct Entry {
    FunctionLimits limits;
    ChunkMap chunks;
  };
  std::map<std::string, Entry> entries_;
  std::uint64_t reads_ = 0;
};

}  // namespace sg::conf
