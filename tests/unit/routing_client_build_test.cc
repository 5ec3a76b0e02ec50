#include <doctest/doctest.h>

#include <optional>
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
  CHECK(std::string(to_string(ClientBuildSource::vdpl_cookie)) == "vdpl_cookie");
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
      {"action header beats the manifest search", RequestKind::action, "shared", {{"x-deployment-id", "dpl-a"}}, "/",
       ClientBuildSource::header, "dpl-a", "dpl-a"},
      {"action header whose manifest lacks the ID is overruled (only a retired build has it: current)",
       RequestKind::action, "only-b", {{"x-deployment-id", "dpl-a"}}, "/", ClientBuildSource::current, "", "dpl-c"},
      {"action header whose manifest lacks the ID is overruled (current has it)", RequestKind::action, "only-c",
       {{"x-deployment-id", "dpl-a"}}, "/", ClientBuildSource::action_manifest, "dpl-c", "dpl-c"},
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

// Issue 14: steps 1-3 (header, dpl, pin, __vdpl) and the action manifests.
// dpl-old retired, dpl-sick retained unhealthy, dpl-a retained, dpl-p preview,
// dpl-n retained without a manifest, dpl-c current.
TEST_CASE("resolve_client_build: __vdpl, and the action ID overruling a name whose manifest lacks it") {
  AppConfig shop;
  shop.name = "shop";
  shop.hosts = {"shop.example.com"};
  shop.current = "dpl-c";
  const auto address = SocketAddress::parse("127.0.0.1:3001").value();
  shop.builds = {BuildConfig{"dpl-old", {address}, "/o.json", {"shared", "only-old"}, sg::conf::BuildState::retired},
                 BuildConfig{"dpl-sick", {address}, "/s.json", {"shared", "only-sick"}, std::nullopt},
                 BuildConfig{"dpl-a", {address}, "/a.json", {"shared", "only-a"}, std::nullopt},
                 BuildConfig{"dpl-p", {address}, "/p.json", {"only-p"}, sg::conf::BuildState::preview},
                 BuildConfig{"dpl-n", {address}, "", {}, std::nullopt},
                 BuildConfig{"dpl-c", {address}, "/c.json", {"only-c"}, std::nullopt}};
  Config config;
  config.apps = {shop};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors);
  REQUIRE(snapshot);
  const auto& app = snapshot->apps()[0];
  const_cast<sg::routing::Build*>(app.find_build("dpl-sick"))->healthy = false;
  using sg::routing::Classification;
  using sg::routing::CookieHints;
  using sg::routing::RequestKind;
  using Src = ClientBuildSource;
  struct Row {
    const char* name;
    RequestKind kind;
    const char* action_id;
    const char* header;  // "" = none
    const char* pin;
    const char* vdpl;
    Src source;
    const char* id;
    const char* build;  // nullptr: none
    std::optional<Src> overruled;
    const char* overruled_id;
  };
  const std::vector<Row> rows = {
      // __vdpl: below header, dpl and pin; kept builds only; documents ignore it.
      {"vdpl retained", RequestKind::other, "", "", "", "dpl-a", Src::vdpl_cookie, "dpl-a", "dpl-a", {}, ""},
      {"vdpl current", RequestKind::rsc, "", "", "", "dpl-c", Src::vdpl_cookie, "dpl-c", "dpl-c", {}, ""},
      {"vdpl without manifest", RequestKind::other, "", "", "", "dpl-n", Src::vdpl_cookie, "dpl-n", "dpl-n", {}, ""},
      {"vdpl unhealthy: ignored", RequestKind::other, "", "", "", "dpl-sick", Src::current, "", "dpl-c", {}, ""},
      {"vdpl retired: ignored", RequestKind::other, "", "", "", "dpl-old", Src::current, "", "dpl-c", {}, ""},
      {"vdpl preview: ignored", RequestKind::other, "", "", "", "dpl-p", Src::current, "", "dpl-c", {}, ""},
      {"vdpl unknown: ignored", RequestKind::other, "", "", "", "dpl-zz", Src::current, "", "dpl-c", {}, ""},
      {"vdpl ignored by documents", RequestKind::document, "", "", "", "dpl-a", Src::current, "", "dpl-c", {}, ""},
      {"header beats vdpl", RequestKind::other, "", "dpl-c", "", "dpl-a", Src::header, "dpl-c", "dpl-c", {}, ""},
      {"pin beats vdpl", RequestKind::other, "", "", "dpl-c", "dpl-a", Src::pin, "dpl-c", "dpl-c", {}, ""},
      {"ignored vdpl: the manifest search goes on", RequestKind::action, "only-a", "", "", "dpl-p",
       Src::action_manifest, "dpl-a", "dpl-a", {}, ""},
      {"vdpl beats the manifest search when it has the ID", RequestKind::action, "shared", "", "", "dpl-a",
       Src::vdpl_cookie, "dpl-a", "dpl-a", {}, ""},
      // The action ID overrules a kept build whose manifest lacks it.
      {"pin current, ID only a retained build has", RequestKind::action, "only-a", "", "dpl-c", "",
       Src::action_manifest, "dpl-a", "dpl-a", Src::pin, "dpl-c"},
      {"header current, ID only a retained build has", RequestKind::action, "only-a", "dpl-c", "", "",
       Src::action_manifest, "dpl-a", "dpl-a", Src::header, "dpl-c"},
      {"vdpl current, ID only a retained build has", RequestKind::action, "only-a", "", "", "dpl-c",
       Src::action_manifest, "dpl-a", "dpl-a", Src::vdpl_cookie, "dpl-c"},
      {"header retained, ID only current has", RequestKind::action, "only-c", "dpl-a", "", "",
       Src::action_manifest, "dpl-c", "dpl-c", Src::header, "dpl-a"},
      {"shared ID: newest kept healthy holder (retired and unhealthy skipped)", RequestKind::action, "shared",
       "dpl-c", "", "", Src::action_manifest, "dpl-a", "dpl-a", Src::header, "dpl-c"},
      {"ID only retired/unhealthy/preview builds have: current", RequestKind::action, "only-old", "", "dpl-c", "",
       Src::current, "", "dpl-c", Src::pin, "dpl-c"},
      {"ID only the preview has: current", RequestKind::action, "only-p", "dpl-a", "", "", Src::current, "",
       "dpl-c", Src::header, "dpl-a"},
      {"ID in no manifest: current", RequestKind::action, "nowhere", "", "dpl-a", "", Src::current, "", "dpl-c",
       Src::pin, "dpl-a"},
      {"pin preview lacking the ID", RequestKind::action, "only-c", "", "dpl-p", "", Src::action_manifest, "dpl-c",
       "dpl-c", Src::pin, "dpl-p"},
      {"pin preview with the ID", RequestKind::action, "only-p", "", "dpl-p", "", Src::pin, "dpl-p", "dpl-p", {},
       ""},
      // Names that hold.
      {"the named build has the ID", RequestKind::action, "shared", "dpl-a", "dpl-c", "", Src::header, "dpl-a",
       "dpl-a", {}, ""},
      {"no manifest: it answers for itself", RequestKind::action, "only-a", "dpl-n", "", "", Src::header, "dpl-n",
       "dpl-n", {}, ""},
      {"pin without manifest", RequestKind::action, "only-a", "", "dpl-n", "", Src::pin, "dpl-n", "dpl-n", {}, ""},
      {"retired name keeps its reason", RequestKind::action, "only-a", "dpl-old", "", "", Src::header, "dpl-old",
       "dpl-old", {}, ""},
      {"unhealthy name keeps its reason", RequestKind::action, "only-a", "dpl-sick", "", "", Src::header,
       "dpl-sick", "dpl-sick", {}, ""},
      {"preview by header: unknown to the client, never overruled", RequestKind::action, "nowhere", "dpl-p", "", "",
       Src::header, "dpl-p", "dpl-p", {}, ""},
      {"unknown name", RequestKind::action, "only-a", "dpl-zz", "", "", Src::header, "dpl-zz", nullptr, {}, ""},
      {"empty action ID: the name holds", RequestKind::action, "", "dpl-c", "", "", Src::header, "dpl-c", "dpl-c",
       {}, ""},
      {"only actions are overruled", RequestKind::rsc, "only-a", "dpl-c", "", "", Src::header, "dpl-c", "dpl-c", {},
       ""},
  };
  for (const Row& row : rows) {
    const std::string row_name = row.name;
    CAPTURE(row_name);
    Classification classification;
    classification.kind = row.kind;
    classification.action_id = row.action_id;
    std::vector<HeaderField> headers;
    if (*row.header != '\0') headers.push_back({"x-deployment-id", row.header});
    RequestView view{"POST", "/", headers};
    const auto client = resolve_client_build(app, view, classification, CookieHints{row.pin, row.vdpl});
    CHECK(client.source == row.source);
    CHECK(client.id == row.id);
    if (row.build) {
      REQUIRE(client.build != nullptr);
      CHECK(client.build->id == row.build);
    } else {
      CHECK(client.build == nullptr);
    }
    CHECK(client.overruled == row.overruled);
    CHECK(client.overruled_id == row.overruled_id);
  }
  // A react-server function ID is never in a (Next.js) manifest: no evidence.
  Classification react_server;
  react_server.kind = RequestKind::action;
  react_server.action_client = sg::routing::ActionClient::react_server;
  react_server.action_id = "src/actions.mjs#add";
  std::vector<HeaderField> header_c = {{"x-deployment-id", "dpl-c"}};
  auto client = resolve_client_build(app, RequestView{"POST", "/x/rsc.x-component", header_c}, react_server);
  CHECK(client.source == Src::header);
  CHECK(client.id == "dpl-c");
  CHECK_FALSE(client.overruled.has_value());
  client = resolve_client_build(app, RequestView{"POST", "/", {}}, react_server, CookieHints{"dpl-a", ""});
  CHECK(client.source == Src::pin);
  CHECK(client.id == "dpl-a");
}

