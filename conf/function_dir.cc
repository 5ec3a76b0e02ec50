// <outDir>/client/**/*.{mjs,js} -> server-function ids; see function_dir.h
// for why nothing is followed or opened that is not a regular file.
#include "conf/function_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "conf/function_ids.h"

namespace sg::conf {
namespace {

FileIdentity identity_of(const struct stat& st) {
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::uint64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

bool is_chunk_name(std::string_view name) { return name.ends_with(".mjs") || name.ends_with(".js"); }

class Walk {
 public:
  Walk(const std::string& out_dir, const FunctionLimits& limits, const ChunkMap* previous, ChunkMap& chunks,
       std::uint64_t& opened, FunctionsRead& result)
      : out_dir_(out_dir), limits_(limits), previous_(previous), chunks_(chunks), opened_(opened), result_(result) {}

  // Takes ownership of `fd` (a directory). False once an error is set.
  bool dir(int fd, const std::string& rel, int depth) {
    DIR* stream = ::fdopendir(fd);
    if (stream == nullptr) {
      ::close(fd);
      return fail(where(rel) + ": " + std::strerror(errno));
    }
    bool ok = true;
    while (ok) {
      errno = 0;
      const dirent* entry = ::readdir(stream);
      if (entry == nullptr) {
        if (errno != 0) ok = fail(where(rel) + ": " + std::strerror(errno));
        break;
      }
      const std::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      ok = visit(::dirfd(stream), rel.empty() ? std::string(name) : rel + "/" + std::string(name), name, depth);
    }
    ::closedir(stream);
    return ok;
  }

  bool fail(std::string message) {
    if (result_.error.empty()) result_.error = "functions_from " + out_dir_ + ": " + std::move(message);
    return false;
  }

 private:
  std::string where(const std::string& rel) const { return rel.empty() ? "client/" : "client/" + rel; }

  bool visit(int dirfd, const std::string& rel, std::string_view name, int depth) {
    if (++entries_ > limits_.max_files)
      return fail("more than " + std::to_string(limits_.max_files) + " entries under client/");
    struct stat st {};
    const std::string name_z(name);
    if (::fstatat(dirfd, name_z.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return true;  // removed since readdir
      return fail(where(rel) + ": " + std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
      if (depth + 1 > limits_.max_depth)
        return fail(where(rel) + " is more than " + std::to_string(limits_.max_depth) + " directories deep");
      const int fd = ::openat(dirfd, name_z.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) return fail(where(rel) + ": " + std::strerror(errno));
      return dir(fd, rel, depth + 1);
    }
    if (!S_ISREG(st.st_mode)) {
      // A symlink (maybe to /etc/passwd, /dev/zero or a loop), FIFO, device
      // or socket: never followed nor opened.
      ++result_.skipped_entries;
      return true;
    }
    if (!is_chunk_name(name)) return true;
    const FileIdentity identity = identity_of(st);
    if (identity.size > limits_.file_max_bytes)
      return fail(where(rel) + " is " + std::to_string(identity.size) +
                  " bytes, larger than actions.manifest_max_bytes (" + std::to_string(limits_.file_max_bytes) +
                  " bytes)");
    result_.bytes += identity.size;
    if (result_.bytes > limits_.total_max_bytes)
      return fail("the chunks under client/ hold more than actions.functions_max_bytes (" +
                  std::to_string(limits_.total_max_bytes) + " bytes)");
    ++result_.files;
    if (previous_ != nullptr) {
      const auto it = previous_->find(rel);
      if (it != previous_->end() && it->second.identity == identity) {
        chunks_.emplace(rel, it->second);
        return true;
      }
    }
    return read_chunk(dirfd, name_z, rel, identity);
  }

  bool read_chunk(int dirfd, const std::string& name, const std::string& rel, FileIdentity identity) {
    // O_NONBLOCK: a FIFO swapped in after the fstatat opens at once (and is refused by the fstat below).
    const int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOENT) {  // became a symlink, or went away
        ++result_.skipped_entries;
        return true;
      }
      return fail(where(rel) + ": " + std::strerror(errno));
    }
    ++opened_;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      ++result_.skipped_entries;
      return true;
    }
    identity = identity_of(st);  // what is read is this file, as it is now
    std::string text;
    text.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(identity.size, limits_.file_max_bytes)));
    char buffer[65536];
    bool ok = true;
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) continue;
        ok = fail(where(rel) + ": " + std::strerror(errno));
        break;
      }
      if (n == 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
      if (text.size() > limits_.file_max_bytes) {  // grew since the stat
        ok = fail(where(rel) + " grew past actions.manifest_max_bytes (" + std::to_string(limits_.file_max_bytes) +
                  " bytes) while it was read");
        break;
      }
    }
    ::close(fd);
    if (!ok) return false;
    FunctionIdScan scan;
    scan_function_ids(text, scan);
    std::sort(scan.ids.begin(), scan.ids.end());
    scan.ids.erase(std::unique(scan.ids.begin(), scan.ids.end()), scan.ids.end());
    chunks_.emplace(rel, ChunkIds{identity, std::move(scan.ids), scan.skipped});
    return true;
  }

  const std::string& out_dir_;
  const FunctionLimits& limits_;
  const ChunkMap* previous_;
  ChunkMap& chunks_;
  std::uint64_t& opened_;
  FunctionsRead& result_;
  std::uint64_t entries_ = 0;
};

