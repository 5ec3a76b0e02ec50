// Streaming with back-pressure both ways, and the upgrade tunnel.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "proxy_fixture.h"
#include "scripted_upstream.h"

using namespace loop_test;

namespace {

constexpr std::uint64_t kLargeBody = 64ull << 20;
// What may sit between the two ends while one of them does not read: socket
// buffers on both sides of the proxy plus its write-queue watermark. Anything
// near the whole 64 MiB body means the proxy buffered instead of pausing.
constexpr std::uint64_t kMaxAhead = 16ull << 20;
constexpr std::size_t kBlock = 64 * 1024;

// The upstream answers one request with a 64 MiB Content-Length body,
// counting what send() accepted.
ScriptedUpstream::Script large_response_script(std::atomic<std::uint64_t>& sent, std::atomic<bool>& send_failed) {
  return [&sent, &send_failed](Wire& conn, int) {
    if (!read_request(conn)) return;
    conn.set_sndbuf(64 * 1024);
    if (!conn.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kLargeBody) + "\r\n\r\n")) return;
    const std::string block = pattern(kBlock);
    while (sent.load() < kLargeBody) {
      if (!conn.send(block, 20000)) {
        send_failed = true;
        return;
      }
      sent += block.size();
    }
    conn.stall(5000);
  };
}

// Reads a large Content-Length body, checking the pattern block by block.
std::uint64_t read_large_body(Wire& client, std::uint64_t length, bool& intact) {
  const std::string block = pattern(kBlock);
  intact = true;
  std::uint64_t total = client.pending().size();
  std::string carry = std::exchange(client.pending(), {});
  while (total < length) {
    if (!client.fill(10000)) break;
    total += client.pending().size();
    carry += std::exchange(client.pending(), {});
    while (carry.size() >= kBlock) {
      if (carry.compare(0, kBlock, block) != 0) intact = false;
      carry.erase(0, kBlock);
    }
  }
  return total;
}

}  // namespace

TEST_CASE("large response: a client that does not read makes the upstream's send() block") {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<bool> send_failed{false};
  ScriptedUpstream upstream(large_response_script(sent, send_failed));
  // A generous upstream_response: this test is about memory, not timers.
  Proxy proxy(upstream.address(), "",
              "{upstream_connect: 500ms, upstream_response: 10s, client_header: 1s, client_idle: 2s, drain: 2s, "
              "upstream_idle: 1s}");
  Wire client = proxy.connect(64 * 1024);

  REQUIRE(client.send(get_request("/big")));
  std::optional<Head> head = client.read_head();
  REQUIRE(head);
  CHECK(head->status() == 200);
  CHECK(head->content_length() == kLargeBody);
  const std::uint64_t read_so_far = client.pending().size();

  // The client reads nothing more: the upstream must soon be blocked.
  const std::uint64_t pushed = wait_until_stalled(sent, 300, 5000);
  INFO("upstream pushed " << (pushed >> 10) << " KiB while the client had read " << (read_so_far >> 10) << " KiB");
  CHECK(pushed < kLargeBody);
  CHECK(pushed - read_so_far < kMaxAhead);

  bool intact = false;
  const std::uint64_t total = read_large_body(client, kLargeBody, intact);
  CHECK(total == kLargeBody);
  CHECK(intact);
  CHECK_FALSE(send_failed.load());
}

TEST_CASE("large response: a client that stops reading for longer than upstream_response still gets it all") {
  // The upstream is not slow here, the client is: while the proxy holds the
  // upstream back for the client, the upstream's response timer should not
  // run out and blame the upstream (nginx: proxy_read_timeout only runs while
  // nginx wants to read).
  std::atomic<std::uint64_t> sent{0};
  std::atomic<bool> send_failed{false};
  ScriptedUpstream upstream(large_response_script(sent, send_failed));
  Proxy proxy(upstream.address());  // upstream_response: 1s
  Wire client = proxy.connect(64 * 1024);

  REQUIRE(client.send(get_request("/big")));
  std::optional<Head> head = client.read_head();
  REQUIRE(head);
  REQUIRE(head->status() == 200);
  wait_until_stalled(sent, 300, 5000);
  sleep_ms(1200);  // the proxy has not read from the upstream for > 1 s now

  bool intact = false;
  const std::uint64_t total = read_large_body(client, kLargeBody, intact);
  CHECK(total == kLargeBody);
  CHECK(intact);
}

