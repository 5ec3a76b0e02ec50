#include <arpa/inet.h>
#include <doctest/doctest.h>

#include "conf/address.h"
#include "conf/config.h"

namespace sg::conf {
namespace {

TEST_CASE("SocketAddress parses numeric addresses and unix paths, canonically") {
  const struct {
    const char* text;
    SocketAddress::Family family;
    const char* host;
    std::uint16_t port;
    const char* canonical;
  } cases[] = {
      {"127.0.0.1:8080", SocketAddress::Family::ipv4, "127.0.0.1", 8080, "127.0.0.1:8080"},
      {"0.0.0.0:0", SocketAddress::Family::ipv4, "0.0.0.0", 0, "0.0.0.0:0"},
      {"[::1]:3002", SocketAddress::Family::ipv6, "::1", 3002, "[::1]:3002"},
      {"[::]:8080", SocketAddress::Family::ipv6, "::", 8080, "[::]:8080"},
      {"[2001:DB8:0:0::1]:443", SocketAddress::Family::ipv6, "2001:db8::1", 443, "[2001:db8::1]:443"},
      {"unix:/run/a.sock", SocketAddress::Family::unix_path, "", 0, "unix:/run/a.sock"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const auto address = SocketAddress::parse(c.text);
    REQUIRE(address.has_value());
    CHECK(address->family == c.family);
    CHECK(address->host == c.host);
    CHECK(address->port == c.port);
    CHECK(address->to_string() == c.canonical);
    CHECK(SocketAddress::parse(address->to_string())->to_string() == c.canonical);
  }
  CHECK(SocketAddress::parse("unix:/run/a.sock")->path == "/run/a.sock");
}

TEST_CASE("SocketAddress rejects names, missing ports and junk") {
  for (const char* text :
       {"", "localhost:80", "example.com:443", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
        "127.0.0.1:80x", "::1:80", "[::1]", "[::1]80", "[::1:80", "[127.0.0.1]:80", "256.0.0.1:80", "unix:", ":80"}) {
    CAPTURE(text);
    CHECK_FALSE(SocketAddress::parse(text).has_value());
  }
}

TEST_CASE("SocketAddress::is_loopback") {
  CHECK(SocketAddress::parse("127.0.0.1:1")->is_loopback());
  CHECK(SocketAddress::parse("127.9.9.9:1")->is_loopback());
  CHECK(SocketAddress::parse("[::1]:1")->is_loopback());
  CHECK(SocketAddress::parse("[::ffff:127.0.0.1]:1")->is_loopback());
  CHECK(SocketAddress::parse("unix:/run/admin.sock")->is_loopback());
  CHECK_FALSE(SocketAddress::parse("0.0.0.0:1")->is_loopback());
  CHECK_FALSE(SocketAddress::parse("10.0.0.1:1")->is_loopback());
  CHECK_FALSE(SocketAddress::parse("[::]:1")->is_loopback());
  CHECK_FALSE(SocketAddress::parse("[::ffff:10.0.0.1]:1")->is_loopback());
}

std::array<std::uint8_t, 4> v4(const char* text) {
  std::array<std::uint8_t, 4> bytes{};
  REQUIRE(inet_pton(AF_INET, text, bytes.data()) == 1);
  return bytes;
}

std::array<std::uint8_t, 16> v6(const char* text) {
  std::array<std::uint8_t, 16> bytes{};
  REQUIRE(inet_pton(AF_INET6, text, bytes.data()) == 1);
  return bytes;
}

bool contains(const char* cidr, const char* address) {
  const auto range = Cidr::parse(cidr);
  REQUIRE(range.has_value());
  if (std::string_view(address).find(':') != std::string_view::npos) {
    const auto bytes = v6(address);
    return range->contains(bytes.data(), bytes.size());
  }
  const auto bytes = v4(address);
  return range->contains(bytes.data(), bytes.size());
}

TEST_CASE("Cidr parses ranges and bare addresses, clearing host bits") {
  const struct {
    const char* text;
    const char* canonical;
  } cases[] = {
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"10.1.2.3/8", "10.0.0.0/8"},
      {"192.168.1.7", "192.168.1.7/32"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"::1", "::1/128"},
      {"::1/128", "::1/128"},
      {"fd00::1/8", "fd00::/8"},
      {"172.16.0.0/12", "172.16.0.0/12"},
      {"10.0.0.129/25", "10.0.0.128/25"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const auto cidr = Cidr::parse(c.text);
    REQUIRE(cidr.has_value());
    CHECK(cidr->to_string() == c.canonical);
  }
  for (const char* text : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0/8", "host/8", "/8"}) {
    CAPTURE(text);
    CHECK_FALSE(Cidr::parse(text).has_value());
  }
}

TEST_CASE("Cidr::contains for IPv4, IPv6 and IPv4-mapped peers") {
  CHECK(contains("10.0.0.0/8", "10.255.1.2"));
  CHECK_FALSE(contains("10.0.0.0/8", "11.0.0.1"));
  CHECK(contains("10.0.0.128/25", "10.0.0.200"));
  CHECK_FALSE(contains("10.0.0.128/25", "10.0.0.127"));
  CHECK(contains("0.0.0.0/0", "203.0.113.9"));
  CHECK(contains("192.168.1.7", "192.168.1.7"));
  CHECK_FALSE(contains("192.168.1.7", "192.168.1.8"));

  CHECK(contains("fd00::/8", "fd12:3456::1"));
  CHECK_FALSE(contains("fd00::/8", "fe80::1"));
  CHECK(contains("::1", "::1"));
  CHECK_FALSE(contains("::1", "::2"));

  // Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d.
  CHECK(contains("10.0.0.0/8", "::ffff:10.1.2.3"));
  CHECK_FALSE(contains("10.0.0.0/8", "::ffff:11.1.2.3"));
  CHECK_FALSE(contains("10.0.0.0/8", "::10.1.2.3"));  // IPv4-compatible is not mapped
  CHECK(contains("::ffff:10.0.0.0/104", "10.9.9.9"));
  CHECK_FALSE(contains("::1", "127.0.0.1"));

  const auto range = Cidr::parse("10.0.0.0/8");
  const std::uint8_t odd[5] = {10, 0, 0, 1, 0};
  CHECK_FALSE(range->contains(odd, sizeof odd));
}

TEST_CASE("BuildState names") {
  CHECK(std::string(to_string(BuildState::current)) == "current");
  CHECK(std::string(to_string(BuildState::retained)) == "retained");
  CHECK(std::string(to_string(BuildState::preview)) == "preview");
  CHECK(std::string(to_string(BuildState::retired)) == "retired");
}

}  // namespace
}  // namespace sg::conf
