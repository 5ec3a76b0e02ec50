// What the client sees when the upstream misbehaves: a precise 502/504 JSON
// answer before any response byte went out, a closed connection after.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>

#include "proxy_fixture.h"
#include "scripted_upstream.h"

using namespace loop_test;

namespace {

// Sends a GET and checks the JSON error answer:
// {"error":"upstream_unavailable","app":"shop","build":"dpl-a","reason":<reason>}.
void expect_upstream_error(Proxy& proxy, int status, std::string_view reason) {
  Wire client = proxy.connect();
  REQUIRE(client.send(get_request("/page")));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == status);
  CHECK(response->header("content-type") == "application/json");
  const nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  REQUIRE_FALSE(body.is_discarded());
  CHECK(body.value("error", "") == "upstream_unavailable");
  CHECK(body.value("app", "") == "shop");
  CHECK(body.value("build", "") == "dpl-a");
  CHECK(body.value("reason", "") == reason);
  // The client connection is still usable (a bodiless GET, keep-alive).
  CHECK(response->header("connection") != "close");
}

}  // namespace

TEST_CASE("upstream reset before any response byte: 502 upstream_reset") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    if (!conn.read_head()) return;
    conn.reset();
  });
  Proxy proxy(upstream.address());
  expect_upstream_error(proxy, 502, "upstream_reset");
  CHECK(upstream.accepted() == 1);  // a fresh connection is never retried
}

TEST_CASE("upstream closes before any response byte: 502 upstream_closed") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    if (!conn.read_head()) return;
    conn.close();
  });
  Proxy proxy(upstream.address());
  expect_upstream_error(proxy, 502, "upstream_closed");
  CHECK(upstream.accepted() == 1);
}

TEST_CASE("upstream stalls: 504 response_timeout after timeouts.upstream_response") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    if (!conn.read_head()) return;
    conn.stall(5000);
  });
  Proxy proxy(upstream.address());
  const auto start = Clock::now();
  expect_upstream_error(proxy, 504, "response_timeout");
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  CHECK(waited >= 900);
  CHECK(waited < 3000);
}

TEST_CASE("upstream sends garbage: 502 bad_response") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    if (!conn.read_head()) return;
    conn.send("SSH-2.0-OpenSSH_9.6\r\n\x01\x02\x03 not http at all\r\n\r\n");
    conn.stall(2000);
  });
  Proxy proxy(upstream.address());
  expect_upstream_error(proxy, 502, "bad_response");
}

TEST_CASE("upstream closes after half a response head: 502 upstream_closed") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    if (!conn.read_head()) return;
    conn.send("HTTP/1.1 200 OK\r\nContent-Type: text/pl");
    sleep_ms(50);
    conn.close();
  });
  Proxy proxy(upstream.address());
  expect_upstream_error(proxy, 502, "upstream_closed");
}

TEST_CASE("nothing listening on the upstream address: 502 connect_refused") {
  Proxy proxy("127.0.0.1:" + std::to_string(unused_port()));
  expect_upstream_error(proxy, 502, "connect_refused");
}