TEST_CASE("large request body: an upstream that does not read makes the client's send() block") {
  std::atomic<bool> upstream_reading{false};
  std::atomic<std::uint64_t> upstream_received{0};
  std::atomic<std::uint64_t> upstream_checksum{0};
  std::atomic<bool> release_upstream{false};
  ScriptedUpstream upstream([&](Wire& conn, int) {
    std::optional<Head> head = conn.read_head();
    if (!head || !head->content_length()) return;
    // Stall before reading the body (bounded by the test's release).
    for (int i = 0; i < 500 && !release_upstream; ++i) sleep_ms(10);
    upstream_reading = true;
    std::uint64_t left = *head->content_length();
    std::uint64_t hash = fnv1a("");
    std::string& pending = conn.pending();
    while (left > 0) {
      if (pending.empty() && !conn.fill(10000)) return;
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, pending.size()));
      hash = fnv1a(std::string_view(pending).substr(0, take), hash);
      pending.erase(0, take);
      left -= take;
      upstream_received += take;
    }
    upstream_checksum = hash;
    conn.send(ok_response(std::to_string(upstream_received.load())));
  });
  // The upstream owes write progress within upstream_response (the send
  // deadline): long enough here that only back-pressure is under test, even
  // on a loaded machine (1 s raced the stall detection below).
  Proxy proxy(upstream.address(), "",
              "{upstream_connect: 500ms, upstream_response: 10s, client_header: 1s, client_idle: 2s, drain: 2s, "
              "upstream_idle: 1s}");
  Wire client = proxy.connect();
  client.set_sndbuf(64 * 1024);

  std::atomic<std::uint64_t> client_sent{0};
  std::atomic<bool> client_send_failed{false};
  std::uint64_t expected_hash = fnv1a("");
  const std::string block = pattern(kBlock, 3);
  for (std::uint64_t i = 0; i < kLargeBody / kBlock; ++i) expected_hash = fnv1a(block, expected_hash);
  std::thread sender([&] {
    if (!client.send("POST /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Length: " + std::to_string(kLargeBody) +
                     "\r\n\r\n")) {
      client_send_failed = true;
      return;
    }
    while (client_sent.load() < kLargeBody) {
      if (!client.send(block, 20000)) {
        client_send_failed = true;
        return;
      }
      client_sent += block.size();
    }
  });

  const std::uint64_t pushed = wait_until_stalled(client_sent, 300, 5000);
  INFO("client pushed " << (pushed >> 10) << " KiB into a proxy whose upstream reads nothing");
  CHECK_FALSE(upstream_reading.load());
  CHECK(pushed < kLargeBody);
  CHECK(pushed < kMaxAhead);
  release_upstream = true;
  sender.join();
  CHECK_FALSE(client_send_failed.load());

  std::optional<Response> response = read_response(client, false, 10000);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(response->body == std::to_string(kLargeBody));
  CHECK(upstream_checksum.load() == expected_hash);
}

