// A build is what it claims (issue 14 item 6): how one probe's result is
// judged, and which builds of the config file are probed at start and at a
// reload. Pure tables; the probes themselves are wire-tested in
// tests/integration/test_build_verify.py.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conf/load.h"
#include "gateway/control/build_verifier.h"

using namespace sg::gateway;
using Outcome = ProbeResult::Outcome;

namespace {

sg::conf::SocketAddress address(const char* text) { return *sg::conf::SocketAddress::parse(text); }

const VerifyTarget kTarget{"shop", "dpl-b", {address("127.0.0.1:3002")}, "shop.test"};

std::string verdict(const ProbeResult& result) {
  VerifyOutcome outcome;
  judge(kTarget, address("127.0.0.1:3002"), result, outcome);
  if (!outcome.mismatches.empty()) return "refused:" + outcome.mismatches.front().reported;
  return outcome.notes.empty() ? "passed" : "passed, logged";
}

sg::conf::Config load(const std::string& apps) {
  const auto result = sg::conf::load_string("listeners: [{address: 127.0.0.1:8080}]\napps:\n" + apps, "t.yaml");
  REQUIRE_MESSAGE(result.config.has_value(), (result.errors.empty() ? std::string() : result.errors.front().to_string()));
  return *result.config;
}

std::vector<std::string> names(const std::vector<VerifyTarget>& targets) {
  std::vector<std::string> out;
  for (const auto& t : targets) out.push_back(t.app + "/" + t.build);
  return out;
}

}  // namespace

TEST_CASE("verify: each probe outcome, judged") {
  const struct {
    const char* name;
    ProbeResult result;
    std::string expected;
  } rows[] = {
      {"own ID by header", {Outcome::reported, "dpl-b", IdSource::header, 200, ""}, "passed"},
      {"own ID by html", {Outcome::reported, "dpl-b", IdSource::html, 200, ""}, "passed"},
      {"other ID by header", {Outcome::reported, "dpl-a", IdSource::header, 200, ""}, "refused:dpl-a"},
      {"other ID by html", {Outcome::reported, "dpl-a", IdSource::html, 404, ""}, "refused:dpl-a"},
      {"case differs", {Outcome::reported, "DPL-B", IdSource::html, 200, ""}, "refused:DPL-B"},
      {"two IDs in the header", {Outcome::reported, "dpl-b, dpl-a", IdSource::header, 200, ""}, "refused:dpl-b, dpl-a"},
      {"no ID", {Outcome::no_id, "", IdSource::header, 200, "x"}, "passed, logged"},
      {"unreachable", {Outcome::unreachable, "", IdSource::header, 0, "connection refused"}, "passed, logged"},
      {"timed out", {Outcome::timed_out, "", IdSource::header, 0, "x"}, "passed, logged"},
      {"not HTTP", {Outcome::bad_response, "", IdSource::header, 0, "x"}, "passed, logged"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    CHECK(verdict(row.result) == row.expected);
  }
}

TEST_CASE("verify: the refusal names both IDs, how it was read and where") {
  const Mismatch m{"shop", "dpl-b", "dpl-a\n", IdSource::html, "127.0.0.1:3002"};
  const std::string message = m.message();
  CHECK(message.find("build 'dpl-b' of app 'shop' reports deployment ID 'dpl-a\\x0a'") == 0);
  CHECK(message.find("<html data-dpl-id> attribute from 127.0.0.1:3002") != std::string::npos);
  CHECK(message.find("verify: false") != std::string::npos);
  CHECK(m.to_json() == nlohmann::json::parse(R"({"app":"shop","build":"dpl-b","registered":"dpl-b",
      "reported":"dpl-a\\x0a","source":"html","upstream":"127.0.0.1:3002"})"));
}

TEST_CASE("verify: the probe's Host is the app's first exact name") {
  sg::conf::AppConfig app;
  app.hosts = {"*.shop.test", "shop.test"};
  CHECK(probe_host(app) == "shop.test");
  app.hosts = {"*.shop.test"};
  CHECK(probe_host(app) == "localhost");
}

TEST_CASE("verify: builds probed at start") {
  const auto config = load(R"(  - name: shop
    hosts: [shop.test]
    current: b
    builds:
      - {id: a, upstreams: [127.0.0.1:3001]}
      - {id: b, upstreams: [127.0.0.1:3002, 127.0.0.1:3003]}
      - {id: p, upstreams: [127.0.0.1:3004], state: preview}
      - {id: r, upstreams: [127.0.0.1:3005], state: retired}
      - {id: off, upstreams: [127.0.0.1:3006], verify: false}
  - name: dyn
    hosts: [dyn.test]
    registry: api
)");
  const auto targets = targets_at_start(config);
  CHECK(names(targets) == std::vector<std::string>{"shop/a", "shop/b", "shop/p"});
  CHECK(targets[1].upstreams.size() == 2);
  CHECK(targets[1].host == "shop.test");
}

TEST_CASE("verify: builds probed at a reload: new, moved, or becoming current") {
  const std::string before = R"(  - name: shop
    hosts: [shop.test]
    current: a
    builds:
      - {id: a, upstreams: [127.0.0.1:3001]}
      - {id: b, upstreams: [127.0.0.1:3002]}
)";
  const auto running = load(before);
  const struct {
    const char* name;
    std::string next;
    std::vector<std::string> probed;
  } rows[] = {
      {"nothing changed", before, {}},
      {"a new build", before + "      - {id: c, upstreams: [127.0.0.1:3003]}\n", {"shop/c"}},
      {"a new build, verify: false", before + "      - {id: c, upstreams: [127.0.0.1:3003], verify: false}\n", {}},
      {"a promote in the file", R"(  - name: shop
    hosts: [shop.test]
    current: b
    builds:
      - {id: a, upstreams: [127.0.0.1:3001]}
      - {id: b, upstreams: [127.0.0.1:3002]}
)",
       {"shop/b"}},
      {"upstreams moved", R"(  - name: shop
    hosts: [shop.test]
    current: a
    builds:
      - {id: a, upstreams: [127.0.0.1:3001]}
      - {id: b, upstreams: [127.0.0.1:3009]}
)",
       {"shop/b"}},
      {"retired now", R"(  - name: shop
    hosts: [shop.test]
    current: a
    builds:
      - {id: a, upstreams: [127.0.0.1:3001]}
      - {id: b, upstreams: [127.0.0.1:3009], state: retired}
)",
       {}},
      {"a new app", before + R"(  - name: blog
    hosts: [blog.test]
    current: v1
    builds: [{id: v1, upstreams: [127.0.0.1:4001]}]
)",
       {"blog/v1"}},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    CHECK(names(targets_at_reload(running, load(row.next))) == row.probed);
  }
}
