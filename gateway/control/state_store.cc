#include "gateway/control/state_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace sg::gateway {
namespace {

constexpr int kStateVersion = 1;
constexpr const char* kStateFile = "/state.json";

std::string sys_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

bool ensure_dir(const std::string& dir, std::string& error) {
  std::string partial;
  std::stringstream parts(dir);
  std::string part;
  if (!dir.empty() && dir[0] == '/') partial = "/";
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    partial += part + "/";
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      error = sys_error("cannot create state_dir", partial);
      return false;
    }
  }
  return true;
}

namespace {

bool fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

bool write_file_atomically(const std::string& path, const std::string& contents, std::string& error) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = sys_error("cannot write", tmp);
    return false;
  }
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = sys_error("cannot write", tmp);
      ::close(fd);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    error = sys_error("cannot fsync", tmp);
    ::close(fd);
    return false;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = sys_error("cannot rename onto", path);
    return false;
  }
  const std::string dir = path.substr(0, path.find_last_of('/') + 1);
  if (!fsync_path(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY)) {
    error = sys_error("cannot fsync directory", dir);
    return false;
  }
  return true;
}

bool load_state(const std::string& state_dir, PersistedState& state, std::string& error) {
  state.clear();
  const std::string path = state_dir + kStateFile;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return true;  // first start
    error = sys_error("cannot read state file", path);
    return false;
  }
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("version") || !doc.contains("builds") ||
      !doc["builds"].is_object()) {
    error = "state file " + path +
            " is corrupt or truncated (not the JSON skewgate writes); fix or remove it deliberately";
    return false;
  }
  if (doc["version"] != kStateVersion) {
    error = "state file " + path + " has an unknown version";
    return false;
  }
  for (const auto& [key, value] : doc["builds"].items()) {
    if (!value.is_object()) {
      error = "state file " + path + " is corrupt: entry '" + key + "' is not an object";
      return false;
    }
    PersistedBuild b;
    b.superseded_at_ms = value.value("superseded_at_ms", std::int64_t{0});
    b.last_request_ms = value.value("last_request_ms", std::int64_t{0});
    b.retired_by_retention = value.value("retired_by_retention", false);
    state[key] = b;
  }
  return true;
}

bool save_state(const std::string& state_dir, const PersistedState& state, std::string& error) {
  if (!ensure_dir(state_dir, error)) return false;
  nlohmann::json builds = nlohmann::json::object();
  for (const auto& [key, b] : state) {
    builds[key] = {{"superseded_at_ms", b.superseded_at_ms},
                   {"last_request_ms", b.last_request_ms},
                   {"retired_by_retention", b.retired_by_retention}};
  }
  const nlohmann::json doc = {{"version", kStateVersion}, {"builds", builds}};
  return write_file_atomically(state_dir + kStateFile, doc.dump(1) + "\n", error);
}

}  // namespace sg::gateway
