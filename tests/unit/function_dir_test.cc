// conf/function_dir.h: the walk of a react-server outDir's client chunks, its
// caps and its cache; and the `functions_from` config key.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "conf/function_dir.h"
#include "conf/load.h"

namespace sg::conf {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<std::string>;

// A react-server outDir under /tmp, removed afterwards (remove_all does not
// follow the symlinks the tests plant).
struct OutDir {
  std::string path;
  OutDir() {
    char name[] = "/tmp/sg_functions_test_XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path = name;
    fs::create_directory(path + "/client");
  }
  ~OutDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string client(const std::string& rel = "") const { return path + "/client" + (rel.empty() ? "" : "/" + rel); }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories(fs::path(client(rel)).parent_path());
    std::ofstream(client(rel), std::ios::binary) << text;
  }
  // Writes a chunk calling createServerReference for each id.
  void chunk(const std::string& rel, const Ids& ids) const {
    std::string text = "import{c as t}from\"./react.mjs\";var n=t();";
    for (const auto& id : ids) text += "(0,n.createServerReference)(`" + id + "`,__react_server_callServer__);";
    write(rel, text);
  }
};

FunctionLimits limits(std::uint64_t file = 1 << 20, std::uint64_t total = 1 << 24, std::uint64_t files = 1000,
                      int depth = 32) {
  return FunctionLimits{file, total, files, depth};
}

}  // namespace

TEST_CASE("function dir: every .mjs and .js under client/, ids sorted and unique") {
  const OutDir dir;
  dir.chunk("actions.DrDi1LJr.mjs", {"/app/src/actions.mjs#greet", "/app/src/actions.mjs#other"});
  dir.chunk("src/deep/er/page.js", {"/app/src/b.mjs#b", "/app/src/actions.mjs#greet"});
  dir.chunk("notes.txt", {"/app/not-a-chunk#x"});
  dir.chunk("actions.mjs.map", {"/app/not-a-chunk#y"});
  dir.write("react.mjs", "exports.createServerReference=function(e,t){return t(e)}");
  const FunctionsRead read = read_function_ids(dir.path, limits());
  CHECK(read.error == "");
  CHECK(read.ids == Ids{"/app/src/actions.mjs#greet", "/app/src/actions.mjs#other", "/app/src/b.mjs#b"});
  CHECK(read.files == 3);
  CHECK(read.skipped_entries == 0);
  // The server/ dir is not looked at: only what the browser can call.
  const OutDir other;
  other.chunk("a.mjs", {"a#a"});
  fs::create_directory(other.path + "/server");
  std::ofstream(other.path + "/server/s.mjs") << "createServerReference('server#only')";
  CHECK(read_function_ids(other.path, limits()).ids == Ids{"a#a"});
}

TEST_CASE("function dir: a build without server functions is an empty set, not an error") {
  const OutDir dir;
  dir.write("index.mjs", "console.log(1)");
  const FunctionsRead read = read_function_ids(dir.path, limits());
  CHECK(read.error == "");
  CHECK(read.ids.empty());
  CHECK(read.files == 1);
  const OutDir empty;
  CHECK(read_function_ids(empty.path, limits()).error == "");
}

TEST_CASE("function dir: symlinks, FIFOs and devices are skipped and counted, never followed nor opened") {
  const OutDir dir;
  dir.chunk("a.mjs", {"a#a"});
  fs::create_directory_symlink("/etc", dir.client("etc"));             // a dir elsewhere
  fs::create_symlink("/etc/passwd", dir.client("passwd.mjs"));          // a file elsewhere
  fs::create_symlink("/dev/zero", dir.client("zero.mjs"));              // never ends
  fs::create_symlink(dir.client("loop.mjs"), dir.client("loop.mjs"));   // a loop
  fs::create_directory_symlink(dir.client(), dir.client("self"));       // a dir loop
  fs::create_symlink(dir.path + "/../..", dir.client("up"));
  REQUIRE(::mkfifo(dir.client("fifo.mjs").c_str(), 0600) == 0);       // opening it would wait for a writer
  REQUIRE(::mkfifo(dir.client("fifo.txt").c_str(), 0600) == 0);
  const FunctionsRead read = read_function_ids(dir.path, limits());
  CHECK(read.error == "");
  CHECK(read.ids == Ids{"a#a"});
  CHECK(read.files == 1);
  CHECK(read.skipped_entries == 8);
}