TEST_CASE("newest_kept_with_action") {
  AppConfig shop;
  shop.name = "shop";
  shop.hosts = {"shop.example.com"};
  shop.current = "dpl-c";
  const auto address = SocketAddress::parse("127.0.0.1:3001").value();
  shop.builds = {BuildConfig{"dpl-a", {address}, "/a.json", {"x", "y"}, std::nullopt},
                 BuildConfig{"dpl-b", {address}, "/b.json", {"x", "z"}, std::nullopt},
                 BuildConfig{"dpl-c", {address}, "/c.json", {"y"}, std::nullopt}};
  Config config;
  config.apps = {shop};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors);
  REQUIRE(snapshot);
  const auto& app = snapshot->apps()[0];
  using sg::routing::newest_kept_with_action;
  CHECK(newest_kept_with_action(app, "x")->id == "dpl-b");
  CHECK(newest_kept_with_action(app, "y")->id == "dpl-c");  // current first
  CHECK(newest_kept_with_action(app, "none") == nullptr);
  CHECK(newest_kept_with_action(app, "") == nullptr);
  const_cast<sg::routing::Build*>(app.find_build("dpl-b"))->healthy = false;
  CHECK(newest_kept_with_action(app, "x")->id == "dpl-a");
  CHECK(newest_kept_with_action(app, "z") == nullptr);
  const_cast<sg::routing::Build*>(app.current)->healthy = false;  // kept, but not healthy
  CHECK(newest_kept_with_action(app, "y")->id == "dpl-a");
}

