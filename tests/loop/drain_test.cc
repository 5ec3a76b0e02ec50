// Graceful drain: in-flight requests finish, idle connections close, and the
// worker loop ends with no handle left open.
#include <doctest/doctest.h>

#include <atomic>
#include <future>

#include "proxy_fixture.h"
#include "scripted_upstream.h"

using namespace loop_test;

TEST_CASE("drain with a request in flight: the response completes, then the loop ends with no handle open") {
  std::atomic<bool> request_arrived{false};
  ScriptedUpstream upstream([&](Wire& conn, int) {
    if (!read_request(conn)) return;
    request_arrived = true;
    sleep_ms(300);  // the drain starts meanwhile
    conn.send(ok_response(pattern(200000)));
    conn.stall(3000);
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();
  Wire idle_client = proxy.connect();  // a second, idle connection: closed by the drain at once

  REQUIRE(client.send(get_request("/slow")));
  for (int i = 0; i < 300 && !request_arrived; ++i) sleep_ms(5);
  REQUIRE(request_arrived.load());

  const auto start = Clock::now();
  std::future<int> drained = std::async(std::launch::async, [&] { return proxy.drain(); });

  // An idle keep-alive client gets a 1 s grace (a request it is sending right
  // now is still answered, with Connection: close), then is closed.
  CHECK(idle_client.wait_closed(2500));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(response->body.size() == 200000);
  CHECK(fnv1a(response->body) == fnv1a(pattern(200000)));
  CHECK(lower(response->header("connection")) == "close");
  CHECK(client.wait_closed(3000));
  client.close();  // else the proxy lingers (reading to EOF) up to 2 s

  REQUIRE(drained.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(drained.get() == 0);
  // Well before the drain timeout (2 s): the drain ended when the last
  // connection did, not when the timer fired.
  CHECK(Clock::now() - start < milliseconds(1500));
  // New connections are refused once the listener is closed.
  CHECK_FALSE(Wire::connect(proxy.port()).valid());
}

TEST_CASE("drain with a stalled upstream: the drain timeout closes the client and the loop still ends clean") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    if (!read_request(conn)) return;
    conn.stall(5000);
  });
  // upstream_response longer than the drain: only the drain timer can end this.
  Proxy proxy(upstream.address(), "",
              "{upstream_connect: 500ms, upstream_response: 10s, client_header: 1s, client_idle: 2s, drain: 500ms, "
              "upstream_idle: 1s}");
  Wire client = proxy.connect();
  REQUIRE(client.send(get_request("/stuck")));
  sleep_ms(100);

  const auto start = Clock::now();
  std::future<int> drained = std::async(std::launch::async, [&] { return proxy.drain(); });
  CHECK(client.wait_closed(3000));
  client.close();
  REQUIRE(drained.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(drained.get() == 0);
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  CHECK(waited >= 400);
  CHECK(waited < 2000);
}

TEST_CASE("drain with pooled upstream connections: they are closed and the loop ends clean") {
  std::atomic<int> upstream_eofs{0};
  ScriptedUpstream upstream([&](Wire& conn, int) {
    while (std::optional<Request> request = read_request(conn))
      if (!conn.send(ok_response("ok"))) return;
    if (conn.eof()) ++upstream_eofs;
  });
  Proxy proxy(upstream.address());
  {
    Wire client = proxy.connect();
    REQUIRE(client.send(get_request("/a")));
    REQUIRE(read_response(client));
  }
  sleep_ms(50);
  CHECK(proxy.drain() == 0);
  CHECK(upstream.wait_finished(1, 2000));
  CHECK(upstream_eofs.load() == 1);
}
