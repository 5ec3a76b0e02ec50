#include "gateway/net/peer_address.h"

#include <sys/socket.h>
#include <uv.h>

#include <charconv>
#include <cstring>

namespace sg::gateway {

// The dotted quad by hand: inet_ntop goes through snprintf, about 1,800
// instructions (7 % of a connection-per-request exchange when it ran per
// accepted connection).
PeerText::PeerText(const PeerAddress& peer) {
  char* p = text_.data();
  switch (peer.family) {
    case PeerAddress::Family::none: break;
    case PeerAddress::Family::unix_socket:
      std::memcpy(p, "unix", 4);
      p += 4;
      break;
    case PeerAddress::Family::ipv4:
      for (int i = 0; i < 4; ++i) {
        if (i > 0) *p++ = '.';
        p = std::to_chars(p, p + 3, peer.bytes[i]).ptr;
      }
      break;
    case PeerAddress::Family::ipv6:
      // libuv's inet_ntop, as uv_ip6_name used before (the same text).
      if (uv_inet_ntop(AF_INET6, peer.bytes.data(), p, text_.size()) == 0) p += std::strlen(p);
      break;
  }
  size_ = static_cast<std::uint8_t>(p - text_.data());
}

}  // namespace sg::gateway
