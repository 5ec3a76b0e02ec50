// A connection's peer as it was accepted: the address's bytes (17 bytes)
// rather than its text. Each idle connection kept a std::string of it (32
// bytes inline, more for IPv6 text past the SSO); the text is wanted only by
// a request (X-Forwarded-For, the canary cohort, the access log), which
// formats it on its own stack (peer_text) for about 60 instructions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sg::gateway {

struct PeerAddress {
  enum class Family : std::uint8_t {
    none,  // getpeername failed: no address (forwarding headers leave it out)
    unix_socket,
    ipv4,
    ipv6,
  };
  std::array<std::uint8_t, 16> bytes{};  // network order; IPv4 in the first 4
  Family family = Family::none;

  // The address bytes (4 or 16), empty for none and Unix sockets.
  std::size_t size() const {
    return family == Family::ipv4 ? 4 : family == Family::ipv6 ? 16 : 0;
  }
};

// The textual address: dotted quad, RFC 5952 IPv6, "unix" for a Unix
// socket, "" for none. Holds its own characters: keep it alive as long as a
// view of it is used.
class PeerText {
 public:
  explicit PeerText(const PeerAddress& peer);
  std::string_view view() const { return {text_.data(), size_}; }
  operator std::string_view() const { return view(); }

 private:
  std::array<char, 46> text_;  // INET6_ADDRSTRLEN, its NUL included
  std::uint8_t size_ = 0;
};

inline PeerText peer_text(const PeerAddress& peer) { return PeerText(peer); }

// The text of the last peer asked for, one per loop: a worker's requests come
// in runs from one address (a load balancer, a CDN's edge, a browser's six
// connections), and comparing 17 bytes costs less than formatting them.
class PeerTextCache {
 public:
  // Valid until the next call; copy it to keep it longer.
  const PeerText& text(const PeerAddress& peer) {
    if (peer.family != last_.family || peer.bytes != last_.bytes) {
      last_ = peer;
      text_ = PeerText(peer);
    }
    return text_;
  }

 private:
  PeerAddress last_;               // none at first, whose text is ""
  PeerText text_{PeerAddress{}};
};

}  // namespace sg::gateway
