#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "routing/snapshot.h"

using sg::conf::AppConfig;
using sg::conf::BuildConfig;
using sg::conf::BuildState;
using sg::conf::Config;
using sg::conf::SocketAddress;
using sg::routing::App;
using sg::routing::Snapshot;

namespace {

SocketAddress upstream(const char* text) { return SocketAddress::parse(text).value(); }

AppConfig app(std::string name, std::vector<std::string> hosts, bool is_default = false) {
  AppConfig config;
  config.name = name;
  config.hosts = std::move(hosts);
  config.is_default = is_default;
  config.current = name + "-b";
  config.builds = {BuildConfig{name + "-a", {upstream("127.0.0.1:3001")}, "", {}, std::nullopt},
                   BuildConfig{name + "-b", {upstream("127.0.0.1:3002"), upstream("[::1]:3003")}, "", {}, std::nullopt}};
  return config;
}

std::shared_ptr<const Snapshot> build(std::vector<AppConfig> apps, std::vector<std::string>* errors_out = nullptr) {
  Config config;
  config.source = "test.yaml";
  config.apps = std::move(apps);
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors, 7);
  if (errors_out) *errors_out = errors;
  return snapshot;
}

std::string app_for(const Snapshot& snapshot, const char* host) {
  const App* found = snapshot.find_app(host);
  return found ? found->name : "<none>";
}

