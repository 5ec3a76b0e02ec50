#include "gateway/net/listener_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sg::gateway {
namespace {

constexpr int kBacklog = 4096;

std::string errno_text(const char* what, const std::string& name) {
  return std::string(what) + " " + name + ": " + std::strerror(errno);
}

int bind_tcp(const conf::SocketAddress& address, std::string& error) {
  sockaddr_storage storage{};
  if (!to_sockaddr(address, storage)) {
    error = "invalid address " + address.to_string();
    return -1;
  }
  const int family = storage.ss_family;
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket", address.to_string());
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // libuv 1.44 has no flag for SO_REUSEPORT: every worker binds its own socket.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  // Before listen(): Linux copies it to every connection accepted later. Set
  // by the worker only, a connection that arrived before the worker ran
  // (a readiness probe) lacked it, and the worker then took the listener
  // for one that does not copy it: a setsockopt per connection for good.
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const socklen_t len = family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0 || ::listen(fd, kBacklog) != 0) {
    error = errno_text("cannot listen on", address.to_string());
    ::close(fd);
    return -1;
  }
  return fd;
}

int bind_unix(const conf::SocketAddress& address, std::string& error) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  if (address.path.size() >= sizeof sun.sun_path) {
    error = "unix socket path too long: " + address.path;
    return -1;
  }
  std::memcpy(sun.sun_path, address.path.c_str(), address.path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket", address.to_string());
    return -1;
  }
  ::unlink(address.path.c_str());  // a stale socket file from an earlier run
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0 || ::listen(fd, kBacklog) != 0) {
    error = errno_text("cannot listen on", address.to_string());
    ::close(fd);
    return -1;
  }
  return fd;
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len);
  if (storage.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
}

}  // namespace

bool to_sockaddr(const conf::SocketAddress& address, sockaddr_storage& storage) {
  std::memset(&storage, 0, sizeof storage);
  if (address.family == conf::SocketAddress::Family::ipv4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(address.port);
    return ::inet_pton(AF_INET, address.host.c_str(), &sin->sin_addr) == 1;
  }
  if (address.family == conf::SocketAddress::Family::ipv6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(address.port);
    return ::inet_pton(AF_INET6, address.host.c_str(), &sin6->sin6_addr) == 1;
  }
  return false;
}

std::vector<BoundListener> bind_listener(const conf::SocketAddress& address, unsigned workers, std::string& error) {
  std::vector<BoundListener> result;
  if (address.family == conf::SocketAddress::Family::unix_path) {
    const int fd = bind_unix(address, error);
    if (fd < 0) return {};
    result.push_back({fd, address.to_string(), true, address.to_string()});
    for (unsigned i = 1; i < workers; ++i) result.push_back({::dup(fd), address.to_string(), true, address.to_string()});
    return result;
  }
  conf::SocketAddress resolved = address;
  for (unsigned i = 0; i < workers; ++i) {
    const int fd = bind_tcp(resolved, error);
    if (fd < 0) {
      for (auto& b : result) ::close(b.fd);
      return {};
    }
    if (i == 0) resolved.port = bound_port(fd);
    result.push_back({fd, resolved.to_string(), false, address.to_string()});
  }
  return result;
}

}  // namespace sg::gateway
