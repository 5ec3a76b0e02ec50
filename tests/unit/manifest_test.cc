#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "conf/load.h"
#include "conf/manifest.h"
#include "data_dir.h"

namespace sg::conf {
namespace {

using sg::test::unit_data;

// The encryptionKey values of the fixtures: never to be found in anything
// the reader returns.
const std::vector<std::string> kKeys = {
    "kq9ZpVw3S1xQe2RrT8uYb5nMhJ4cLfGd7aE0oIsUvW6=",
    "Zx81Q0mN3pLk7VbC2rTy6WuE9aSdF4gH5jKl0PoIq1A=",
    "Hx7Yq2Lm9Np4Rs6Tv8Wx0Za1Bc3De5Fg7Hi9Jk1Lm3N=",
    "Sk3yVALUEinTruncatedFile0123456789abcdefghij=",
};

// Everything a ManifestRead holds, as one string.
std::string serialized(const ManifestRead& read) {
  std::string out = read.error;
  for (const auto& id : read.action_ids) out += "\n" + id;
  return out;
}

void check_no_key(const std::string& text) {
  for (const auto& key : kKeys) {
    CHECK(text.find(key) == std::string::npos);
    CHECK(text.find(key.substr(0, 12)) == std::string::npos);  // not even a prefix
  }
  CHECK(text.find("encryptionKey") == std::string::npos);
}

// A temporary file removed at scope end.
struct TempFile {
  std::string path;
  explicit TempFile(std::string_view content, std::string_view tag = "m") {
    path = "/tmp/sg_manifest_test_" + std::to_string(::getpid()) + "_" + std::string(tag) + ".json";
    std::ofstream(path, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("manifest: the action IDs of node and edge, sorted, nothing else") {
  const auto next15 = read_action_manifest(unit_data("server-reference-manifest.next15.json"));
  CHECK(next15.error.empty());
  CHECK(next15.action_ids == std::vector<std::string>{"40c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3",
                                                      "60aa11bb22cc33dd44ee55ff66aa77bb88cc99dd00",
                                                      "7f8a1c2e9b3d4f5a6e7c8b9a0d1e2f3a4b5c6d7e8f"});
  check_no_key(serialized(next15));

  const auto next16 = read_action_manifest(unit_data("server-reference-manifest.next16.json"));
  CHECK(next16.error.empty());
  CHECK(next16.action_ids == std::vector<std::string>{"00e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e"});
  check_no_key(serialized(next16));
}

TEST_CASE("manifest: duplicates across node and edge are listed once; empty objects are fine") {
  TempFile both(R"({"node": {"aa": {}, "bb": {}}, "edge": {"aa": {}}, "encryptionKey": "x"})", "dup");
  CHECK(read_action_manifest(both.path).action_ids == std::vector<std::string>{"aa", "bb"});
  TempFile empty(R"({"node": {}, "edge": {}, "encryptionKey": "x"})", "empty_maps");
  const auto read = read_action_manifest(empty.path);
  CHECK(read.error.empty());
  CHECK(read.action_ids.empty());
  // Keys of nested objects (workers, layer) are not action IDs.
  TempFile nested(R"({"node": {"aa": {"workers": {"app/page": {}}, "layer": {"x": "y"}}}})", "nested");
  CHECK(read_action_manifest(nested.path).action_ids == std::vector<std::string>{"aa"});
}

TEST_CASE("manifest: errors name the path and never quote the file") {
  const std::string missing = "/nonexistent/skewgate/server-reference-manifest.json";
  CHECK(read_action_manifest(missing).error ==
        "cannot read manifest " + missing + ": No such file or directory");
  CHECK(read_action_manifest("/tmp").error == "manifest /tmp is not a regular file (it is a directory)");

  const std::string not_manifest = unit_data("not-a-manifest.json");
  const auto wrong = read_action_manifest(not_manifest);
  CHECK(wrong.error == "manifest " + not_manifest +
                           " is not a server-reference-manifest.json: expected `node` and `edge` objects of action IDs");
  CHECK(wrong.action_ids.empty());
  check_no_key(serialized(wrong));

  const std::string truncated = unit_data("truncated-manifest.json");
  const auto cut = read_action_manifest(truncated);
  CHECK(cut.error.starts_with("manifest " + truncated + " is not a server-reference-manifest.json: invalid JSON at byte "));
  CHECK(cut.action_ids.empty());
  check_no_key(serialized(cut));

  const struct {
    const char* name;
    const char* content;
    const char* problem;
  } cases[] = {
      {"empty", "", "the file is empty"},
      {"array", R"(["Sk3yVALUEinTruncatedFile0123456789abcdefghij="])", "expected a JSON object, got a list"},
      {"string", R"("Sk3yVALUEinTruncatedFile0123456789abcdefghij=")", "expected a JSON object, got a string"},
      {"node list", R"({"node": ["aa"]})", "`node` must be an object of action IDs, got a list"},
      {"edge string", R"({"node": {}, "edge": "Sk3yVALUEinTruncatedFile0123456789abcdefghij="})",
       "`edge` must be an object of action IDs, got a string"},
      // nlohmann would quote the bad token (the key); the reader does not.
      {"bad token", R"({"encryptionKey": Sk3yVALUEinTruncatedFile0123456789abcdefghij=})", nullptr},
      {"trailing garbage", R"({"node": {}} Sk3yVALUEinTruncatedFile0123456789abcdefghij=)", nullptr},
  };
  for (const auto& c : cases) {
    const std::string case_name = c.name;
    CAPTURE(case_name);
    TempFile file(c.content, "case");
    const auto read = read_action_manifest(file.path);
    const std::string prefix = "manifest " + file.path + " is not a server-reference-manifest.json: ";
    if (c.problem != nullptr) {
      CHECK(read.error == prefix + c.problem);
    } else {
      CHECK(read.error.starts_with(prefix + "invalid JSON at byte "));
    }
    CHECK(read.action_ids.empty());
    check_no_key(serialized(read));
  }
}

TEST_CASE("config load: manifests fill action_ids; problems are diagnostics at the manifest key") {
  const std::string good = unit_data("server-reference-manifest.next16.json");
  const std::string not_manifest = unit_data("not-a-manifest.json");
  const std::string yaml = R"(listeners:
  - address: 127.0.0.1:8080
apps:
  - name: shop
    hosts: [shop.example.com]
    current: dpl-b
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001], manifest: /nonexistent/a.json}
      - id: dpl-b
        upstreams: [127.0.0.1:3002]
        manifest: )" + not_manifest + R"(
      - {id: dpl-c, upstreams: [127.0.0.1:3003], manifest: )" + good + R"(}
      - {id: dpl-d, upstreams: [nowhere]}
)";
  const auto result = load_string(yaml, "t.yaml");
  CHECK_FALSE(result.config.has_value());
  std::string lines;
  for (const auto& d : result.errors) lines += d.to_string() + "\n";
  // All at once, in file order, each at the manifest value's line:col.
  CHECK(lines == "t.yaml:8:60: apps[0].builds[0].manifest: cannot read manifest /nonexistent/a.json: No such file or "
                 "directory\n"
                 "t.yaml:11:19: apps[0].builds[1].manifest: manifest " +
                     not_manifest +
                     " is not a server-reference-manifest.json: expected `node` and `edge` objects of action IDs\n"
                     "t.yaml:13:33: apps[0].builds[3].upstreams[0]: expected host:port, name:port, [v6]:port or "
                     "unix:/path, got 'nowhere' (the port is required)\n");
  check_no_key(lines);