bool mentions(const std::vector<std::string>& errors, const std::string& text) {
  for (const std::string& error : errors) {
    if (error.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("builds: state, current, pool key, config pointer") {
  AppConfig shop = app("shop", {"shop.example.com"});
  shop.builds.push_back(BuildConfig{"shop-p", {upstream("127.0.0.1:3004")}, "", {}, BuildState::preview});
  shop.builds.push_back(BuildConfig{"shop-0", {upstream("unix:/run/a.sock")}, "", {}, BuildState::retired});
  auto snapshot = build({shop});
  REQUIRE(snapshot);
  CHECK(snapshot->generation() == 7);
  REQUIRE(snapshot->apps().size() == 1);
  const App& shop_app = snapshot->apps()[0];
  CHECK(shop_app.name == "shop");
  CHECK(shop_app.config == &snapshot->config().apps[0]);
  REQUIRE(shop_app.builds.size() == 4);
  CHECK(shop_app.builds[0].state == BuildState::retained);
  CHECK(shop_app.builds[1].state == BuildState::current);
  CHECK(shop_app.builds[2].state == BuildState::preview);
  CHECK(shop_app.builds[3].state == BuildState::retired);
  CHECK(shop_app.current == &shop_app.builds[1]);
  CHECK(shop_app.builds[1].healthy);
  CHECK(shop_app.builds[1].pool_key == "shop/shop-b/127.0.0.1:3002,[::1]:3003");
  CHECK(shop_app.builds[0].pool_key == "shop/shop-a/127.0.0.1:3001");
  CHECK(shop_app.builds[3].upstreams.size() == 1);
  CHECK(shop_app.find_build("shop-a") == &shop_app.builds[0]);
  CHECK(shop_app.find_build("SHOP-A") == nullptr);
  CHECK(shop_app.find_build("") == nullptr);
}

TEST_CASE("pool keys are stable across snapshots") {
  auto first = build({app("shop", {"shop.example.com"})});
  auto second = build({app("shop", {"shop.example.com"})});
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->apps()[0].builds[1].pool_key == second->apps()[0].builds[1].pool_key);
}

TEST_CASE("find_app: exact, case, port, trailing dot, wildcards, default") {
  auto snapshot = build({
      app("shop", {"shop.example.com", "*.shop.example.com"}),
      app("eu", {"*.eu.shop.example.com", "Blog.Example.com."}),
      app("local", {"[::1]", "127.0.0.1"}),
  });
  REQUIRE(snapshot);
  struct Row {
    const char* host;
    const char* app;
  };
  for (Row row : {
           Row{"shop.example.com", "shop"},
           Row{"SHOP.Example.Com", "shop"},
           Row{"shop.example.com:8080", "shop"},
           Row{"shop.example.com.", "shop"},
           Row{"shop.example.com.:443", "shop"},
           Row{"a.shop.example.com", "shop"},
           Row{"a.b.shop.example.com", "shop"},
           Row{"eu.shop.example.com", "shop"},           // "*.eu..." needs a label before "eu"
           Row{"x.eu.shop.example.com", "eu"},           // longest suffix wins
           Row{"y.x.eu.shop.example.com:80", "eu"},
           Row{"blog.example.com", "eu"},                // config host normalised
           Row{"example.com", "shop"},                   // default: first app
           Row{"xshop.example.com", "shop"},             // not a wildcard match: default anyway
           Row{".shop.example.com", "shop"},
           Row{"[::1]:8080", "local"},
           Row{"[::1]", "local"},
           Row{"127.0.0.1:3000", "local"},
           Row{"", "shop"},
       }) {
    CAPTURE(row.host);
    CHECK(app_for(*snapshot, row.host) == row.app);
  }
}

TEST_CASE("find_app: wildcard does not match its bare suffix") {
  auto snapshot = build({app("other", {"other.example.com"}), app("shop", {"*.shop.example.com"})});
  REQUIRE(snapshot);
  CHECK(app_for(*snapshot, "shop.example.com") == "other");  // default, not the wildcard app
  CHECK(app_for(*snapshot, "a.shop.example.com") == "shop");
  CHECK(app_for(*snapshot, "a.b.shop.example.com") == "shop");
}

TEST_CASE("find_app: default: true beats the first app") {
  auto snapshot = build({app("first", {"first.example.com"}), app("fallback", {"fallback.example.com"}, true)});
  REQUIRE(snapshot);
  CHECK(app_for(*snapshot, "unknown.example.com") == "fallback");
  CHECK(app_for(*snapshot, "first.example.com") == "first");
}

TEST_CASE("find_app: long host names fall back to a heap copy") {
  std::string label(300, 'A');
  auto snapshot = build({app("shop", {"*.shop.example.com"}), app("long", {std::string(300, 'a') + ".example.com"})});
  REQUIRE(snapshot);
  CHECK(app_for(*snapshot, (label + ".example.com").c_str()) == "long");
  CHECK(app_for(*snapshot, (label + ".shop.example.com").c_str()) == "shop");
}

TEST_CASE("find_app with no apps returns nullptr") {
  auto snapshot = build({});
  REQUIRE(snapshot);
  CHECK(snapshot->find_app("shop.example.com") == nullptr);
}

TEST_CASE("validation errors are all reported") {
  AppConfig bad_current = app("shop", {"shop.example.com"});
  bad_current.current = "dpl-missing";
  AppConfig duplicate_ids = app("blog", {"blog.example.com", "SHOP.example.com"});
  duplicate_ids.builds.push_back(duplicate_ids.builds[0]);
  std::vector<std::string> errors;
  CHECK(build({bad_current, duplicate_ids}, &errors) == nullptr);
  CHECK(errors.size() == 3);
  CHECK(mentions(errors, "test.yaml: apps[0].current: current build 'dpl-missing'"));
  CHECK(mentions(errors, "apps[1].builds[2].id: build id 'blog-a' appears twice"));
  CHECK(mentions(errors, "apps[1].hosts[1]: host 'shop.example.com' is already served by app 'shop'"));
}

TEST_CASE("validation: duplicate wildcard, two defaults, current written as preview") {
  AppConfig shop = app("shop", {"*.example.com"}, true);
  AppConfig blog = app("blog", {"*.EXAMPLE.com"}, true);
  blog.builds[1].state = BuildState::preview;
  AppConfig weird = app("weird", {"a.*.example.com"});
  std::vector<std::string> errors;
  CHECK(build({shop, blog, weird}, &errors) == nullptr);
  CHECK(mentions(errors, "host '*.example.com' is already served by app 'shop'"));
  CHECK(mentions(errors, "both marked default: true"));
  CHECK(mentions(errors, "apps[1].current: current build 'blog-b' is written as state: preview"));
  CHECK(mentions(errors, "apps[2].hosts[0]: expected a host name or '*.suffix'"));
}

TEST_CASE("runtime_key: app and build id joined by a newline") {
  CHECK(sg::routing::runtime_key("shop", "dpl-a") == "shop\ndpl-a");
  CHECK(sg::routing::runtime_key("", "") == "\n");
}

TEST_CASE("builds: manifests, kill switch, newest_first") {
  AppConfig shop = app("shop", {"shop.example.com"});  // shop-a, shop-b (current)
  shop.builds[0].manifest = "/srv/a/server-reference-manifest.json";
  shop.builds[0].action_ids = {"aa", "bb"};
  shop.builds.push_back(BuildConfig{"shop-c", {upstream("127.0.0.1:3004")}, "", {"cc"}, std::nullopt});
  shop.builds.push_back(BuildConfig{"shop-0", {upstream("127.0.0.1:3000")}, "", {}, BuildState::retired});
  auto snapshot = build({shop});
  REQUIRE(snapshot);
  const App& a = snapshot->apps()[0];
  CHECK(a.builds[0].has_manifest);
  CHECK(a.builds[0].action_ids.contains(std::string_view("aa")));
  CHECK(a.builds[0].action_ids.size() == 2);
  CHECK_FALSE(a.builds[1].has_manifest);  // no manifest: has_manifest false, no IDs
  CHECK(a.builds[2].has_manifest);        // IDs given directly (admin API) count as a manifest
  CHECK(a.builds[3].state == BuildState::retired);
  CHECK(a.builds[3].retired_by == sg::routing::RetiredBy::kill_switch);
  CHECK(a.builds[0].retired_by == sg::routing::RetiredBy::none);
  CHECK(a.builds[0].superseded_at_ms == 0);
  // Current first, then the others in reverse config order (config lists oldest first).
  REQUIRE(a.newest_first.size() == 4);
  CHECK(a.newest_first[0]->id == "shop-b");
  CHECK(a.newest_first[1]->id == "shop-0");
  CHECK(a.newest_first[2]->id == "shop-c");
  CHECK(a.newest_first[3]->id == "shop-a");
}

TEST_CASE("builds: runtime state folds in health, supersede time and retention") {
  AppConfig shop = app("shop", {"shop.example.com"});
  shop.builds.push_back(BuildConfig{"shop-p", {upstream("127.0.0.1:3004")}, "", {}, BuildState::preview});
  shop.builds.push_back(BuildConfig{"shop-0", {upstream("127.0.0.1:3000")}, "", {}, BuildState::retired});
  sg::routing::RuntimeState runtime;
  runtime[sg::routing::runtime_key("shop", "shop-a")] = {1'700'000'000'000, true, false};
  runtime[sg::routing::runtime_key("shop", "shop-b")] = {5, true, false};  // current: never retired by retention
  runtime[sg::routing::runtime_key("shop", "shop-p")] = {0, true, true};   // preview: not retained, kept
  runtime[sg::routing::runtime_key("shop", "shop-0")] = {0, true, true};   // killed stays killed
  runtime[sg::routing::runtime_key("other", "shop-a")] = {0, false, false};
  Config config;
  config.source = "test.yaml";
  config.apps = {shop};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors, 1, &runtime);
  REQUIRE(snapshot);
  const App& a = snapshot->apps()[0];
  CHECK(a.builds[0].state == BuildState::retired);
  CHECK(a.builds[0].retired_by == sg::routing::RetiredBy::retention);
  CHECK(a.builds[0].superseded_at_ms == 1'700'000'000'000);
  CHECK_FALSE(a.builds[0].healthy);
  CHECK(a.builds[1].state == BuildState::current);
  CHECK(a.builds[1].retired_by == sg::routing::RetiredBy::none);
  CHECK(a.builds[1].superseded_at_ms == 5);
  CHECK(a.builds[2].state == BuildState::preview);
  CHECK(a.builds[3].retired_by == sg::routing::RetiredBy::kill_switch);
  CHECK(a.current == &a.builds[1]);
}

namespace {

SocketAddress named(const char* text) { return SocketAddress::parse_upstream(text).value(); }

std::shared_ptr<const Snapshot> with_names(const sg::routing::ResolvedNames* resolved) {
  AppConfig shop = app("shop", {"shop.example.com"});
  // current: a name plus a numeric upstream; retained: a name only.
  shop.builds[1].upstreams = {named("shop-b.internal:3000"), upstream("127.0.0.1:3002")};
  shop.builds[0].upstreams = {named("shop-a.internal:3001")};
  Config config;
  config.source = "test.yaml";
  config.apps = {shop};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors, 1, nullptr, resolved);
  REQUIRE(errors.empty());
  return snapshot;
}

}  // namespace

