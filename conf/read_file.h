// Whole-file reads for config and manifests. Pure enough for conf/: no loop,
// no sockets; called only off the data path.
#pragma once

#include <cstdint>
#include <string>

namespace sg::conf {

// Reads `path` into `text`. Returns 0, or the errno that stopped it. The
// stack buffer is wiped afterwards: manifests carry an encryption key.
int read_whole_file(const std::string& path, std::string& text);

// What decides whether a file must be read again: the file (device, inode)
// and its (size, mtime), as rsync's quick check. Same identity: same bytes,
// short of someone rewriting a file in place and putting its mtime back.
struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

// The outcome of looking at or reading a file that must be a regular file of
// at most `max_bytes`.
struct RegularFile {
  int error = 0;                    // errno of stat/open/read, 0 if none
  const char* not_regular = nullptr;  // "a FIFO", "a directory", ...: what it is instead
  bool too_large = false;           // over max_bytes (identity.size says how large)
  FileIdentity identity;
  bool ok() const { return error == 0 && not_regular == nullptr && !too_large; }
};

// stat() (following symlinks) and the checks, without opening the file:
// opening a FIFO waits for a writer, opening a device may do anything.
RegularFile stat_regular_file(const std::string& path, std::uint64_t max_bytes);

// Opens with O_NONBLOCK (a FIFO swapped in after the stat opens at once
// instead of waiting), checks the open file again with fstat, then reads at
// most max_bytes + 1 bytes (a file that grows meanwhile is refused, never
// read without end). `text` is only filled when the result is ok().
RegularFile read_regular_file(const std::string& path, std::uint64_t max_bytes, std::string& text);

}  // namespace sg::conf
