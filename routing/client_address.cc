#include "routing/client_address.h"

#include "conf/ip_text.h"

#include <arpa/inet.h>

#include <cstdint>
#include <optional>

namespace sg::routing {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool all_digits(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  for (const char c : text)
    if (c < '0' || c > '9') return false;
  return true;
}

struct Address {
  std::string_view text;  // as written, without brackets or port
  std::uint8_t bytes[16];
  std::size_t length = 0;  // 4 or 16
};

// One X-Forwarded-For entry: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`,
// `[2001:db8::1]`, `[2001:db8::1]:80`. nullopt for anything else.
std::optional<Address> parse_entry(std::string_view entry) {
  Address address;
  if (entry.starts_with('[')) {
    const std::size_t close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view rest = entry.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && all_digits(rest.substr(1)))) return std::nullopt;
    address.text = entry.substr(1, close - 1);
    if (!conf::parse_ip_text(AF_INET6, address.text, address.bytes)) return std::nullopt;
    address.length = 16;
    return address;
  }
  const std::size_t colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) != std::string_view::npos) {
    address.text = entry;  // two colons or more: a bare IPv6 address (no port possible)
    if (!conf::parse_ip_text(AF_INET6, address.text, address.bytes)) return std::nullopt;
    address.length = 16;
    return address;
  }
  address.text = entry.substr(0, colon);
  if (colon != std::string_view::npos && !all_digits(entry.substr(colon + 1))) return std::nullopt;
  if (!conf::parse_ip_text(AF_INET, address.text, address.bytes)) return std::nullopt;
  address.length = 4;
  return address;
}

bool is_trusted(const Address& address, std::span<const conf::Cidr> trusted) {
  for (const conf::Cidr& cidr : trusted)
    if (cidr.contains(address.bytes, address.length)) return true;
  return false;
}

}  // namespace

std::string_view client_address(std::string_view peer_ip, bool peer_trusted, std::span<const HeaderField> headers,
                                std::span<const conf::Cidr> trusted) {
  if (!peer_trusted) return peer_ip;
  std::string_view leftmost;
  // Fields right to left, then entries right to left within each field.
  for (auto field = headers.rbegin(); field != headers.rend(); ++field) {
    if (!iequals(field->name, "x-forwarded-for")) continue;
    std::string_view list = field->value;
    while (!list.empty()) {
      const std::size_t comma = list.rfind(',');
      const std::string_view entry = trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(0, comma);
      if (entry.empty()) continue;  // an empty list element (RFC 9110 section 5.6.1)
      const std::optional<Address> address = parse_entry(entry);
      if (!address) return peer_ip;
      if (!is_trusted(*address, trusted)) return address->text;
      leftmost = address->text;
    }
  }
  return leftmost.empty() ? peer_ip : leftmost;
}

}  // namespace sg::routing
