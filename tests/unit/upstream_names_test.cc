#include <doctest/doctest.h>

#include "gateway/control/upstream_names.h"

namespace sg::gateway {
namespace {

conf::SocketAddress at(const char* text) { return conf::SocketAddress::parse_upstream(text).value(); }

conf::Config config_with_names() {
  conf::Config config;
  conf::AppConfig shop;
  shop.name = "shop";
  shop.current = "b";
  shop.builds = {conf::BuildConfig{"a", {at("shop-a:3000"), at("127.0.0.1:1")}, "", {}, std::nullopt},
                 conf::BuildConfig{"b", {at("shop-b:3000"), at("shop-a:3001")}, "", {}, std::nullopt},
                 conf::BuildConfig{"z", {at("gone:3000")}, "", {}, conf::BuildState::retired}};
  conf::AppConfig blog;
  blog.name = "blog";
  blog.current = "x";
  blog.builds = {conf::BuildConfig{"x", {at("shop-a:80")}, "", {}, std::nullopt}};
  config.apps = {shop, blog};
  return config;
}

TEST_CASE("upstream_names: every name with the builds that use it; retired builds resolve nothing") {
  const NameUsers users = upstream_names(config_with_names());
  REQUIRE(users.size() == 2);
  CHECK(users.at("shop-a") == std::vector<std::string>{"shop\na", "shop\nb", "blog\nx"});
  CHECK(users.at("shop-b") == std::vector<std::string>{"shop\nb"});
  CHECK_FALSE(users.contains("gone"));
  CHECK(names_in({at("127.0.0.1:1"), at("x:1"), at("x:2"), at("unix:/s")}) == std::set<std::string>{"x"});
}

TEST_CASE("normalized_addresses and answer_changes: the set counts, not the order or the port") {
  const auto one = normalized_addresses({at("10.0.0.2:0"), at("[::1]:0"), at("10.0.0.1:53"), at("10.0.0.2:0")});
  REQUIRE(one.size() == 3);
  CHECK(one[0].to_string() == "10.0.0.1:0");
  CHECK(one[1].to_string() == "10.0.0.2:0");
  CHECK(one[2].to_string() == "[::1]:0");
  const auto shuffled = normalized_addresses({at("[::1]:0"), at("10.0.0.2:0"), at("10.0.0.1:0")});
  routing::ResolvedNames resolved;
  CHECK(answer_changes(resolved, "shop-a", one));  // never resolved before
  resolved["shop-a"] = one;
  CHECK_FALSE(answer_changes(resolved, "shop-a", shuffled));
  CHECK(answer_changes(resolved, "shop-a", normalized_addresses({at("10.0.0.1:0")})));
}

TEST_CASE("next_lookup_in: refresh, sooner for a shorter TTL, never below 1s") {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  CHECK(next_lookup_in(seconds(5), std::nullopt) == milliseconds(5000));  // a failure: refresh
  CHECK(next_lookup_in(seconds(5), seconds(300)) == milliseconds(5000));
  CHECK(next_lookup_in(seconds(5), seconds(2)) == milliseconds(2000));
  CHECK(next_lookup_in(seconds(5), seconds(0)) == milliseconds(1000));  // TTL 0 cannot spin the loop
  CHECK(next_lookup_in(seconds(30), seconds(1)) == milliseconds(1000));
}

TEST_CASE("resolve_targets: probes go to the addresses; an unresolved name is noted and left out") {
  routing::ResolvedNames resolved;
  resolved["shop-a"] = {at("10.0.0.1:0"), at("10.0.0.2:0")};
  std::vector<std::string> notes;
  const auto targets = resolve_targets(
      {VerifyTarget{"shop", "a", {at("shop-a:3000"), at("never:1"), at("127.0.0.1:9")}, "shop.example.com"}}, resolved,
      notes);
  REQUIRE(targets.size() == 1);
  std::vector<std::string> texts;
  for (const auto& u : targets[0].upstreams) texts.push_back(u.to_string());
  CHECK(texts == std::vector<std::string>{"10.0.0.1:3000", "10.0.0.2:3000", "127.0.0.1:9"});
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].find("never:1") != std::string::npos);
  CHECK(notes[0].find("has not resolved") != std::string::npos);
}

}  // namespace
}  // namespace sg::gateway