TEST_CASE("function dir: the outDir may be a symlink, client/ may not") {
  const OutDir dir;
  dir.chunk("a.mjs", {"a#a"});
  const std::string link = dir.path + ".link";
  fs::create_directory_symlink(dir.path, link);
  CHECK(read_function_ids(link, limits()).ids == Ids{"a#a"});
  fs::remove(link);

  const OutDir bad;
  fs::remove(bad.client());
  fs::create_directory_symlink(dir.client(), bad.client());
  CHECK(read_function_ids(bad.path, limits()).error ==
        "functions_from " + bad.path + ": client/ is a symlink (not followed)");
}

TEST_CASE("function dir: missing dirs and wrong kinds are errors naming the path") {
  const OutDir dir;
  const std::string file = dir.path + "/plain";
  std::ofstream(file) << "x";
  const OutDir no_client;
  fs::remove(no_client.client());
  const OutDir client_file;
  fs::remove(client_file.client());
  std::ofstream(client_file.client()) << "x";
  const OutDir client_fifo;
  fs::remove(client_fifo.client());
  REQUIRE(::mkfifo(client_fifo.client().c_str(), 0600) == 0);
  const std::string fifo_root = dir.path + "/fifo";
  REQUIRE(::mkfifo(fifo_root.c_str(), 0600) == 0);
  struct Case {
    std::string path, error;
  };
  const std::vector<Case> cases = {
      {"/nonexistent/out", "functions_from /nonexistent/out: no such directory"},
      {file, "functions_from " + file + ": is not a directory"},
      {fifo_root, "functions_from " + fifo_root + ": is not a directory"},
      {"", "functions_from : expected a directory path"},
      {no_client.path,
       "functions_from " + no_client.path + ": has no client/ directory (expected a react-server outDir, e.g. .react-server)"},
      {client_file.path, "functions_from " + client_file.path + ": client/ is not a directory"},
      {client_fifo.path, "functions_from " + client_fifo.path + ": client/ is not a directory"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.path);
    const FunctionsRead read = read_function_ids(c.path, limits());
    CHECK(read.error == c.error);
    CHECK(read.ids.empty());
  }
}

