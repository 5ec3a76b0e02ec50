#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "routing/client_build.h"

using sg::conf::AppConfig;
using sg::conf::BuildConfig;
using sg::conf::Config;
using sg::conf::SocketAddress;
using sg::routing::ClientBuildSource;
using sg::routing::HeaderField;
using sg::routing::RequestView;
using sg::routing::resolve_client_build;
using sg::routing::Snapshot;

namespace {

std::shared_ptr<const Snapshot> shop_snapshot() {
  AppConfig shop;
  shop.name = "shop";
  shop.hosts = {"shop.example.com"};
  shop.current = "dpl-b";
  shop.builds = {BuildConfig{"dpl-a", {SocketAddress::parse("127.0.0.1:3001").value()}, "", {}, std::nullopt},
                 BuildConfig{"dpl-b", {SocketAddress::parse("127.0.0.1:3002").value()}, "", {}, std::nullopt}};
  Config config;
  config.apps = {shop};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors);
  REQUIRE(errors.empty());
  return snapshot;
}

}  // namespace

TEST_CASE("to_string(ClientBuildSource)") {
  CHECK(std::string(to_string(ClientBuildSource::header)) == "header");
  CHECK(std::string(to_string(ClientBuildSource::query)) == "query");
  CHECK(std::string(to_string(ClientBuildSource::pin)) == "pin");
  CHECK(std::string(to_string(ClientBuildSource::action_manifest)) == "action_manifest");
  CHECK(std::string(to_string(ClientBuildSource::current)) == "current");
}

TEST_CASE("resolve_client_build: header, then dpl, then current") {
  auto snapshot = shop_snapshot();
  const auto& app = snapshot->apps()[0];
  struct Row {
    const char* name;
    std::vector<HeaderField> headers;
    const char* target;
    ClientBuildSource source;
    const char* id;
    const char* build;  // nullptr: unknown
  };
  const std::vector<Row> rows = {
      {"nothing", {}, "/", ClientBuildSource::current, "", "dpl-b"},
      {"header", {{"x-deployment-id", "dpl-a"}}, "/", ClientBuildSource::header, "dpl-a", "dpl-a"},
      {"header any case", {{"X-Deployment-Id", "dpl-a"}}, "/", ClientBuildSource::header, "dpl-a", "dpl-a"},
      {"header beats dpl", {{"x-deployment-id", "dpl-b"}}, "/x?dpl=dpl-a", ClientBuildSource::header, "dpl-b", "dpl-b"},
      {"unknown header still wins", {{"x-deployment-id", "dpl-zz"}}, "/?dpl=dpl-a", ClientBuildSource::header,
       "dpl-zz", nullptr},
      {"empty header ignored", {{"x-deployment-id", ""}}, "/?dpl=dpl-a", ClientBuildSource::query, "dpl-a", "dpl-a"},
      {"underscore header ignored", {{"x_deployment_id", "dpl-a"}}, "/", ClientBuildSource::current, "", "dpl-b"},
      {"dpl", {}, "/_next/static/chunks/a.js?dpl=dpl-a", ClientBuildSource::query, "dpl-a", "dpl-a"},
      {"dpl percent-encoded", {}, "/a.js?dpl=dpl%2Da", ClientBuildSource::query, "dpl-a", "dpl-a"},
      {"dpl unknown", {}, "/a.js?dpl=dpl-old", ClientBuildSource::query, "dpl-old", nullptr},
      {"dpl empty ignored", {}, "/a.js?dpl=", ClientBuildSource::current, "", "dpl-b"},
      {"xdpl is not dpl", {}, "/a.js?xdpl=dpl-a", ClientBuildSource::current, "", "dpl-b"},
      {"_rsc is not a build", {}, "/p?_rsc=abc", ClientBuildSource::current, "", "dpl-b"},
      {"dpl after _rsc", {}, "/p?_rsc=abc&dpl=dpl-a", ClientBuildSource::query, "dpl-a", "dpl-a"},
      {"case-sensitive ids", {{"x-deployment-id", "DPL-A"}}, "/", ClientBuildSource::header, "DPL-A", nullptr},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    RequestView view{"GET", row.target, row.headers};
    auto client = resolve_client_build(app, view);
    CHECK(client.source == row.source);
    CHECK(client.id == row.id);
    if (row.build) {
      REQUIRE(client.build != nullptr);
      CHECK(client.build->id == row.build);
    } else {
      CHECK(client.build == nullptr);
    }
  }
}