// Issue 15: absence from a known ID set is evidence only when the set's
// source is the call's framework (ids_known_for). Builds: rs-a (retained,
// react-server chunks {f-a, shared}), rs-b (current, chunks {f-b, shared}),
// nx (retained, Next.js manifest {n-1}), none (retained, nothing known).
namespace {

std::shared_ptr<const Snapshot> mixed_snapshot(const std::string& current = "rs-b") {
  using sg::conf::ActionIdSource;
  AppConfig app;
  app.name = "todo";
  app.hosts = {"todo.example.com"};
  app.current = current;
  const auto address = SocketAddress::parse("127.0.0.1:3001").value();
  BuildConfig none{"none", {address}, "", {}, std::nullopt};
  BuildConfig nx{"nx", {address}, "", {"n-1"}, std::nullopt};
  nx.action_id_source = ActionIdSource::next_manifest;
  BuildConfig rs_a{"rs-a", {address}, "", {"f-a", "shared"}, std::nullopt};
  rs_a.action_id_source = ActionIdSource::react_server_chunks;
  BuildConfig rs_b{"rs-b", {address}, "", {"f-b", "shared"}, std::nullopt};
  rs_b.action_id_source = ActionIdSource::react_server_chunks;
  app.builds = {none, nx, rs_a, rs_b};
  Config config;
  config.apps = {app};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors);
  REQUIRE(errors.empty());
  return snapshot;
}

}  // namespace

TEST_CASE("ids_known_for / lacks_action: a set speaks only for calls of its framework") {
  using sg::routing::ActionClient;
  auto snapshot = mixed_snapshot();
  const auto& app = snapshot->apps()[0];
  const auto& rs = *app.find_build("rs-a");
  const auto& nx = *app.find_build("nx");
  const auto& none = *app.find_build("none");
  CHECK(rs.ids_from == sg::conf::ActionIdSource::react_server_chunks);
  CHECK(sg::routing::ids_known_for(rs, ActionClient::react_server));
  CHECK_FALSE(sg::routing::ids_known_for(rs, ActionClient::next_js));
  CHECK(sg::routing::ids_known_for(rs, ActionClient::form_post));
  CHECK(sg::routing::ids_known_for(nx, ActionClient::next_js));
  CHECK_FALSE(sg::routing::ids_known_for(nx, ActionClient::react_server));
  CHECK(sg::routing::ids_known_for(nx, ActionClient::form_post));
  for (auto client : {ActionClient::next_js, ActionClient::react_server, ActionClient::form_post})
    CHECK_FALSE(sg::routing::ids_known_for(none, client));
  CHECK(sg::routing::lacks_action(rs, ActionClient::react_server, "f-b"));
  CHECK_FALSE(sg::routing::lacks_action(rs, ActionClient::react_server, "f-a"));
  CHECK_FALSE(sg::routing::lacks_action(rs, ActionClient::react_server, ""));
  CHECK_FALSE(sg::routing::lacks_action(rs, ActionClient::next_js, "f-b"));
  CHECK(sg::routing::lacks_action(rs, ActionClient::form_post, "f-b"));
  CHECK_FALSE(sg::routing::lacks_action(nx, ActionClient::react_server, "f-b"));
}