TEST_CASE("function dir: depth, entry, file size and total size caps") {
  const OutDir dir;
  dir.chunk("a/b/c/x.mjs", {"x#x"});  // client/a/b/c: depth 3
  CHECK(read_function_ids(dir.path, limits(1 << 20, 1 << 24, 1000, 3)).ids == Ids{"x#x"});
  CHECK(read_function_ids(dir.path, limits(1 << 20, 1 << 24, 1000, 2)).error ==
        "functions_from " + dir.path + ": client/a/b/c is more than 2 directories deep");

  // Entries: a, a/b, a/b/c, x.mjs = 4.
  CHECK(read_function_ids(dir.path, limits(1 << 20, 1 << 24, 4)).error == "");
  CHECK(read_function_ids(dir.path, limits(1 << 20, 1 << 24, 3)).error ==
        "functions_from " + dir.path + ": more than 3 entries under client/");

  const OutDir sizes;
  sizes.write("a.mjs", std::string(100, 'a'));
  sizes.write("b.mjs", std::string(100, 'b'));
  CHECK(read_function_ids(sizes.path, limits(100, 200)).error == "");
  CHECK(read_function_ids(sizes.path, limits(99, 200)).error.ends_with(
        ".mjs is 100 bytes, larger than actions.manifest_max_bytes (99 bytes)"));
  CHECK(read_function_ids(sizes.path, limits(100, 199)).error ==
        "functions_from " + sizes.path + ": the chunks under client/ hold more than actions.functions_max_bytes (199 bytes)");
  // Files that are not chunks count for the entry cap only.
  sizes.write("big.map", std::string(1000, 'm'));
  CHECK(read_function_ids(sizes.path, limits(100, 200)).error == "");

  // The real defaults.
  const FunctionLimits defaults;
  CHECK(defaults.total_max_bytes == 256ull * 1024 * 1024);
  CHECK(defaults.max_files == 50'000);
  CHECK(defaults.max_depth == 32);
}

TEST_CASE("function dir cache: a re-walk only stats; only changed files are read again") {
  const OutDir dir;
  dir.chunk("a.mjs", {"a#a"});
  dir.chunk("sub/b.mjs", {"b#b"});
  FunctionIdsCache cache;
  CHECK(cache.read(dir.path, limits()).ids == Ids{"a#a", "b#b"});
  CHECK(cache.reads() == 2);
  CHECK(cache.read(dir.path, limits()).ids == Ids{"a#a", "b#b"});
  CHECK(cache.reads() == 2);

  // One file changes (new size and mtime): only it is read.
  dir.chunk("sub/b.mjs", {"b#b2", "b#b3"});
  struct stat st {};
  REQUIRE(::stat(dir.client("sub/b.mjs").c_str(), &st) == 0);
  const timespec later[2] = {st.st_atim, {st.st_mtim.tv_sec + 5, 0}};
  REQUIRE(::utimensat(AT_FDCWD, dir.client("sub/b.mjs").c_str(), later, 0) == 0);
  CHECK(cache.read(dir.path, limits()).ids == Ids{"a#a", "b#b2", "b#b3"});
  CHECK(cache.reads() == 3);

  // A new file is read; a removed one drops its ids without a read.
  dir.chunk("c.mjs", {"c#c"});
  CHECK(cache.read(dir.path, limits()).ids == Ids{"a#a", "b#b2", "b#b3", "c#c"});
  CHECK(cache.reads() == 4);
  fs::remove(dir.client("a.mjs"));
  CHECK(cache.read(dir.path, limits()).ids == Ids{"b#b2", "b#b3", "c#c"});
  CHECK(cache.reads() == 4);

  // A file replaced by a symlink is no longer read.
  fs::remove(dir.client("c.mjs"));
  fs::create_symlink("/etc/passwd", dir.client("c.mjs"));
  const FunctionsRead now = cache.read(dir.path, limits());
  CHECK(now.ids == Ids{"b#b2", "b#b3"});
  CHECK(now.skipped_entries == 1);
  CHECK(cache.reads() == 4);

  // Other caps: walked again from scratch. A failed walk is not cached.
  CHECK(cache.read(dir.path, limits(1 << 19)).ids == Ids{"b#b2", "b#b3"});
  CHECK(cache.reads() == 5);
  CHECK(cache.read(dir.path, limits(1 << 19, 1 << 24, 1)).error != "");
  CHECK(cache.read(dir.path, limits(1 << 19)).ids == Ids{"b#b2", "b#b3"});
  CHECK(cache.reads() == 6);

  // Forgotten when no build uses the dir any more.
  cache.keep_only({});
  CHECK(cache.read(dir.path, limits(1 << 19)).ids == Ids{"b#b2", "b#b3"});
  CHECK(cache.reads() == 7);
  cache.keep_only({dir.path});
  CHECK(cache.read(dir.path, limits(1 << 19)).ids == Ids{"b#b2", "b#b3"});
  CHECK(cache.reads() == 7);
}

TEST_CASE("config load: functions_from fills action_ids; problems are diagnostics at the key") {
  const OutDir good;
  good.chunk("actions.mjs", {"/app/src/actions.mjs#greet"});
  const OutDir empty;
  const std::string yaml = R"(listeners:
  - address: 127.0.0.1:8080
apps:
  - name: shop
    hosts: [shop.example.com]
    current: dpl-b
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001], functions_from: /nonexistent/out}
      - id: dpl-b
        upstreams: [127.0.0.1:3002]
        functions_from: )" + good.path + R"(
        manifest: /x/server-reference-manifest.json
      - {id: dpl-c, upstreams: [127.0.0.1:3003], functions_from: )" + good.path + R"(}
      - {id: dpl-d, upstreams: [127.0.0.1:3004], functions_from: ""}
      - {id: dpl-e, upstreams: [127.0.0.1:3005], function_from: )" + good.path + R"(}
)";
  const auto result = load_string(yaml, "t.yaml");
  CHECK_FALSE(result.config.has_value());
  std::string lines;
  for (const auto& d : result.errors) lines += d.to_string() + "\n";
  CHECK(lines.find("t.yaml:8:66: apps[0].builds[0].functions_from: functions_from /nonexistent/out: no such "
                   "directory\n") != std::string::npos);
  CHECK(lines.find("t.yaml:11:25: apps[0].builds[1].functions_from: a build has either `manifest` (Next.js) or "
                   "`functions_from` (react-server), not both\n") != std::string::npos);
  CHECK(lines.find("t.yaml:14:66: apps[0].builds[3].functions_from: must not be empty\n") != std::string::npos);
  CHECK(lines.find("did you mean 'functions_from'") != std::string::npos);
  CHECK(lines.find("dpl-c") == std::string::npos);
  CAPTURE(lines);

  const std::string valid = R"(listeners:
  - address: 127.0.0.1:8080
