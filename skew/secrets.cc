#include "skew/secrets.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstring>

#include "skew/pin.h"

namespace sg::skew {
namespace {

constexpr std::size_t kGeneratedKeyBytes = 32;

// Why `secret` cannot be used, or "" when it can. Never quotes it.
std::string secret_problem(const std::string& secret) {
  if (secret.size() < kMinSecretBytes) return "a secret must be at least 32 bytes";
  for (const char c : secret) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return "a secret must be text without control characters (e.g. the output of `openssl rand -base64 32`)";
    }
  }
  return {};
}

void trim_trailing_whitespace(std::string& text) {
  std::size_t end = text.size();
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r' || text[end - 1] == ' ' || text[end - 1] == '\t')) {
    --end;
  }
  OPENSSL_cleanse(text.data() + end, text.size() - end);
  text.resize(end);
}

void wipe(std::string& text) {
  OPENSSL_cleanse(text.data(), text.size());
  text.clear();
}

// Reads a secret file. `what` names the source in messages ("pins.secret_file").
bool read_secret_file(FileSystem& fs, const std::string& what, const std::string& path, std::string& secret,
                      std::vector<std::string>& errors) {
  if (path.empty()) {
    errors.push_back(what + ": the path is empty");
    return false;
  }
  secret.clear();
  if (const int failure = fs.read_file(path, secret); failure != 0) {
    wipe(secret);
    errors.push_back(what + ": cannot read " + path + ": " + std::strerror(failure));
    return false;
  }
  trim_trailing_whitespace(secret);
  if (std::string problem = secret_problem(secret); !problem.empty()) {
    wipe(secret);
    errors.push_back(what + ": " + path + ": " + problem);
    return false;
  }
  return true;
}

bool check_inline(const std::string& what, const std::string& secret, std::vector<std::string>& errors) {
  if (std::string problem = secret_problem(secret); !problem.empty()) {
    errors.push_back(what + ": " + problem);
    return false;
  }
  return true;
}

std::optional<std::string> random_key() {
  unsigned char bytes[kGeneratedKeyBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return std::nullopt;
  std::string key = base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
  OPENSSL_cleanse(bytes, sizeof bytes);
  return key;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) {
    if (!out.empty()) out.push_back('\n');
    out += line;
  }
  return out;
}

}  // namespace

SecretChoice choose_pin_secrets(const conf::PinsConfig& pins, const std::string& state_dir,
                                const std::function<std::optional<std::string>(const char*)>& getenv,
                                FileSystem& fs) {
  SecretChoice choice;
  std::vector<std::string> errors;
  std::string secret;

  auto env = [&](const char* name) -> std::optional<std::string> {
    std::optional<std::string> value = getenv(name);
    if (value && value->empty()) return std::nullopt;
    return value;
  };

  if (std::optional<std::string> value = env("SKEWGATE_SECRET")) {
    choice.source = "env SKEWGATE_SECRET";
    if (check_inline("SKEWGATE_SECRET", *value, errors)) secret = *value;
    wipe(*value);
  } else if (std::optional<std::string> path = env("SKEWGATE_SECRET_FILE")) {
    choice.source = "env SKEWGATE_SECRET_FILE";
    read_secret_file(fs, "SKEWGATE_SECRET_FILE", *path, secret, errors);
  } else if (!pins.secret.empty()) {
    choice.source = "pins.secret";
    if (check_inline("pins.secret", pins.secret, errors)) secret = pins.secret;
  } else if (!pins.secret_file.empty()) {
    choice.source = "pins.secret_file";
    read_secret_file(fs, "pins.secret_file", pins.secret_file, secret, errors);
  } else {
    std::string why_ephemeral;
    if (state_dir.empty()) {
      why_ephemeral = "no state_dir is configured";
    } else {
      const std::string path = (state_dir.back() == '/' ? state_dir : state_dir + "/") + kPinSecretFile;
      if (fs.exists(path)) {
        choice.source = "state_dir";
        read_secret_file(fs, "state_dir " + std::string(kPinSecretFile), path, secret, errors);
      } else if (std::optional<std::string> key = random_key()) {
        std::string write_error;
        if (fs.write_file_private(path, *key + "\n", write_error)) {
          choice.source = "state_dir";
          choice.generated = true;
          secret = *key;
        } else {
          why_ephemeral = write_error;
        }
        wipe(*key);
      } else {
        errors.push_back("pins: cannot generate a key: the random source failed");
      }
    }
    if (!why_ephemeral.empty() && errors.empty()) {
      if (std::optional<std::string> key = random_key()) {
        choice.source = "ephemeral";
        choice.ephemeral = true;
        choice.warning = "pins: no secret is configured and none can be kept in state_dir (" + why_ephemeral +
                         "); using an ephemeral key: pins and preview links stop working at restart and "
                         "replicas reject each other's pins. Set SKEWGATE_SECRET_FILE or pins.secret_file.";
        secret = *key;
        wipe(*key);
      } else {
        errors.push_back("pins: cannot generate a key: the random source failed");
      }
    }
  }

  std::vector<std::string> previous;
  for (std::size_t i = 0; i < pins.previous_secrets.size(); ++i) {
    const std::string what = "pins.previous_secrets[" + std::to_string(i) + "]";
    if (check_inline(what, pins.previous_secrets[i], errors)) previous.push_back(pins.previous_secrets[i]);
  }

  if (!errors.empty()) {
    wipe(secret);
    for (std::string& s : previous) wipe(s);
    choice.error = join_lines(errors);
    return choice;
  }
  choice.secrets.push_back(std::move(secret));
  for (std::string& s : previous) choice.secrets.push_back(std::move(s));
  return choice;
}

}  // namespace sg::skew
