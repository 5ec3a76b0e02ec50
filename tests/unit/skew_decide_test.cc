#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reason_text.h"
#include "skew/decide.h"

using sg::conf::AppConfig;
using sg::conf::BuildConfig;
using sg::conf::BuildState;
using sg::conf::Config;
using sg::conf::SocketAddress;
using sg::routing::Build;
using sg::routing::ClientBuildSource;
using sg::routing::HeaderField;
using sg::routing::RequestView;
using sg::routing::Snapshot;
using sg::skew::decide;
using sg::skew::DecisionInput;
using sg::skew::Outcome;
using sg::skew::Verdict;

namespace {

BuildConfig build(const char* id, const char* address, std::optional<BuildState> state = std::nullopt) {
  return BuildConfig{id, {SocketAddress::parse(address).value()}, "", {}, state};
}

std::shared_ptr<const Snapshot> shop_snapshot() {
  AppConfig shop;
  shop.name = "shop";
  shop.hosts = {"shop.example.com"};
  shop.current = "dpl-b";
  shop.builds = {build("dpl-a", "127.0.0.1:3001"), build("dpl-b", "127.0.0.1:3002"),
                 build("dpl-c", "127.0.0.1:3004", BuildState::preview),
                 build("dpl-0", "127.0.0.1:3000", BuildState::retired), build("dpl-sick", "127.0.0.1:3005")};
  Config config;
  config.apps = {shop};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors);
  REQUIRE(errors.empty());
  return snapshot;
}

// Health arrives with later snapshots; tests flip it in place. The snapshot
// object itself is not const (create() allocates it mutable), so this is legal.
void set_healthy(const Snapshot& snapshot, const char* id, bool healthy) {
  const_cast<Build*>(snapshot.apps()[0].find_build(id))->healthy = healthy;
}

Verdict run(const Snapshot& snapshot, const char* method, const char* target, std::vector<HeaderField> headers) {
  headers.insert(headers.begin(), HeaderField{"Host", "shop.example.com"});
  RequestView view{method, target, headers};
  return decide(DecisionInput{view}, snapshot);
}

}  // namespace

TEST_CASE("to_string(Outcome)") {
  CHECK(std::string(to_string(Outcome::served)) == "served");
  CHECK(std::string(to_string(Outcome::rerouted)) == "rerouted");
  CHECK(std::string(to_string(Outcome::answered)) == "answered");
  CHECK(std::string(to_string(Outcome::error)) == "error");
}

// Issue 3's routing rows, kept under the issue 4 rules: a GET without `rsc`
// is a document (which ignores header and dpl), so rows that exercise a named
// build use POST (kind `other`) or an asset.
TEST_CASE("decide: issue 3 table") {
  auto snapshot = shop_snapshot();
  set_healthy(*snapshot, "dpl-sick", false);
  struct Row {
    const char* name;
    const char* method;
    const char* target;
    std::vector<HeaderField> headers;
    const char* target_build;
    Outcome outcome;
    const char* reason;
    ClientBuildSource source;
  };
  const std::vector<Row> rows = {
      {"document", "GET", "/", {}, "dpl-b", Outcome::served, "", ClientBuildSource::current},
      {"post without id", "POST", "/api/hook", {}, "dpl-b", Outcome::served, "", ClientBuildSource::current},
      {"rsc on retained", "GET", "/p?_rsc=1", {{"rsc", "1"}, {"x-deployment-id", "dpl-a"}}, "dpl-a",
       Outcome::served, "", ClientBuildSource::header},
      {"rsc on current", "GET", "/p?_rsc=1", {{"RSC", "1"}, {"X-Deployment-Id", "dpl-b"}}, "dpl-b", Outcome::served,
       "", ClientBuildSource::header},
      {"asset on retained", "GET", "/_next/static/a.js?dpl=dpl-a", {}, "dpl-a", Outcome::served, "",
       ClientBuildSource::query},
      {"action on retained", "POST", "/p", {{"next-action", "abc"}, {"x-deployment-id", "dpl-a"}}, "dpl-a",
       Outcome::served, "", ClientBuildSource::header},
      {"unknown build", "POST", "/api/x", {{"x-deployment-id", "dpl-zz"}}, "dpl-b", Outcome::rerouted,
       "build_unknown", ClientBuildSource::header},
      {"killed build", "GET", "/_next/static/a.js?dpl=dpl-0", {}, "dpl-b", Outcome::rerouted, "build_killed",
       ClientBuildSource::query},
      {"preview needs a pin", "POST", "/p", {{"x-deployment-id", "dpl-c"}}, "dpl-b", Outcome::rerouted,
       "build_unknown", ClientBuildSource::header},
      {"unhealthy retained", "POST", "/p", {{"x-deployment-id", "dpl-sick"}}, "dpl-b", Outcome::rerouted,
       "build_unhealthy", ClientBuildSource::header},
      {"document ignores the header", "GET", "/p", {{"x-deployment-id", "dpl-zz"}, {"Sec-Fetch-Mode", "navigate"}},
       "dpl-b", Outcome::served, "", ClientBuildSource::current},
      // Issue 14: a GET that is no navigation is `other`.
      {"script GET naming an unknown build", "GET", "/p", {{"x-deployment-id", "dpl-zz"}}, "dpl-b",
       Outcome::rerouted, "build_unknown", ClientBuildSource::header},
      {"script GET naming a retained build", "GET", "/api/x", {{"x-deployment-id", "dpl-a"}}, "dpl-a",
       Outcome::served, "", ClientBuildSource::header},
      {"__vdpl retained", "POST", "/api/x", {{"Cookie", "__vdpl=dpl-a"}}, "dpl-a", Outcome::served, "",
       ClientBuildSource::vdpl_cookie},
      {"__vdpl preview: ignored", "POST", "/api/x", {{"Cookie", "__vdpl=dpl-c"}}, "dpl-b", Outcome::served, "",
       ClientBuildSource::current},
      {"__vdpl unhealthy: ignored", "POST", "/api/x", {{"Cookie", "__vdpl=dpl-sick"}}, "dpl-b", Outcome::served, "",
       ClientBuildSource::current},
      {"underscore header ignored", "GET", "/p", {{"x_deployment_id", "dpl-a"}}, "dpl-b", Outcome::served, "",
       ClientBuildSource::current},
      {"underscore header ignored by a document", "GET", "/p", {{"x_deployment_id", "dpl-a"}, {"Accept", "text/html"}},
       "dpl-b", Outcome::served, "", ClientBuildSource::current},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    Verdict verdict = run(*snapshot, row.method, row.target, row.headers);
    REQUIRE(verdict.app != nullptr);
    CHECK(verdict.app->name == "shop");
    CHECK_FALSE(verdict.answer.has_value());
    REQUIRE(verdict.target != nullptr);
    CHECK(verdict.target->id == row.target_build);
    CHECK(verdict.outcome == row.outcome);
    CHECK(reason_text(verdict.reason) == row.reason);
    CHECK(verdict.client_build.source == row.source);
  }
}

