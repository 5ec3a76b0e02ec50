// Numeric socket addresses, upstream host names (syntax only) and CIDR
// ranges. inet_pton/inet_ntop are pure (no resolver), so this stays I/O free
// like the rest of conf/.
#include "conf/address.h"
#include "conf/ip_text.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace sg::conf {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}


std::string ntop(int family, const void* bytes) {
  char buffer[INET6_ADDRSTRLEN];
  if (inet_ntop(family, bytes, buffer, sizeof buffer) == nullptr) return {};
  return buffer;
}

// ::ffff:a.b.c.d
bool is_v4_mapped(const std::uint8_t* bytes) {
  static constexpr std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(bytes, kPrefix, sizeof kPrefix) == 0;
}

// Compares the first `bits` bits of two byte strings.
bool prefix_equal(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) {
  const unsigned whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  const unsigned rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

// inet_pton needs a NUL-terminated string; keep the copy bounded.
bool parse_ip_text(int family, std::string_view text, void* out) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
  char buffer[INET6_ADDRSTRLEN];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  return inet_pton(family, buffer, out) == 1;
}

bool is_dns_name(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);  // absolute name (RFC 1034 3.1)
  if (text.empty() || text.size() > 253) return false;
  bool label_numeric = true;  // the label being read is all digits so far
  std::size_t label = 0;      // length of the label being read
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      if (label == 0 || text[i - 1] == '-') return false;
      label = 0;
      label_numeric = true;
      continue;
    }
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !digit && c != '-') return false;
    if (c == '-' && label == 0) return false;
    if (!digit) label_numeric = false;
    if (++label > 63) return false;
  }
  if (label == 0 || text.back() == '-') return false;
  // A top-level label is never all digits (RFC 3696 section 2): "10.0.0.300"
  // or "1.2.3" is a mistyped IPv4 literal, which resolvers would parse their
  // own way (inet_aton reads "1.2.3" as 1.2.0.3).
  return !label_numeric;
}

std::optional<SocketAddress> SocketAddress::parse_upstream(std::string_view text) {
  if (auto numeric = parse(text)) return numeric;
  if (text.starts_with("unix:") || text.starts_with('[')) return std::nullopt;
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;  // a port is required
  std::string_view host = text.substr(0, colon);
  const auto port = parse_port(text.substr(colon + 1));
  if (!port || !is_dns_name(host)) return std::nullopt;  // also refuses a second ':'
  if (host.back() == '.') host.remove_suffix(1);
  SocketAddress address;
  address.family = Family::name;
  address.port = *port;
  address.host.resize(host.size());
  // Names compare case-insensitively (RFC 4343): one spelling per name.
  for (std::size_t i = 0; i < host.size(); ++i)
    address.host[i] = (host[i] >= 'A' && host[i] <= 'Z') ? static_cast<char>(host[i] - 'A' + 'a') : host[i];
  return address;
}

std::optional<SocketAddress> SocketAddress::parse(std::string_view text) {
  SocketAddress address;
  if (text.starts_with("unix:")) {
    address.family = Family::unix_path;
    address.path = std::string(text.substr(5));
    // sun_path is 108 bytes including the NUL.
    if (address.path.empty() || address.path.size() > 107 || address.path.find('\0') != std::string::npos) {
      return std::nullopt;
    }
    return address;
  }

  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    address.family = Family::ipv6;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    address.family = Family::ipv4;
  }

  const auto parsed_port = parse_port(port);
  if (!parsed_port) return std::nullopt;
  address.port = *parsed_port;

  std::uint8_t bytes[16];
  const int af = address.family == Family::ipv4 ? AF_INET : AF_INET6;
  if (!parse_ip_text(af, host, bytes)) return std::nullopt;
  address.host = ntop(af, bytes);  // canonical spelling, so to_string() round-trips
  return address;
}

std::string SocketAddress::to_string() const {
  switch (family) {
    case Family::unix_path:
      return "unix:" + path;
    case Family::ipv6:
      return "[" + host + "]:" + std::to_string(port);
    case Family::ipv4:
    case Family::name:
      break;
  }
  return host + ":" + std::to_string(port);
}

// A unix socket can only be reached from this host, so it counts as loopback
// for "is this exposed beyond the machine?" questions.
bool SocketAddress::is_loopback() const {
  std::uint8_t bytes[16];
  switch (family) {
    case Family::unix_path:
      return true;
    case Family::ipv4:
      return parse_ip_text(AF_INET, host, bytes) && bytes[0] == 127;
    case Family::ipv6:
      if (!parse_ip_text(AF_INET6, host, bytes)) return false;
      if (is_v4_mapped(bytes)) return bytes[12] == 127;
      static constexpr std::uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
      return std::memcmp(bytes, kLoopback, 16) == 0;
    case Family::name:
      return false;  // what it resolves to is not known here
  }
  return false;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  Cidr cidr;
  std::string_view address = text;
  std::optional<unsigned> prefix;
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    address = text.substr(0, slash);
    const auto digits = text.substr(slash + 1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
      return std::nullopt;
    }
    prefix = value;
  }

  cidr.ipv6 = address.find(':') != std::string_view::npos;
  if (!parse_ip_text(cidr.ipv6 ? AF_INET6 : AF_INET, address, cidr.bytes.data())) return std::nullopt;
  const unsigned max_prefix = cidr.ipv6 ? 128 : 32;
  cidr.prefix = prefix.value_or(max_prefix);
  if (cidr.prefix > max_prefix) return std::nullopt;

  // Clear host bits so "10.1.2.3/8" and "10.0.0.0/8" are the same range.
  for (unsigned bit = cidr.prefix; bit < max_prefix; ++bit) {
    cidr.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return cidr;
}

bool Cidr::contains(const std::uint8_t* address, std::size_t length) const {
  if (length == 4) {
    if (!ipv6) return prefix_equal(bytes.data(), address, prefix);
    // An IPv4 peer seen through an IPv6 range: compare as ::ffff:a.b.c.d.
    std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    std::memcpy(mapped + 12, address, 4);
    return prefix_equal(bytes.data(), mapped, prefix);
  }
  if (length == 16) {
    if (ipv6) return prefix_equal(bytes.data(), address, prefix);
    // Dual-stack listeners report IPv4 peers as ::ffff:a.b.c.d.
    return is_v4_mapped(address) && prefix_equal(bytes.data(), address + 12, prefix);
  }
  return false;
}

std::string Cidr::to_string() const {
  return ntop(ipv6 ? AF_INET6 : AF_INET, bytes.data()) + "/" + std::to_string(prefix);
}

}  // namespace sg::conf
