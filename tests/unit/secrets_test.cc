// Where pin secrets come from (design.md section 6), with a fake environment
// and a fake file system.
#include <doctest/doctest.h>

#include <cerrno>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "skew/pin.h"
#include "skew/secrets.h"

using sg::conf::PinsConfig;
using sg::skew::choose_pin_secrets;
using sg::skew::FileSystem;
using sg::skew::Pin;
using sg::skew::PinKeyring;
using sg::skew::PinResult;
using sg::skew::SecretChoice;

namespace {

const std::string kEnvSecret = "env-secret-0123456789abcdef0123456789";
const std::string kEnvFileSecret = "env-file-secret-0123456789abcdef01234";
const std::string kConfigSecret = "config-secret-0123456789abcdef0123456";
const std::string kConfigFileSecret = "config-file-secret-0123456789abcdef01";
const std::string kStateSecret = "state-secret-0123456789abcdef01234567";
const std::string kPrevious = "previous-secret-0123456789abcdef012345";
const std::string kShort = "short-secret-31-bytes-long-xxxx";  // 31 bytes
const std::string kStateDir = "/var/lib/skewgate";
const std::string kStateFile = "/var/lib/skewgate/pin-secret";

struct FakeFs final : FileSystem {
  std::map<std::string, std::string> files;
  std::map<std::string, int> unreadable;  // path -> errno
  bool writable = true;
  std::vector<std::string> written;

  bool exists(const std::string& path) override { return files.contains(path) || unreadable.contains(path); }
  int read_file(const std::string& path, std::string& contents) override {
    if (auto it = unreadable.find(path); it != unreadable.end()) return it->second;
    auto it = files.find(path);
    if (it == files.end()) return ENOENT;
    contents = it->second;
    return 0;
  }
  bool write_file_private(const std::string& path, const std::string& contents, std::string& error) override {
    if (!writable) {
      error = "cannot write " + path + ".tmp: Read-only file system";
      return false;
    }
    files[path] = contents;
    written.push_back(path);
    return true;
  }
};

struct FakeEnv {
  std::map<std::string, std::string> vars;
  std::optional<std::string> operator()(const char* name) const {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  }
};

SecretChoice choose(const PinsConfig& pins, const FakeEnv& env, FakeFs& fs, const std::string& state_dir = kStateDir) {
  return choose_pin_secrets(pins, state_dir, env, fs);
}

// No message names a secret (whole, or a recognisable piece of it).
void check_no_secret_in_messages(const SecretChoice& choice, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    for (const std::string* text : {&choice.error, &choice.warning, &choice.source}) {
      CAPTURE(*text);
      CHECK(text->find(secret) == std::string::npos);
      CHECK(text->find(secret.substr(0, 12)) == std::string::npos);
      CHECK(text->find(secret.substr(secret.size() - 12)) == std::string::npos);
    }
  }
}

const std::vector<std::string> kAllSecrets = {kEnvSecret, kEnvFileSecret, kConfigSecret, kConfigFileSecret,
                                              kStateSecret, kPrevious, kShort};

}  // namespace