apps:
  - name: shop
    hosts: [shop.example.com]
    current: dpl-b
    actions: {functions_max_bytes: 1MiB}
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001], functions_from: )" + good.path + R"(}
      - {id: dpl-b, upstreams: [127.0.0.1:3002], functions_from: )" + empty.path + R"(}
      - {id: dpl-c, upstreams: [127.0.0.1:3003]}
)";
  const auto loaded = load_string(valid, "t.yaml");
  REQUIRE(loaded.errors.empty());
  // The empty outDir is valid, and said: a new bundler output shape would look the same.
  REQUIRE(loaded.warnings.size() == 1);
  CHECK(loaded.warnings[0].to_string() ==
        "t.yaml:10:66: apps[0].builds[1].functions_from: no createServerReference ids in 0 chunk files under client/: "
        "every server-function call counts as not in this build");
  const auto& app = loaded.config->apps.at(0);
  CHECK(app.actions.functions_max_bytes == 1024 * 1024);
  CHECK(app.builds.at(0).functions_from == good.path);
  CHECK(app.builds.at(0).action_ids == Ids{"/app/src/actions.mjs#greet"});
  CHECK(app.builds.at(0).action_id_source == ActionIdSource::react_server_chunks);
  CHECK(app.builds.at(1).action_ids.empty());
  CHECK(app.builds.at(1).action_id_source == ActionIdSource::react_server_chunks);
  CHECK(app.builds.at(2).action_id_source == ActionIdSource::none);

  // The total cap applies: a chunk over it refuses the build at its key.
  std::string tiny = valid;
  tiny.replace(tiny.find("1MiB"), 4, "10");
  const auto capped = load_string(tiny, "t.yaml");
  REQUIRE(capped.errors.size() == 1);
  CAPTURE(capped.errors[0].to_string());
  CHECK(capped.errors[0].to_string().find("apps[0].builds[0].functions_from: functions_from " + good.path +
                                          ": the chunks under client/ hold more than actions.functions_max_bytes (10 "
                                          "bytes)") != std::string::npos);
  std::string zero = valid;
  zero.replace(zero.find("1MiB"), 4, "0");
  CHECK(load_string(zero, "t.yaml").errors.at(0).to_string().find(
            "actions.functions_max_bytes: expected a size of at least 1 byte, got 0") != std::string::npos);
}

}  // namespace sg::conf
