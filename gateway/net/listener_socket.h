// Listening sockets are created and bound on the main thread so a bind error
// stops start-up with a clear message; each worker then adopts its own fd.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "conf/address.h"

namespace sg::gateway {

struct BoundListener {
  int fd = -1;
  std::string name;  // the configured address, with the real port when 0 was asked
  bool is_unix = false;
  // The address as written in the config (port 0 stays 0): how the
  // listener's TLS settings are found (tls_context.h).
  std::string config_name;
};

// One socket per worker for TCP (SO_REUSEPORT, so the kernel spreads
// connections); for a Unix path one socket, dup()ed per worker. Port 0 is
// resolved once and reused for the other workers. On failure returns an empty
// vector and sets `error`.
std::vector<BoundListener> bind_listener(const conf::SocketAddress& address, unsigned workers, std::string& error);

// Fills storage for a numeric address; false when it does not parse.
bool to_sockaddr(const conf::SocketAddress& address, sockaddr_storage& storage);

}  // namespace sg::gateway
