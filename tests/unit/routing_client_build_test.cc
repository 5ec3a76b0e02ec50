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
  shop.builds = {BuildConfig{"dpl-a", {SocketAddress::parse("127.0.0.1:3001").value()}, "", std::nullopt},
                 BuildConfig{"dpl-b", {SocketAddress::parse("127.0.0.1:3002").value()}, "", std::nullopt}};
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