TEST_CASE("a pooled connection the upstream closed before the next request: a GET is retried transparently") {
  // Connection 0 answers one request, then reads the second one and closes
  // without a byte of response: the proxy must retry on a new connection.
  std::atomic<bool> second_request_seen_on_first{false};
  ScriptedUpstream upstream([&](Wire& conn, int index) {
    if (index == 0) {
      if (!read_request(conn)) return;
      conn.send(ok_response("first"));
      if (!conn.read_head()) return;
      second_request_seen_on_first = true;
      conn.close();
      return;
    }
    while (std::optional<Request> request = read_request(conn))
      if (!conn.send(ok_response("retried " + request->head.target()))) return;
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send(get_request("/one")));
  std::optional<Response> first = read_response(client);
  REQUIRE(first);
  CHECK(first->body == "first");

  REQUIRE(client.send(get_request("/two")));
  std::optional<Response> second = read_response(client);
  REQUIRE(second);
  CHECK(second->status() == 200);
  CHECK(second->body == "retried /two");
  CHECK(second_request_seen_on_first.load());
  CHECK(upstream.accepted() == 2);
}

TEST_CASE("a pooled connection reset before the next request: a POST with a body is not retried") {
  ScriptedUpstream upstream([&](Wire& conn, int index) {
    if (index == 0) {
      if (!read_request(conn)) return;
      conn.send(ok_response("first"));
      if (!read_request(conn)) return;
      conn.reset();
      return;
    }
    while (std::optional<Request> request = read_request(conn))
      if (!conn.send(ok_response("second connection"))) return;
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send(get_request("/one")));
  std::optional<Response> first = read_response(client);
  REQUIRE(first);
  CHECK(first->body == "first");

  REQUIRE(client.send("POST /order HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\n\r\nhello"));
  std::optional<Response> second = read_response(client);
  REQUIRE(second);
  CHECK(second->status() == 502);
  CHECK(upstream.accepted() == 1);
}

TEST_CASE("upstream closes mid-body (Content-Length not reached): the client connection is closed, no hang") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    if (!conn.read_head()) return;
    conn.send("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + pattern(40000));
    sleep_ms(50);
    conn.close();
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send(get_request("/truncated")));
  std::optional<Head> head = client.read_head();
  REQUIRE(head);
  CHECK(head->status() == 200);
  CHECK(head->content_length() == 100000u);
  const auto start = Clock::now();
  const std::string body = client.read_to_eof(3000);
  CHECK(client.eof());
  CHECK(Clock::now() - start < milliseconds(2000));
  CHECK(body.size() == 40000);
  CHECK(fnv1a(body) == fnv1a(pattern(40000)));
}

TEST_CASE("upstream closes mid-chunk: the client's chunked response is left unterminated and closed") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    if (!conn.read_head()) return;
    conn.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n20\r\nonly-half");
    sleep_ms(50);
    conn.close();
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send(get_request("/truncated")));
  std::optional<Head> head = client.read_head();
  REQUIRE(head);
  CHECK(head->status() == 200);
  REQUIRE(head->chunked());
  // A terminating 0-chunk would tell the client a truncated body is complete.
  CHECK_FALSE(client.read_chunked(3000));
  CHECK(client.eof());
}

TEST_CASE("upstream accept queue full: 504 connect_timeout after timeouts.upstream_connect") {
  // A listener that never accepts, its backlog filled: further SYNs are
  // dropped, so a connect neither succeeds nor is refused.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 0) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::uint16_t port = ntohs(addr.sin_port);
  std::vector<Wire> fillers;
  for (int i = 0; i < 4; ++i) {
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.emplace_back(s);
  }
  sleep_ms(50);
  {
    Proxy proxy("127.0.0.1:" + std::to_string(port));
    const auto start = Clock::now();
    expect_upstream_error(proxy, 504, "connect_timeout");
    const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
    CHECK(waited >= 400);  // upstream_connect: 500ms
    CHECK(waited < 2000);
  }
  fillers.clear();
  ::close(fd);
}

TEST_CASE("the client disconnecting mid-response closes the upstream connection") {
  std::atomic<bool> upstream_saw_close{false};
  ScriptedUpstream upstream([&](Wire& conn, int) {
    if (!read_request(conn)) return;
    conn.send("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + pattern(1000));
    // Keep the response open; the proxy must close this connection once the
    // client has gone, not park it or leave it open.
    upstream_saw_close = conn.wait_closed(3000);
  });
  Proxy proxy(upstream.address());
  {
    Wire client = proxy.connect();
    REQUIRE(client.send(get_request("/abandoned")));
    REQUIRE(client.read_head());
  }
  CHECK(upstream.wait_finished(1, 4000));
  CHECK(upstream_saw_close.load());
}
