// A numeric IP address as text -> its bytes in network order (inet_pton on
// a string_view). Pure: inet_pton never consults a resolver.
#pragma once

#include <string_view>

namespace sg::conf {

// `family` is AF_INET (4 bytes written) or AF_INET6 (16). False for anything
// that is not exactly such an address (no brackets, no port, no name).
bool parse_ip_text(int family, std::string_view text, void* out);

}  // namespace sg::conf
