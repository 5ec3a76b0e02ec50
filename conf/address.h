// Socket addresses and CIDR ranges as written in the config, parsed without I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::conf {

// "127.0.0.1:8080", "0.0.0.0:8080", "[::1]:3002", "[::]:8080", "unix:/run/a.sock".
struct SocketAddress {
  enum class Family { ipv4, ipv6, unix_path };
  Family family = Family::ipv4;
  std::string host;  // numeric IP without brackets; empty for unix
  std::uint16_t port = 0;
  std::string path;  // unix socket path

  // Returns nullopt on anything else (host names are not resolved: upstreams
  // and listeners are numeric so a DNS stall can never block a loop).
  static std::optional<SocketAddress> parse(std::string_view text);
  std::string to_string() const;  // the canonical form accepted by parse()
  bool is_loopback() const;
  bool operator==(const SocketAddress&) const = default;
};

// "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128).
struct Cidr {
  bool ipv6 = false;
  std::array<std::uint8_t, 16> bytes{};  // network order; first 4 used for IPv4
  unsigned prefix = 0;

  static std::optional<Cidr> parse(std::string_view text);
  // `address` is 4 or 16 bytes in network order; IPv4-mapped IPv6 matches IPv4 ranges.
  bool contains(const std::uint8_t* address, std::size_t length) const;
  std::string to_string() const;
};

}  // namespace sg::conf