namespace {

// Answers an upgrade with 101, then echoes tunnel bytes until EOF; records
// whether the proxy closed its side.
ScriptedUpstream::Script websocket_echo(std::atomic<bool>& saw_upgrade, std::atomic<bool>& saw_eof,
                                        bool close_after_first_echo) {
  return [&saw_upgrade, &saw_eof, close_after_first_echo](Wire& conn, int) {
    std::optional<Head> head = conn.read_head();
    if (!head) return;
    saw_upgrade = lower(head->header("upgrade")) == "websocket" &&
                  lower(head->header("connection")).find("upgrade") != std::string::npos;
    if (!conn.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")) return;
    for (;;) {
      if (conn.pending().empty() && !conn.fill(5000)) break;
      const std::string data = std::exchange(conn.pending(), {});
      if (!conn.send("echo:" + data)) break;
      if (close_after_first_echo) {
        conn.close();
        return;
      }
    }
    saw_eof = conn.eof();
  };
}

const char* kUpgradeRequest =
    "GET /socket HTTP/1.1\r\nHost: shop.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

}  // namespace

TEST_CASE("upgrade tunnel: 101 then bytes both ways; the client closing closes the upstream side") {
  std::atomic<bool> saw_upgrade{false};
  std::atomic<bool> saw_eof{false};
  ScriptedUpstream upstream(websocket_echo(saw_upgrade, saw_eof, false));
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  // The first tunnel bytes travel in the same write as the request head.
  REQUIRE(client.send(std::string(kUpgradeRequest) + "early"));
  std::optional<Head> head = client.read_head();
  REQUIRE(head);
  CHECK(head->status() == 101);
  CHECK(lower(head->header("upgrade")) == "websocket");
  CHECK(saw_upgrade.load());

  std::string echoed = std::exchange(client.pending(), {});  // may have come with the 101
  while (echoed.size() < std::string("echo:early").size() && client.fill(3000)) echoed += std::exchange(client.pending(), {});
  CHECK(echoed == "echo:early");

  REQUIRE(client.send("ping"));
  std::optional<std::string> reply = client.read_exact(9, 3000);
  REQUIRE(reply);
  CHECK(*reply == "echo:ping");

  const std::string big = pattern(300000);
  REQUIRE(client.send(big));
  // The upstream echoes each read with a prefix: strip them as they come.
  std::string got;
  const auto strip = [](const std::string& echoed) {
    std::string out;
    for (std::size_t at = 0; at < echoed.size();) {
      if (echoed.compare(at, 5, "echo:") != 0) return std::string("<bad framing>");
      at += 5;
      const std::size_t next = std::min(echoed.find("echo:", at), echoed.size());
      out += echoed.substr(at, next - at);
      at = next;
    }
    return out;
  };
  std::string stripped;
  while (stripped.size() < big.size()) {
    if (client.pending().empty() && !client.fill(3000)) break;
    got += std::exchange(client.pending(), {});
    stripped = strip(got);
  }
  CHECK(stripped.size() == big.size());
  CHECK(fnv1a(stripped) == fnv1a(big));

  client.close();
  CHECK(upstream.wait_finished(1, 3000));
  CHECK(saw_eof.load());
}

TEST_CASE("upgrade tunnel: the upstream closing closes the client side") {
  std::atomic<bool> saw_upgrade{false};
  std::atomic<bool> saw_eof{false};
  ScriptedUpstream upstream(websocket_echo(saw_upgrade, saw_eof, true));
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send(kUpgradeRequest));
  std::optional<Head> head = client.read_head();
  REQUIRE(head);
  CHECK(head->status() == 101);
  REQUIRE(client.send("bye"));
  std::optional<std::string> reply = client.read_exact(8, 3000);
  REQUIRE(reply);
  CHECK(*reply == "echo:bye");
  CHECK(client.wait_closed(3000));
}

TEST_CASE("upgrade tunnel: an idle tunnel outlives the client_header and upstream_response timeouts") {
  // A websocket may be quiet for minutes; the request timers (1 s here) are
  // about a request waiting for its head or its response, not a tunnel.
  std::atomic<bool> saw_upgrade{false};
  std::atomic<bool> saw_eof{false};
  ScriptedUpstream upstream(websocket_echo(saw_upgrade, saw_eof, false));
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send(kUpgradeRequest));
  std::optional<Head> head = client.read_head();
  REQUIRE(head);
  CHECK(head->status() == 101);
  sleep_ms(1300);
  REQUIRE(client.send("ping"));
  std::optional<std::string> reply = client.read_exact(9, 3000);
  CHECK_FALSE(client.eof());
  REQUIRE(reply);
  CHECK(*reply == "echo:ping");
}
