// Socket addresses and CIDR ranges as written in the config, parsed without I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::conf {

// "127.0.0.1:8080", "0.0.0.0:8080", "[::1]:3002", "[::]:8080", "unix:/run/a.sock",
// and for upstreams only "shop-a.internal:3000" (a host name, family `name`).
struct SocketAddress {
  enum class Family { ipv4, ipv6, unix_path, name };
  Family family = Family::ipv4;
  // Numeric IP without brackets; for `name` the host name in lower case
  // without a trailing dot; empty for unix.
  std::string host;
  std::uint16_t port = 0;
  std::string path;  // unix socket path

  // Numeric addresses and unix paths only: what listeners and the admin
  // address take (a socket is bound to an address, never to a name).
  static std::optional<SocketAddress> parse(std::string_view text);
  // parse() plus `name:port` (is_dns_name below). A name is never resolved
  // here: gateway/control/dns_resolver.h resolves it on the control loop and
  // the control plane folds the addresses into each snapshot
  // (routing/snapshot.h), so no worker loop ever waits on DNS.
  static std::optional<SocketAddress> parse_upstream(std::string_view text);
  std::string to_string() const;  // the canonical form accepted by parse() / parse_upstream()
  bool is_loopback() const;
  bool is_name() const { return family == Family::name; }
  bool operator==(const SocketAddress&) const = default;
  // Total order (family, host, port, path): resolved sets are compared sorted.
  auto operator<=>(const SocketAddress&) const = default;
};

// A host name as an upstream may carry it (RFC 1123 section 2.1, RFC 1035
// section 2.3.4): dot-separated labels of 1-63 letters, digits and '-', not
// starting or ending with '-', 253 bytes at most, one optional trailing dot.
// Refused: '_' (not a host name, and SRV-style labels are not looked up as
// A/AAAA), empty labels, bytes >= 0x80 (raw IDN: write the xn-- form), an
// all-digit last label ("10.0.0.300", "1.2.3": bad IPv4 literals, not names).
bool is_dns_name(std::string_view text);

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