TEST_CASE("resolve_client_build: documents ignore header and dpl; actions search manifests newest first") {
  AppConfig shop;
  shop.name = "shop";
  shop.hosts = {"shop.example.com"};
  shop.current = "dpl-c";
  const auto address = SocketAddress::parse("127.0.0.1:3001").value();
  shop.builds = {BuildConfig{"dpl-a", {address}, "/a.json", {"shared", "only-a"}, std::nullopt},
                 BuildConfig{"dpl-b", {address}, "/b.json", {"shared", "only-b"}, sg::conf::BuildState::retired},
                 BuildConfig{"dpl-c", {address}, "/c.json", {"only-c"}, std::nullopt}};
  Config config;
  config.apps = {shop};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors);
  REQUIRE(snapshot);
  const auto& app = snapshot->apps()[0];
  using sg::routing::Classification;
  using sg::routing::RequestKind;
  struct Row {
    const char* name;
    RequestKind kind;
    const char* action_id;
    std::vector<HeaderField> headers;
    const char* target;
    ClientBuildSource source;
    const char* id;
    const char* build;
  };
  const std::vector<Row> rows = {
      {"document ignores the header", RequestKind::document, "", {{"x-deployment-id", "dpl-a"}}, "/",
       ClientBuildSource::current, "", "dpl-c"},
      {"document ignores dpl", RequestKind::document, "", {}, "/?dpl=dpl-a", ClientBuildSource::current, "", "dpl-c"},
      {"rsc honours the header", RequestKind::rsc, "", {{"x-deployment-id", "dpl-a"}}, "/",
       ClientBuildSource::header, "dpl-a", "dpl-a"},
      {"action header beats the manifest", RequestKind::action, "only-b", {{"x-deployment-id", "dpl-a"}}, "/",
       ClientBuildSource::header, "dpl-a", "dpl-a"},
      {"action found in current", RequestKind::action, "only-c", {}, "/", ClientBuildSource::action_manifest,
       "dpl-c", "dpl-c"},
      {"newest holder wins, any state", RequestKind::action, "shared", {}, "/", ClientBuildSource::action_manifest,
       "dpl-b", "dpl-b"},
      {"retired holder", RequestKind::action, "only-b", {}, "/", ClientBuildSource::action_manifest, "dpl-b",
       "dpl-b"},
      {"oldest holder", RequestKind::action, "only-a", {}, "/", ClientBuildSource::action_manifest, "dpl-a", "dpl-a"},
      {"unknown ID falls to current", RequestKind::action, "nowhere", {}, "/", ClientBuildSource::current, "",
       "dpl-c"},
      {"empty ID falls to current", RequestKind::action, "", {}, "/", ClientBuildSource::current, "", "dpl-c"},
      {"only actions search manifests", RequestKind::other, "only-a", {}, "/", ClientBuildSource::current, "",
       "dpl-c"},
  };
  for (const Row& row : rows) {
    const std::string row_name = row.name;
    CAPTURE(row_name);
    Classification classification;
    classification.kind = row.kind;
    classification.action_id = row.action_id;
    RequestView view{"POST", row.target, row.headers};
    auto client = resolve_client_build(app, view, classification);
    CHECK(client.source == row.source);
    CHECK(client.id == row.id);
    REQUIRE(client.build != nullptr);
    CHECK(client.build->id == row.build);
  }
}