TEST_CASE("resolve_client_build: react-server calls and chunk IDs (pinned build, else newest kept holder)") {
  using sg::routing::ActionClient;
  using sg::routing::Classification;
  using sg::routing::CookieHints;
  using sg::routing::RequestKind;
  using Src = ClientBuildSource;
  auto snapshot = mixed_snapshot();
  const auto& app = snapshot->apps()[0];
  struct Row {
    const char* name;
    ActionClient client;
    const char* id;
    const char* pin;
    Src source;
    const char* build;
    std::optional<Src> overruled;
  };
  const std::vector<Row> rows = {
      {"pinned build has it", ActionClient::react_server, "f-a", "rs-a", Src::pin, "rs-a", {}},
      {"pinned build lacks it, an older kept build has it", ActionClient::react_server, "f-a", "rs-b",
       Src::action_manifest, "rs-a", Src::pin},
      {"shared: the pin holds", ActionClient::react_server, "shared", "rs-a", Src::pin, "rs-a", {}},
      {"in no set: current, overruled", ActionClient::react_server, "gone", "rs-a", Src::current, "rs-b", Src::pin},
      {"pinned to a Next.js-manifest build: no evidence", ActionClient::react_server, "f-a", "nx", Src::pin, "nx", {}},
      {"pinned to a build without ids", ActionClient::react_server, "f-a", "none", Src::pin, "none", {}},
      {"no pin: newest build whose set has it", ActionClient::react_server, "f-a", "", Src::action_manifest, "rs-a",
       {}},
      {"no pin, in no set: current", ActionClient::react_server, "gone", "", Src::current, "rs-b", {}},
      // A Next.js call says nothing about react-server chunks.
      {"next call pinned to a chunks build", ActionClient::next_js, "f-b", "rs-a", Src::pin, "rs-a", {}},
      // A no-JS form post is either framework's: any set counts.
      {"form post pinned to a chunks build lacking it", ActionClient::form_post, "f-a", "rs-b", Src::action_manifest,
       "rs-a", Src::pin},
      {"form post pinned to a manifest build lacking it", ActionClient::form_post, "f-a", "nx", Src::action_manifest,
       "rs-a", Src::pin},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    Classification c;
    c.kind = RequestKind::action;
    c.action_client = row.client;
    c.action_id = row.id;
    const auto client = resolve_client_build(app, RequestView{"POST", "/t/rsc.x-component", {}}, c,
                                             CookieHints{row.pin, ""});
    CHECK(client.source == row.source);
    REQUIRE(client.build != nullptr);
    CHECK(client.build->id == row.build);
    CHECK(client.overruled == row.overruled);
  }
}

TEST_CASE("resolve_client_build: a react-server navigation ignores header, dpl and __vdpl, as a document does") {
  using sg::routing::Classification;
  using sg::routing::CookieHints;
  using sg::routing::RequestFramework;
  using sg::routing::RequestKind;
  auto snapshot = mixed_snapshot();
  const auto& app = snapshot->apps()[0];
  Classification nav;
  nav.kind = RequestKind::rsc;
  nav.framework = RequestFramework::react_server;
  std::vector<HeaderField> header = {{"x-deployment-id", "rs-a"}};
  auto client = resolve_client_build(app, RequestView{"POST", "/t/rsc.x-component?dpl=rs-a", header}, nav,
                                     CookieHints{"", "rs-a"});
  CHECK(client.source == ClientBuildSource::current);
  CHECK(client.build->id == "rs-b");
  // The pin is reported (skew::decide says which pinned builds it may load).
  client = resolve_client_build(app, RequestView{"POST", "/t/rsc.x-component", {}}, nav, CookieHints{"rs-a", ""});
  CHECK(client.source == ClientBuildSource::pin);
  // A Next.js rsc request still honours the header.
  nav.framework = RequestFramework::next;
  client = resolve_client_build(app, RequestView{"GET", "/t", header}, nav);
  CHECK(client.source == ClientBuildSource::header);
}