  const std::string valid = R"(listeners:
  - address: 127.0.0.1:8080
apps:
  - name: shop
    hosts: [shop.example.com]
    current: dpl-b
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001], manifest: )" + good + R"(}
      - {id: dpl-b, upstreams: [127.0.0.1:3002]}
)";
  const auto loaded = load_string(valid, "t.yaml");
  REQUIRE(loaded.errors.empty());
  const auto& builds = loaded.config->apps.at(0).builds;
  CHECK(builds.at(0).manifest == good);
  CHECK(builds.at(0).action_ids == std::vector<std::string>{"00e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e"});
  CHECK(builds.at(1).action_ids.empty());
}

}  // namespace sg::conf

namespace sg::conf {

// Anything but a regular file is refused before it is opened (a FIFO would
// block the open until a writer came; /dev/zero would never end), and so is
// a file over the cap: one message each, at once.
TEST_CASE("manifest: only a regular file of at most max_bytes is read") {
  const std::string fifo = "/tmp/sg_manifest_test_" + std::to_string(::getpid()) + "_fifo.json";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string link = fifo + ".link";
  REQUIRE(::symlink(fifo.c_str(), link.c_str()) == 0);
  const TempFile small(R"({"node": {"aa": {}}, "edge": {}})", "small");  // 32 bytes
  const struct {
    std::string path;
    std::uint64_t max_bytes;
    std::string error;
  } rows[] = {
      {fifo, 1024, "manifest " + fifo + " is not a regular file (it is a FIFO)"},
      {link, 1024, "manifest " + link + " is not a regular file (it is a FIFO)"},
      {"/dev/zero", 1024, "manifest /dev/zero is not a regular file (it is a character device)"},
      {"/dev/null", 1024, "manifest /dev/null is not a regular file (it is a character device)"},
      {"/tmp", 1024, "manifest /tmp is not a regular file (it is a directory)"},
      {small.path, 31, "manifest " + small.path + " is 32 bytes, larger than actions.manifest_max_bytes (31 bytes)"},
      {small.path, 32, ""},
  };
  for (const auto& row : rows) {
    CAPTURE(row.path);
    CAPTURE(row.max_bytes);
    CHECK(read_action_manifest(row.path, row.max_bytes).error == row.error);
    ManifestCache cache;
    CHECK(cache.read(row.path, row.max_bytes).error == row.error);
    CHECK(cache.reads() == (row.error.empty() ? 1u : 0u));  // refused without reading
  }
  std::remove(link.c_str());
  std::remove(fifo.c_str());
}

TEST_CASE("manifest cache: a file is read again only when its inode, size or mtime changes") {
  const TempFile file(R"({"node": {"aa": {}}, "edge": {}})", "cache");
  ManifestCache cache;
  auto ids = [&](std::uint64_t max = 1024) { return cache.read(file.path, max).action_ids; };
  CHECK(ids() == std::vector<std::string>{"aa"});
  CHECK(ids() == std::vector<std::string>{"aa"});
  CHECK(ids() == std::vector<std::string>{"aa"});
  CHECK(cache.reads() == 1);

  struct stat before {};
  REQUIRE(::stat(file.path.c_str(), &before) == 0);
  auto restore_mtime = [&]() {
    const timespec times[2] = {before.st_atim, before.st_mtim};
    REQUIRE(::utimensat(AT_FDCWD, file.path.c_str(), times, 0) == 0);
  };
  // Same inode, size and mtime, other bytes: deliberately not noticed (the
  // quick check's price; a deploy writes a new file or a new mtime).
  { std::ofstream(file.path, std::ios::binary | std::ios::in) << R"({"node": {"bb": {}}, "edge": {}})"; }
  restore_mtime();
  CHECK(ids() == std::vector<std::string>{"aa"});
  CHECK(cache.reads() == 1);

  // A new mtime: read again.
  const timespec later[2] = {before.st_atim, {before.st_mtim.tv_sec + 5, before.st_mtim.tv_nsec}};
  REQUIRE(::utimensat(AT_FDCWD, file.path.c_str(), later, 0) == 0);
  CHECK(ids() == std::vector<std::string>{"bb"});
  CHECK(cache.reads() == 2);

  // A new size with the old mtime: read again.
  { std::ofstream(file.path, std::ios::binary) << R"({"node": {"cc": {}, "dd": {}}, "edge": {}})"; }
  restore_mtime();
  CHECK(ids() == std::vector<std::string>{"cc", "dd"});
  CHECK(cache.reads() == 3);

  // A new inode (the file replaced by rename) with the same size and mtime: read again.
  const std::string other = file.path + ".new";
  { std::ofstream(other, std::ios::binary) << R"({"node": {"ee": {}, "ff": {}}, "edge": {}})"; }
  const timespec old_times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, other.c_str(), old_times, 0) == 0);
  REQUIRE(::rename(other.c_str(), file.path.c_str()) == 0);
  CHECK(ids() == std::vector<std::string>{"ee", "ff"});
  CHECK(cache.reads() == 4);

  // A different cap is a different question.
  CHECK(cache.read(file.path, 10).error.find("larger than actions.manifest_max_bytes") != std::string::npos);
  CHECK(ids() == std::vector<std::string>{"ee", "ff"});
  CHECK(cache.reads() == 5);

  // A parse error is remembered like a result.
  { std::ofstream(file.path, std::ios::binary) << "not json at all, no sir"; }
  const std::string bad = cache.read(file.path, 1024).error;
  CHECK(bad.find("is not a server-reference-manifest.json") != std::string::npos);
  CHECK(cache.read(file.path, 1024).error == bad);
  CHECK(cache.reads() == 6);

  // Forgotten when no build uses it any more.
  cache.keep_only({});
  CHECK(cache.read(file.path, 1024).error == bad);
  CHECK(cache.reads() == 7);
}

}  // namespace sg::conf
