#include "conf/read_file.h"

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

}  // namespace sg::conf