TEST_CASE("resolve_upstreams: each name becomes its addresses on its port, in order, each address once") {
  sg::routing::ResolvedNames resolved;
  resolved["shop-b.internal"] = {upstream("10.0.0.2:0"), upstream("10.0.0.3:0"), upstream("[fd00::2]:0")};
  resolved["dup.internal"] = {upstream("127.0.0.1:0")};
  std::size_t unresolved = 0;
  const auto out = sg::routing::resolve_upstreams(
      {upstream("127.0.0.1:3002"), named("shop-b.internal:3000"), named("never.internal:1"), named("dup.internal:3002")},
      &resolved, &unresolved);
  std::vector<std::string> texts;
  for (const auto& a : out) texts.push_back(a.to_string());
  CHECK(texts == std::vector<std::string>{"127.0.0.1:3002", "10.0.0.2:3000", "10.0.0.3:3000", "[fd00::2]:3000"});
  CHECK(unresolved == 1);
  // Without any resolved names, only the numeric upstreams remain.
  CHECK(sg::routing::resolve_upstreams({named("shop-b.internal:3000")}, nullptr).empty());
}

TEST_CASE("a snapshot holds resolved addresses; a build whose names never resolved is unhealthy") {
  const auto none = with_names(nullptr);
  const App& app = none->apps()[0];
  const auto& retained = app.builds[0];
  const auto& current = app.builds[1];
  CHECK(retained.upstreams.empty());
  CHECK(retained.unresolved_names == 1);
  CHECK_FALSE(retained.healthy);
  CHECK_FALSE(retained.kept());  // its clients get the reload answer
  REQUIRE(current.upstreams.size() == 1);  // the numeric one keeps it serving
  CHECK(current.upstreams[0].to_string() == "127.0.0.1:3002");
  CHECK(current.healthy);
  // The configured names stay in the config.
  CHECK(none->config().apps[0].builds[0].upstreams[0].to_string() == "shop-a.internal:3001");

  sg::routing::ResolvedNames resolved;
  resolved["shop-a.internal"] = {upstream("10.0.0.1:0"), upstream("10.0.0.9:0")};
  resolved["shop-b.internal"] = {upstream("10.0.0.2:0")};
  const auto some = with_names(&resolved);
  const auto& a = some->apps()[0].builds[0];
  CHECK(a.healthy);
  CHECK(a.unresolved_names == 0);
  REQUIRE(a.upstreams.size() == 2);
  CHECK(a.upstreams[1].to_string() == "10.0.0.9:3001");
  CHECK(a.pool_key == "shop/shop-a/10.0.0.1:3001,10.0.0.9:3001");

  // The same set again: the same pool key (warm connections stay); a new set: another.
  CHECK(with_names(&resolved)->apps()[0].builds[0].pool_key == a.pool_key);
  resolved["shop-a.internal"] = {upstream("10.0.0.1:0")};
  CHECK(with_names(&resolved)->apps()[0].builds[0].pool_key == "shop/shop-a/10.0.0.1:3001");
}