TEST_CASE("decide: unhealthy current answers 503 JSON") {
  auto snapshot = shop_snapshot();
  set_healthy(*snapshot, "dpl-b", false);
  for (const char* target : {"/", "/a.js?dpl=dpl-zz"}) {
    CAPTURE(target);
    Verdict verdict = run(*snapshot, "GET", target, {});
    CHECK(verdict.target == nullptr);
    CHECK(verdict.outcome == Outcome::error);
    CHECK(verdict.reason == sg::metrics::Reason::build_unhealthy);
    REQUIRE(verdict.answer.has_value());
    CHECK(verdict.answer->status == 503);
    auto body = nlohmann::json::parse(verdict.answer->body);
    CHECK(body == nlohmann::json{{"error", "upstream_unavailable"},
                                 {"app", "shop"},
                                 {"build", "dpl-b"},
                                 {"reason", "build_unhealthy"}});
    bool json = false;
    for (const auto& [name, value] : verdict.answer->headers) {
      if (name == "content-type") json = value == "application/json";
    }
    CHECK(json);
  }
  // A healthy retained build still serves its clients.
  Verdict retained = run(*snapshot, "GET", "/_next/static/a.js?dpl=dpl-a", {});
  REQUIRE(retained.target != nullptr);
  CHECK(retained.target->id == "dpl-a");
  CHECK(retained.outcome == Outcome::served);
}

TEST_CASE("decide: no app configured answers 404 no_app") {
  Config config;
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors);
  REQUIRE(snapshot);
  std::vector<HeaderField> headers = {{"Host", "shop.example.com"}};
  RequestView view{"GET", "/", headers};
  Verdict verdict = decide(DecisionInput{view}, *snapshot);
  CHECK(verdict.app == nullptr);
  CHECK(verdict.target == nullptr);
  CHECK(verdict.outcome == Outcome::error);
  CHECK(verdict.reason == sg::metrics::Reason::no_app);
  REQUIRE(verdict.answer.has_value());
  CHECK(verdict.answer->status == 404);
  auto body = nlohmann::json::parse(verdict.answer->body);
  CHECK(body["error"] == "no_app");
  CHECK(body["message"].is_string());
}

TEST_CASE("decide: unmatched host goes to the default app") {
  auto snapshot = shop_snapshot();
  std::vector<HeaderField> headers = {{"Host", "other.example.com:8080"}};
  RequestView view{"GET", "/", headers};
  Verdict verdict = decide(DecisionInput{view}, *snapshot);
  REQUIRE(verdict.app != nullptr);
  CHECK(verdict.app->name == "shop");
  REQUIRE(verdict.target != nullptr);
  CHECK(verdict.target->id == "dpl-b");
}