// Opens <out_dir>/client, or sets result.error.
int open_client_dir(const std::string& out_dir, Walk& walk) {
  // The outDir itself may be a symlink; O_DIRECTORY refuses anything but a
  // directory before it is opened (a FIFO is never waited on).
  const int root = ::open(out_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
  if (root < 0) {
    if (errno == ENOENT) walk.fail("no such directory");
    else if (errno == ENOTDIR) walk.fail("is not a directory");
    else walk.fail(std::strerror(errno));
    return -1;
  }
  struct stat st {};
  int client = -1;
  if (::fstatat(root, "client", &st, AT_SYMLINK_NOFOLLOW) != 0) {
    walk.fail(errno == ENOENT ? "has no client/ directory (expected a react-server outDir, e.g. .react-server)"
                              : std::string("client/: ") + std::strerror(errno));
  } else if (S_ISLNK(st.st_mode)) {
    walk.fail("client/ is a symlink (not followed)");
  } else if (!S_ISDIR(st.st_mode)) {
    walk.fail("client/ is not a directory");
  } else {
    client = ::openat(root, "client", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (client < 0) walk.fail(std::string("client/: ") + std::strerror(errno));
  }
  ::close(root);
  return client;
}

}  // namespace

FunctionsRead read_function_ids(const std::string& out_dir, const FunctionLimits& limits, const ChunkMap* previous,
                                ChunkMap* chunks, std::uint64_t* opened) {
  FunctionsRead result;
  ChunkMap local;
  ChunkMap& found = chunks != nullptr ? *chunks : local;
  found.clear();
  std::uint64_t opened_local = 0;
  Walk walk(out_dir, limits, previous, found, opened != nullptr ? *opened : opened_local, result);
  if (out_dir.empty()) {
    walk.fail("expected a directory path");
    return result;
  }
  const int client = open_client_dir(out_dir, walk);
  if (client < 0 || !walk.dir(client, "", 0)) {
    found.clear();
    result.ids.clear();
    return result;
  }
  for (const auto& [rel, chunk] : found) {
    result.ids.insert(result.ids.end(), chunk.ids.begin(), chunk.ids.end());
    result.skipped_ids += chunk.skipped_ids;
  }
  std::sort(result.ids.begin(), result.ids.end());
  result.ids.erase(std::unique(result.ids.begin(), result.ids.end()), result.ids.end());
  return result;
}

FunctionsRead FunctionIdsCache::read(const std::string& out_dir, const FunctionLimits& limits) {
  auto it = entries_.find(out_dir);
  const ChunkMap* previous = it != entries_.end() && it->second.limits == limits ? &it->second.chunks : nullptr;
  ChunkMap chunks;
  FunctionsRead result = read_function_ids(out_dir, limits, previous, &chunks, &reads_);
  if (result.error.empty())
    entries_[out_dir] = Entry{limits, std::move(chunks)};
  else
    entries_.erase(out_dir);
  return result;
}

void FunctionIdsCache::keep_only(const std::set<std::string>& used) {
  std::erase_if(entries_, [&used](const auto& entry) { return used.count(entry.first) == 0; });
}

}  // namespace sg::conf