// Every combination of the five sources: the first that is set wins.
TEST_CASE("secrets: priority table") {
  struct Source {
    const char* name;
    const std::string* secret;
  };
  const Source sources[] = {
      {"env SKEWGATE_SECRET", &kEnvSecret},   {"env SKEWGATE_SECRET_FILE", &kEnvFileSecret},
      {"pins.secret", &kConfigSecret},        {"pins.secret_file", &kConfigFileSecret},
      {"state_dir", &kStateSecret},
  };
  for (int set = 0; set < 32; ++set) {
    FakeEnv env;
    FakeFs fs;
    PinsConfig pins;
    if (set & 1) env.vars["SKEWGATE_SECRET"] = kEnvSecret;
    if (set & 2) {
      env.vars["SKEWGATE_SECRET_FILE"] = "/run/secrets/pin";
      fs.files["/run/secrets/pin"] = kEnvFileSecret + "\n";
    }
    if (set & 4) pins.secret = kConfigSecret;
    if (set & 8) {
      pins.secret_file = "/etc/skewgate/pin-secret";
      fs.files["/etc/skewgate/pin-secret"] = kConfigFileSecret + "\r\n";
    }
    if (set & 16) fs.files[kStateFile] = kStateSecret + "\n";

    const SecretChoice choice = choose(pins, env, fs);
    CAPTURE(set);
    CHECK(choice.error.empty());
    CHECK(choice.warning.empty());
    CHECK_FALSE(choice.ephemeral);
    REQUIRE(choice.secrets.size() == 1);
    int winner = -1;
    for (int i = 0; i < 5 && winner < 0; ++i) {
      if (set & (1 << i)) winner = i;
    }
    if (winner >= 0) {
      CHECK(choice.source == sources[winner].name);
      CHECK(choice.secrets[0] == *sources[winner].secret);
      CHECK_FALSE(choice.generated);
      CHECK(fs.written.empty());
    } else {
      // Nothing set: a key is generated into state_dir, once.
      CHECK(choice.source == "state_dir");
      CHECK(choice.generated);
      REQUIRE(fs.written == std::vector<std::string>{kStateFile});
      CHECK(choice.secrets[0].size() == 43);  // 32 bytes, base64url, no padding
      CHECK(sg::skew::base64url_decode(choice.secrets[0]).value_or("").size() == 32);
      CHECK(fs.files[kStateFile] == choice.secrets[0] + "\n");
    }
    check_no_secret_in_messages(choice, kAllSecrets);
  }
}

TEST_CASE("secrets: the generated key is kept and reused") {
  FakeFs fs;
  const SecretChoice first = choose(PinsConfig{}, FakeEnv{}, fs);
  REQUIRE(first.generated);
  const SecretChoice second = choose(PinsConfig{}, FakeEnv{}, fs, kStateDir + "/");
  CHECK(second.source == "state_dir");
  CHECK_FALSE(second.generated);
  CHECK(second.secrets == first.secrets);
  CHECK(fs.written.size() == 1);
  // Two generated keys differ.
  FakeFs other;
  CHECK(choose(PinsConfig{}, FakeEnv{}, other).secrets != first.secrets);
}

TEST_CASE("secrets: ephemeral key with a warning when state_dir cannot keep one") {
  FakeFs fs;
  fs.writable = false;
  SecretChoice choice = choose(PinsConfig{}, FakeEnv{}, fs);
  CHECK(choice.error.empty());
  CHECK(choice.ephemeral);
  CHECK(choice.source == "ephemeral");
  REQUIRE(choice.secrets.size() == 1);
  CHECK(choice.secrets[0].size() >= 32);
  CHECK(choice.warning.find("ephemeral") != std::string::npos);
  CHECK(choice.warning.find("Read-only file system") != std::string::npos);
  check_no_secret_in_messages(choice, {choice.secrets[0]});

  FakeFs unused;
  choice = choose(PinsConfig{}, FakeEnv{}, unused, "");
  CHECK(choice.ephemeral);
  CHECK(choice.warning.find("no state_dir") != std::string::npos);
  CHECK(unused.written.empty());
}

