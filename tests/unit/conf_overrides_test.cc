#include <doctest/doctest.h>
#include <stdlib.h>

#include "conf/overrides.h"

namespace sg::conf {
namespace {

constexpr std::string_view kTwoListeners = R"(listeners:
  - address: 127.0.0.1:8080
  - address: 127.0.0.1:8081
    redirect_https: true
admin: {address: 127.0.0.1:9901}
state_dir: /var/lib/skewgate
apps:
  - name: shop
    hosts: [shop.example.com]
    current: dpl-a
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001]}
)";

SocketAddress address(std::string_view text) { return SocketAddress::parse(text).value(); }

LoadResult loaded_with(const ProcessOverrides& overrides, std::string_view yaml = kTwoListeners) {
  LoadResult result = load_string(yaml, "t.yaml");
  REQUIRE(result.config.has_value());
  apply_overrides(overrides, result);
  return result;
}

std::string errors_of(const LoadResult& result) {
  std::string out;
  for (const auto& d : result.errors) out += d.to_string() + "\n";
  return out;
}

TEST_CASE("no overrides leave the file as it is") {
  const LoadResult result = loaded_with({});
  REQUIRE(result.config.has_value());
  CHECK(result.config->listeners.at(0).address.to_string() == "127.0.0.1:8080");
  CHECK(result.config->admin.address.to_string() == "127.0.0.1:9901");
  CHECK(result.config->state_dir == "/var/lib/skewgate");
}

TEST_CASE("--listen replaces listeners in order and keeps what else each listener says") {
  ProcessOverrides overrides;
  overrides.listen = {address("127.0.0.1:18080")};
  LoadResult result = loaded_with(overrides);
  REQUIRE(errors_of(result) == "");
  CHECK(result.config->listeners.at(0).address.to_string() == "127.0.0.1:18080");
  CHECK(result.config->listeners.at(1).address.to_string() == "127.0.0.1:8081");

  overrides.listen = {address("[::1]:18080"), address("unix:/run/sg.sock")};
  result = loaded_with(overrides);
  REQUIRE(errors_of(result) == "");
  CHECK(result.config->listeners.at(0).address.to_string() == "[::1]:18080");
  CHECK(result.config->listeners.at(1).address.to_string() == "unix:/run/sg.sock");
  CHECK(result.config->listeners.at(1).redirect_https);
}

TEST_CASE("--admin-listen and --state-dir replace theirs") {
  ProcessOverrides overrides;
  overrides.admin = address("127.0.0.1:19901");
  overrides.state_dir = "/tmp/replica-2";
  const LoadResult result = loaded_with(overrides);
  REQUIRE(errors_of(result) == "");
  CHECK(result.config->admin.address.to_string() == "127.0.0.1:19901");
  CHECK(result.config->state_dir == "/tmp/replica-2");
}

TEST_CASE("overrides that make a bad config are errors named after the flag, all at once") {
  ::unsetenv("SKEWGATE_ADMIN_TOKEN");
  ProcessOverrides overrides;
  overrides.listen = {address("127.0.0.1:1"), address("127.0.0.1:2"), address("127.0.0.1:3")};
  overrides.admin = address("0.0.0.0:9901");
  overrides.state_dir = "";
  const LoadResult result = loaded_with(overrides);
  CHECK_FALSE(result.config.has_value());
  CHECK(errors_of(result) ==
        "<command line>: --listen: given 3 times but t.yaml has 2 listeners (the i-th --listen replaces the "
        "address of the i-th listener)\n"
        "<command line>: --admin-listen: the admin API would be reachable from other hosts without a token; set "
        "admin.token_file (or SKEWGATE_ADMIN_TOKEN), or listen on a loopback address\n"
        "<command line>: --state-dir: expected a directory\n");
}

TEST_CASE("--listen may not put two listeners on one address") {
  ProcessOverrides overrides;
  overrides.listen = {address("127.0.0.1:8081")};
  const LoadResult result = loaded_with(overrides);
  CHECK_FALSE(result.config.has_value());
  CHECK(errors_of(result) ==
        "<command line>: --listen: listeners[1] would have the same address as listeners[0]: 127.0.0.1:8081\n");
}

TEST_CASE("a non-loopback --admin-listen is fine with a token file") {
  std::string yaml(kTwoListeners);
  const std::string from = "admin: {address: 127.0.0.1:9901}";
  yaml.replace(yaml.find(from), from.size(), "admin: {address: 127.0.0.1:9901, token_file: /run/secrets/admin-token}");
  ProcessOverrides overrides;
  overrides.admin = address("0.0.0.0:9901");
  const LoadResult result = loaded_with(overrides, yaml);
  REQUIRE(errors_of(result) == "");
  CHECK(result.config->admin.address.to_string() == "0.0.0.0:9901");
}

TEST_CASE("a load that failed stays failed and gets no override errors") {
  LoadResult result = load_string("listeners: [", "t.yaml");
  const std::size_t before = result.errors.size();
  ProcessOverrides overrides;
  overrides.state_dir = "";
  apply_overrides(overrides, result);
  CHECK_FALSE(result.config.has_value());
  CHECK(result.errors.size() == before);
}

}  // namespace
}  // namespace sg::conf
