// Which secrets seal and verify pins (design.md section 6). Pure: the
// environment and the file system come in through the arguments, so the
// priority table is tested with fakes; gateway/pin_secrets_fs.cc does the I/O.
//
// A secret never appears in an error, a warning or a source string: messages
// name where a secret came from (variable, config key, path), never its value.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"

namespace sg::skew {

// The file operations choose_pin_secrets needs.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual bool exists(const std::string& path) = 0;
  // 0, or the errno that stopped the read.
  virtual int read_file(const std::string& path, std::string& contents) = 0;
  // Temp file, fsync, rename, fsync of the directory; mode 0600. On failure
  // `error` says why (it must not contain `contents`).
  virtual bool write_file_private(const std::string& path, const std::string& contents, std::string& error) = 0;
};

struct SecretChoice {
  std::vector<std::string> secrets;  // [0] signs; the rest only verify. Empty when `error` is set
  std::string source;   // "env SKEWGATE_SECRET", "env SKEWGATE_SECRET_FILE", "pins.secret",
                        // "pins.secret_file", "state_dir", "ephemeral"
  bool ephemeral = false;  // a key for this process only: pins do not survive a restart
  bool generated = false;  // source is state_dir and the key was generated now
  std::string warning;  // for the log, when ephemeral
  std::string error;    // config errors, one per line; all of them at once
};

// At least this many bytes (after a file's trailing whitespace is removed).
inline constexpr std::size_t kMinSecretBytes = 32;
// The key kept in state_dir.
inline constexpr const char* kPinSecretFile = "pin-secret";

// The first that is set wins: env SKEWGATE_SECRET; env SKEWGATE_SECRET_FILE
// (a path); pins.secret; pins.secret_file; `<state_dir>/pin-secret`, read
// when it exists, else 32 random bytes base64url generated into it (0600);
// else (no state_dir, or it cannot be written) an ephemeral key with a
// warning. An empty variable counts as unset. A source that is set but
// unusable (unreadable file, too short, control characters) is an error, not
// a reason to look on: falling through would silently change the key and log
// everyone out. pins.previous_secrets follow the signing secret (verify only);
// each must be valid too. A secret is text: at least 32 bytes, no control
// characters; a file's trailing whitespace (its newline) is not part of it.
SecretChoice choose_pin_secrets(const conf::PinsConfig& pins, const std::string& state_dir,
                                const std::function<std::optional<std::string>(const char*)>& getenv,
                                FileSystem& fs);

}  // namespace sg::skew
