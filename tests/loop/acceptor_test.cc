// TcpAcceptor (gateway/net/tcp_acceptor.h) on a real loop and real sockets:
// each connection arrives once, non-blocking, with its peer's address; one
// per readiness event (the rest on the next turns); close() closes the
// listening socket (a later connect is refused) and leaves no handle; out of
// descriptors, the waiting connections are closed (the client reads EOF)
// rather than left in the backlog, and accepting works again afterwards.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>
#include <vector>

#include "gateway/net/tcp_acceptor.h"

using sg::gateway::TcpAcceptor;

namespace {

struct Accepted {
  int fd;
  sockaddr_storage peer;
};

struct Harness {
  uv_loop_t loop;
  TcpAcceptor acceptor;
  std::vector<Accepted> accepted;
  bool closed = false;
  int port = 0;

  Harness() {
    uv_loop_init(&loop);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    REQUIRE(::listen(fd, 64) == 0);
    socklen_t len = sizeof sin;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    port = ntohs(sin.sin_port);
    REQUIRE(acceptor.start(&loop, fd, this, [](void* owner, int accepted_fd, const sockaddr_storage& peer) {
      static_cast<Harness*>(owner)->accepted.push_back({accepted_fd, peer});
    }) == 0);
  }

  // A blocking client, connected (the kernel completes the handshake
  // before anyone accepts); its local port.
  int connect_client(int& local_port) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0) {
      ::close(fd);
      return -1;
    }
    socklen_t len = sizeof sin;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    local_port = ntohs(sin.sin_port);
    return fd;
  }

  void turn() { uv_run(&loop, UV_RUN_NOWAIT); }

  void finish() {
    for (const Accepted& a : accepted) ::close(a.fd);
    acceptor.close([](void* owner) { static_cast<Harness*>(owner)->closed = true; });
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(closed);
    int open = 0;
    uv_walk(&loop, [](uv_handle_t*, void* arg) { ++*static_cast<int*>(arg); }, &open);
    CHECK(open == 0);
    CHECK(uv_loop_close(&loop) == 0);
  }
};

int peer_port(const sockaddr_storage& peer) {
  REQUIRE(peer.ss_family == AF_INET);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&peer)->sin_port);
}

}  // namespace

TEST_CASE("acceptor: one connection per turn, with its peer's address, non-blocking and close-on-exec") {
  Harness h;
  int ports[3] = {};
  int clients[3];
  for (int i = 0; i < 3; ++i) REQUIRE((clients[i] = h.connect_client(ports[i])) >= 0);
  h.turn();
  CHECK(h.accepted.size() == 1);
  for (int i = 0; i < 10 && h.accepted.size() < 3; ++i) h.turn();
  REQUIRE(h.accepted.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(peer_port(h.accepted[i].peer) == ports[i]);
    CHECK((::fcntl(h.accepted[i].fd, F_GETFL) & O_NONBLOCK) != 0);
    CHECK((::fcntl(h.accepted[i].fd, F_GETFD) & FD_CLOEXEC) != 0);
  }
  h.turn();
  CHECK(h.accepted.size() == 3);
  const int port = h.port;
  h.finish();
  for (int fd : clients) ::close(fd);
  // The listening socket went with the acceptor.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = htons(static_cast<std::uint16_t>(port));
  CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0);
  ::close(fd);
}

TEST_CASE("acceptor: out of descriptors, waiting connections are closed, and accepting resumes") {
  Harness h;
  int port_a = 0;
  const int client_a = h.connect_client(port_a);
  REQUIRE(client_a >= 0);

  // Every descriptor number under a lowered limit taken.
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  int highest = 0;
  for (int fd = 0; fd < 4096; ++fd)
    if (::fcntl(fd, F_GETFD) != -1) highest = fd;
  rlimit lowered = saved;
  lowered.rlim_cur = static_cast<rlim_t>(highest + 8);
  REQUIRE(lowered.rlim_cur <= saved.rlim_max);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  std::vector<int> filler;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) filler.push_back(fd);

  for (int i = 0; i < 3; ++i) h.turn();
  CHECK(h.accepted.empty());
  for (int fd : filler) ::close(fd);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);

  // The client was accepted and closed: it reads EOF, not a hang.
  timeval tv{2, 0};
  ::setsockopt(client_a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char byte;
  CHECK(::recv(client_a, &byte, 1, 0) == 0);
  ::close(client_a);

  int port_b = 0;
  const int client_b = h.connect_client(port_b);
  REQUIRE(client_b >= 0);
  for (int i = 0; i < 10 && h.accepted.empty(); ++i) h.turn();
  REQUIRE(h.accepted.size() == 1);
  CHECK(peer_port(h.accepted[0].peer) == port_b);
  h.finish();
  ::close(client_b);
}
