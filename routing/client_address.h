// The client address a request came from, for the canary cohort (design.md
// section 7): the TCP peer, or behind trusted proxies the address they say
// they received the request from. Pure: no I/O, no allocation.
#pragma once

#include <span>
#include <string_view>

#include "conf/address.h"
#include "routing/request_view.h"

namespace sg::routing {

// When the peer is not a trusted proxy (`peer_trusted` false), `peer_ip`:
// anything else a client sends is its own claim. When it is, X-Forwarded-For
// (every field of it, one list, RFC 9110 section 5.3) is walked right to
// left, as nginx's realip module does with `real_ip_recursive on`: addresses
// inside `trusted` are proxies and are skipped, the first untrusted one is
// the client; when every address is trusted, the left-most. An entry that is
// no IP address (`unknown`, a name, junk) stops the walk and the peer is the
// client, since nothing left of it can be believed. Entries are IPv4, IPv6,
// `[IPv6]`, with an optional `:port` after IPv4 or `]` (Azure and some CDNs
// add one); the result is the address text as written, without brackets or
// port, a view into `headers` or `peer_ip`.
std::string_view client_address(std::string_view peer_ip, bool peer_trusted, std::span<const HeaderField> headers,
                                std::span<const conf::Cidr> trusted);

}  // namespace sg::routing
