#include "gateway/control/pin_secrets_fs.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>

#include "conf/read_file.h"
#include "gateway/control/state_store.h"

namespace sg::gateway {

bool RealFileSystem::exists(const std::string& path) {
  struct stat st {};
  // Anything but "no such file" counts as existing, so an unreadable key
  // file is reported (read_file fails) instead of being replaced.
  return ::stat(path.c_str(), &st) == 0 || errno != ENOENT;
}

int RealFileSystem::read_file(const std::string& path, std::string& contents) {
  return conf::read_whole_file(path, contents);
}

bool RealFileSystem::write_file_private(const std::string& path, const std::string& contents, std::string& error) {
  const std::size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0 && !ensure_dir(path.substr(0, slash), error)) return false;
  return write_file_atomically(path, contents, error);
}

skew::SecretChoice choose_pin_secrets_for_process(const conf::PinsConfig& pins, const std::string& state_dir) {
  RealFileSystem fs;
  auto getenv = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  return skew::choose_pin_secrets(pins, state_dir, getenv, fs);
}

}  // namespace sg::gateway
