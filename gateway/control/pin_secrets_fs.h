// The real file system behind skew::choose_pin_secrets, and the call the
// gateway makes at start and on reload (environment of this process).
#pragma once

#include <string>

#include "conf/config.h"
#include "skew/secrets.h"

namespace sg::gateway {

class RealFileSystem final : public skew::FileSystem {
 public:
  bool exists(const std::string& path) override;
  int read_file(const std::string& path, std::string& contents) override;
  // Creates the parent directory (0700) when missing, then writes 0600
  // atomically (gateway::write_file_atomically).
  bool write_file_private(const std::string& path, const std::string& contents, std::string& error) override;
};

// choose_pin_secrets with std::getenv and RealFileSystem. Off the data path.
skew::SecretChoice choose_pin_secrets_for_process(const conf::PinsConfig& pins, const std::string& state_dir);

}  // namespace sg::gateway
