#include "conf/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sg::conf {

int read_whole_file(const std::string& path, std::string& text) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return errno;
  int failure = 0;
  char buffer[65536];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  if (std::ferror(file)) failure = errno != 0 ? errno : EIO;
  std::memset(buffer, 0, sizeof buffer);
  std::fclose(file);
  return failure;
}

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISREG(mode)) return nullptr;
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

void check(const struct stat& st, std::uint64_t max_bytes, RegularFile& out) {
  out.identity = {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
                  static_cast<std::uint64_t>(st.st_size),
                  static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  out.not_regular = kind_of(st.st_mode);
  out.too_large = out.not_regular == nullptr && out.identity.size > max_bytes;
}

}  // namespace

RegularFile stat_regular_file(const std::string& path, std::uint64_t max_bytes) {
  RegularFile out;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    out.error = errno;
    return out;
  }
  check(st, max_bytes, out);
  return out;
}

RegularFile read_regular_file(const std::string& path, std::uint64_t max_bytes, std::string& text) {
  RegularFile out = stat_regular_file(path, max_bytes);
  if (!out.ok()) return out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    out.error = errno;
    return out;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    out.error = errno;
    ::close(fd);
    return out;
  }
  check(st, max_bytes, out);
  if (!out.ok()) {
    ::close(fd);
    return out;
  }
  text.clear();
  text.reserve(static_cast<std::size_t>(out.identity.size));
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      out.error = errno;
      break;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > max_bytes) {  // grew since the fstat
      out.too_large = true;
      out.identity.size = text.size();
      break;
    }
  }
  std::memset(buffer, 0, sizeof buffer);
  ::close(fd);
  return out;
}

}  // namespace sg::conf
