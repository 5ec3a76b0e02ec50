// Issue 19: a connection keeps its peer's address as bytes
// (gateway/net/peer_address.h); the text is made per use and must read as
// the accepted address always did (X-Forwarded-For, the access log).
#include <doctest/doctest.h>

#include <string>

#include "gateway/net/peer_address.h"
#include "gateway/net/tcp_transport.h"
#include "gateway/net/transport.h"

using sg::gateway::PeerAddress;
using sg::gateway::peer_text;

namespace {

PeerAddress address(PeerAddress::Family family, std::initializer_list<std::uint8_t> bytes) {
  PeerAddress a;
  a.family = family;
  std::size_t i = 0;
  for (std::uint8_t b : bytes) a.bytes[i++] = b;
  return a;
}

}  // namespace

TEST_CASE("peer_text: IPv4, IPv6 (RFC 5952), Unix sockets and no address") {
  using F = PeerAddress::Family;
  const struct {
    PeerAddress peer;
    std::string text;
  } cases[] = {
      {address(F::ipv4, {127, 0, 0, 1}), "127.0.0.1"},
      {address(F::ipv4, {0, 0, 0, 0}), "0.0.0.0"},
      {address(F::ipv4, {255, 255, 255, 255}), "255.255.255.255"},
      {address(F::ipv4, {10, 200, 3, 99}), "10.200.3.99"},
      {address(F::ipv6, {}), "::"},
      {address(F::ipv6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), "::1"},
      {address(F::ipv6, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), "2001:db8::1"},
      {address(F::ipv6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1}), "::ffff:192.0.2.1"},
      {address(F::ipv6, {0xfe, 0x80, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a,
                         0xbc}),
       "fe80:1234:5678:9abc:def0:1234:5678:9abc"},
      {address(F::unix_socket, {}), "unix"},
      {address(F::none, {}), ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(std::string(peer_text(c.peer).view()) == c.text);
  }
  CHECK(address(F::ipv4, {1, 2, 3, 4}).size() == 4);
  CHECK(address(F::ipv6, {}).size() == 16);
  CHECK(address(F::unix_socket, {}).size() == 0);
}

TEST_CASE("ConnectionInfo stays small: it is in every idle connection's transport") {
  CHECK(sizeof(sg::gateway::ConnectionInfo) <= 20);
}

TEST_CASE("PeerTextCache: the text of the address asked for, whatever was asked before") {
  using F = PeerAddress::Family;
  sg::gateway::PeerTextCache cache;
  CHECK(std::string(cache.text(address(F::none, {})).view()).empty());
  CHECK(std::string(cache.text(address(F::ipv4, {127, 0, 0, 1})).view()) == "127.0.0.1");
  CHECK(std::string(cache.text(address(F::ipv4, {127, 0, 0, 1})).view()) == "127.0.0.1");
  CHECK(std::string(cache.text(address(F::ipv4, {127, 0, 0, 2})).view()) == "127.0.0.2");
  // Same bytes, another family: not the cached text.
  CHECK(std::string(cache.text(address(F::ipv6, {127, 0, 0, 2})).view()) == "7f00:2::");
  CHECK(std::string(cache.text(address(F::unix_socket, {})).view()) == "unix");
  CHECK(std::string(cache.text(address(F::none, {})).view()).empty());
  CHECK(std::string(cache.text(address(F::ipv4, {10, 0, 0, 1})).view()) == "10.0.0.1");
}

TEST_CASE("TcpTransport holds a TCP handle only: every idle TCP connection has one") {
  // A union with uv_pipe_t (the Unix-socket listeners' handle) made it 16 bytes larger.
  CHECK(sizeof(sg::gateway::TcpTransport) + (sizeof(uv_pipe_t) - sizeof(uv_tcp_t)) == sizeof(sg::gateway::UnixTransport));
  CHECK(sizeof(sg::gateway::TcpTransport) <= 296);
}
