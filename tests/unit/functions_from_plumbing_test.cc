// functions_from through the layers above conf/: the registry (register,
// conflict, JSON round trip, older registry files), the snapshot (an outDir
// that was walked is a known set even when empty), and the CLI's deploy flag.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/cli/cli.h"
#include "routing/registry.h"
#include "routing/snapshot.h"

namespace {

using sg::conf::ActionIdSource;
using sg::conf::SocketAddress;
using sg::routing::AppRegistry;
using sg::routing::RegisteredBuild;
using sg::routing::Registry;

SocketAddress upstream(const char* text) { return SocketAddress::parse(text).value(); }

RegisteredBuild with_functions(std::string id, std::string dir, std::string manifest = "") {
  RegisteredBuild b;
  b.id = std::move(id);
  b.upstreams = {upstream("127.0.0.1:3002")};
  b.manifest = std::move(manifest);
  b.functions_from = std::move(dir);
  return b;
}

}  // namespace

TEST_CASE("registry: functions_from is part of a build's identity, and excludes manifest") {
  AppRegistry app;
  REQUIRE(register_build(app, with_functions("b", "/srv/b/.react-server"), 1).status == 201);
  CHECK(register_build(app, with_functions("b", "/srv/b/.react-server"), 2).status == 200);  // a retried deploy
  const auto other = register_build(app, with_functions("b", "/srv/other/.react-server"), 2);
  CHECK(other.error == "build_conflict");
  CHECK(other.message.find("functions_from") != std::string::npos);
  CHECK(register_build(app, with_functions("b", ""), 2).error == "build_conflict");
  const auto both = register_build(app, with_functions("c", "/srv/c", "/srv/c/m.json"), 2);
  CHECK(both.status == 400);
  CHECK(both.error == "invalid_body");
  CHECK(register_build(app, with_functions("d", "/srv/\xff"), 2).error == "invalid_body");

  sg::conf::AppConfig config;
  apply_registry(app, config);
  REQUIRE(config.builds.size() == 1);
  CHECK(config.builds[0].functions_from == "/srv/b/.react-server");
}

TEST_CASE("registry: functions_from survives encode/decode; files without it still load") {
  Registry registry;
  AppRegistry& shop = registry["shop"];
  REQUIRE(register_build(shop, with_functions("rs-a", "/srv/a/.react-server"), 1).ok());
  RegisteredBuild plain = with_functions("next-b", "", "/srv/b/m.json");
  REQUIRE(register_build(shop, plain, 2).ok());
  const std::string text = sg::routing::encode_registry(registry);
  CHECK(text.find("\"functions_from\": \"/srv/a/.react-server\"") != std::string::npos);
  // Only where set: a registry of Next.js builds is written as before.
  CHECK(text.find("\"functions_from\"") == text.rfind("\"functions_from\""));
  std::string error;
  const auto decoded = sg::routing::decode_registry(text, error);
  REQUIRE_MESSAGE(decoded.has_value(), error);
  CHECK(decoded->at("shop").builds.at(0).functions_from == "/srv/a/.react-server");
  CHECK(decoded->at("shop").builds.at(1).functions_from == "");
  CHECK(sg::routing::encode_registry(*decoded) == text);

  // Malformed: not a string, or both sources.
  struct Case {
    std::string value, error;
  };
  const std::vector<Case> cases = {
      {R"("functions_from": 7, "manifest": "")", "registry.apps['shop'].builds[0] ('a').functions_from: expected a string"},
      {R"("functions_from": "/x", "manifest": "/m.json")",
       "registry.apps['shop'].builds[0] ('a'): manifest and functions_from are both set"},
  };
  for (const auto& c : cases) {
    const std::string doc = R"({"version": 1, "apps": {"shop": {"current": "", "previous": [], "builds": [)"
                            R"({"id": "a", "upstreams": ["127.0.0.1:1"], "state": "retained", "registered_at_ms": 1, )" +
                            c.value + "}]}}}";
    CAPTURE(doc);
    CHECK_FALSE(sg::routing::decode_registry(doc, error).has_value());
    CHECK(error == c.error);
  }
}

TEST_CASE("snapshot: a walked outDir is a known set even when empty; a failed walk is unknown") {
  sg::conf::Config config;
  config.source = "t.yaml";
  sg::conf::AppConfig app;
  app.name = "shop";
  app.hosts = {"shop.example.com"};
  app.current = "c";
  auto add = [&](const char* id, std::vector<std::string> ids, ActionIdSource source, std::string dir) {
    sg::conf::BuildConfig b;
    b.id = id;
    b.upstreams = {upstream("127.0.0.1:3001")};
    b.action_ids = std::move(ids);
    b.action_id_source = source;
    b.functions_from = std::move(dir);
    app.builds.push_back(std::move(b));
  };
  add("a", {"/src/a.mjs#f"}, ActionIdSource::react_server_chunks, "/srv/a");
  add("b", {}, ActionIdSource::react_server_chunks, "/srv/b");  // no server functions at all
  add("c", {}, ActionIdSource::none, "/srv/c");                 // its walk failed
  config.apps = {app};
  std::vector<std::string> errors;
  const auto snapshot = sg::routing::Snapshot::create(std::move(config), errors, 1);
  REQUIRE(snapshot);
  const auto& builds = snapshot->apps()[0].builds;
  CHECK(builds[0].has_manifest);
  CHECK(builds[0].ids_from == ActionIdSource::react_server_chunks);
  CHECK(builds[0].action_ids.contains(std::string_view("/src/a.mjs#f")));
  CHECK(builds[1].has_manifest);
  CHECK(builds[1].ids_from == ActionIdSource::react_server_chunks);
  CHECK(builds[1].action_ids.empty());
  CHECK_FALSE(builds[2].has_manifest);
  CHECK(builds[2].ids_from == ActionIdSource::none);
}

TEST_CASE("cli: deploy --functions-from, not with --manifest") {
  using namespace sg::gateway::cli;
  auto parse = [](std::vector<const char*> words, Args& args, std::string& error) {
    std::vector<const char*> argv{"skewgate"};
    argv.insert(argv.end(), words.begin(), words.end());
    return parse_args(static_cast<int>(argv.size()), argv.data(), Environment{}, args, error);
  };
  Args args;
  std::string error;
  REQUIRE(parse({"deploy", "--app", "shop", "--build", "b", "--upstream", "127.0.0.1:3002", "--functions-from",
                 "/srv/b/.react-server"},
                args, error));
  CHECK(args.functions_from == "/srv/b/.react-server");
  Args both;
  CHECK_FALSE(parse({"deploy", "--app", "shop", "--build", "b", "--upstream", "u", "--functions-from", "/d",
                     "--manifest", "/m.json"},
                    both, error));
  CHECK(error == "--manifest (Next.js) and --functions-from (react-server) exclude each other");
  Args other;
  CHECK_FALSE(parse({"promote", "--app", "shop", "--build", "b", "--functions-from", "/d"}, other, error));
  CHECK(error == "option '--functions-from' does not apply to 'promote'");
  Args twice;
  CHECK_FALSE(parse({"deploy", "--app", "shop", "--build", "b", "--upstream", "u", "--functions-from", "/d",
                     "--functions-from=/e"},
                    twice, error));
  CHECK(error == "option '--functions-from' given twice");
}