TEST_CASE("secrets: an unusable source is an error, never a fall-through") {
  struct Case {
    const char* name;
    FakeEnv env;
    PinsConfig pins;
    std::map<std::string, std::string> files;
    std::map<std::string, int> unreadable;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"short env", {{{"SKEWGATE_SECRET", kShort}}}, {.secret = kConfigSecret}, {}, {},
       "SKEWGATE_SECRET: a secret must be at least 32 bytes"},
      {"short config", {}, {.secret = kShort, .secret_file = "/etc/p"}, {{"/etc/p", kConfigFileSecret}}, {},
       "pins.secret: a secret must be at least 32 bytes"},
      {"short env file", {{{"SKEWGATE_SECRET_FILE", "/run/p"}}}, {.secret = kConfigSecret}, {{"/run/p", kShort + "\n"}},
       {}, "SKEWGATE_SECRET_FILE: /run/p: a secret must be at least 32 bytes"},
      // Trailing whitespace does not count towards the length.
      {"short config file", {}, {.secret_file = "/etc/p"}, {{"/etc/p", kShort + " \n\n"}}, {},
       "pins.secret_file: /etc/p: a secret must be at least 32 bytes"},
      {"missing env file", {{{"SKEWGATE_SECRET_FILE", "/run/missing"}}}, {.secret = kConfigSecret}, {}, {},
       "SKEWGATE_SECRET_FILE: cannot read /run/missing: No such file or directory"},
      {"unreadable config file", {}, {.secret_file = "/etc/p"}, {}, {{"/etc/p", EACCES}},
       "pins.secret_file: cannot read /etc/p: Permission denied"},
      {"unreadable state file", {}, {}, {}, {{kStateFile, EACCES}},
       "state_dir pin-secret: cannot read /var/lib/skewgate/pin-secret: Permission denied"},
      {"short state file", {}, {}, {{kStateFile, kShort}}, {},
       "state_dir pin-secret: /var/lib/skewgate/pin-secret: a secret must be at least 32 bytes"},
      {"control characters", {}, {.secret = kConfigSecret + std::string(1, '\0') + "x"}, {}, {},
       "pins.secret: a secret must be text without control characters (e.g. the output of `openssl rand -base64 "
       "32`)"},
      {"binary file", {}, {.secret_file = "/etc/p"}, {{"/etc/p", std::string(32, '\x01') + kConfigSecret}}, {},
       "pins.secret_file: /etc/p: a secret must be text without control characters (e.g. the output of `openssl "
       "rand -base64 32`)"},
      {"newline inside", {{{"SKEWGATE_SECRET", kEnvSecret + "\n"}}}, {}, {}, {},
       "SKEWGATE_SECRET: a secret must be text without control characters (e.g. the output of `openssl rand "
       "-base64 32`)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    FakeFs fs;
    fs.files = c.files;
    fs.unreadable = c.unreadable;
    const SecretChoice choice = choose(c.pins, c.env, fs);
    CHECK(choice.error == c.error);
    CHECK(choice.secrets.empty());
    CHECK(fs.written.empty());
    check_no_secret_in_messages(choice, kAllSecrets);
  }
}

TEST_CASE("secrets: an empty variable counts as unset") {
  FakeFs fs;
  FakeEnv env{{{"SKEWGATE_SECRET", ""}, {"SKEWGATE_SECRET_FILE", ""}}};
  const SecretChoice choice = choose(PinsConfig{.secret = kConfigSecret}, env, fs);
  CHECK(choice.error.empty());
  CHECK(choice.source == "pins.secret");
}

TEST_CASE("secrets: previous secrets follow the signing secret") {
  FakeFs fs;
  PinsConfig pins{.secret = kConfigSecret, .previous_secrets = {kPrevious, kEnvFileSecret}};
  SecretChoice choice = choose(pins, FakeEnv{}, fs);
  CHECK(choice.error.empty());
  CHECK(choice.secrets == std::vector<std::string>{kConfigSecret, kPrevious, kEnvFileSecret});

  // Also after a generated or an ephemeral key.
  choice = choose(PinsConfig{.previous_secrets = {kPrevious}}, FakeEnv{}, fs);
  REQUIRE(choice.secrets.size() == 2);
  CHECK(choice.secrets[1] == kPrevious);

  // The chosen secrets make a keyring that opens pins of the previous key.
  const PinKeyring old_keys({kPrevious});
  const PinKeyring keys(choose(pins, FakeEnv{}, fs).secrets);
  const Pin pin{"shop", "dpl-a", 100, 200, Pin::Kind::pin};
  CHECK(keys.open(old_keys.seal(pin), "shop", 150).result == PinResult::valid);
  CHECK(keys.signing_key_id() == PinKeyring({kConfigSecret}).signing_key_id());
}

TEST_CASE("secrets: every bad secret is reported at once, none quoted") {
  FakeFs fs;
  PinsConfig pins{.secret = kShort, .previous_secrets = {kPrevious, kShort, "x"}};
  const SecretChoice choice = choose(pins, FakeEnv{}, fs);
  CHECK(choice.error ==
        "pins.secret: a secret must be at least 32 bytes\n"
        "pins.previous_secrets[1]: a secret must be at least 32 bytes\n"
        "pins.previous_secrets[2]: a secret must be at least 32 bytes");
  CHECK(choice.secrets.empty());
  check_no_secret_in_messages(choice, kAllSecrets);
}
