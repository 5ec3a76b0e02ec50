// Client-side timing and strict parsing: slow heads, 408, and every 4xx the
// parser gives, each followed by closing the connection.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>

#include "proxy_fixture.h"
#include "scripted_upstream.h"

using namespace loop_test;

namespace {

// Sends `request`, expects `status` with JSON {"error": code, ...}, and then
// the connection closed by the proxy.
void expect_rejection(Proxy& proxy, std::string_view request, int status, std::string_view code) {
  Wire client = proxy.connect();
  REQUIRE(client.send(request));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == status);
  CHECK(response->header("content-type") == "application/json");
  CHECK(lower(response->header("connection")) == "close");
  const nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  REQUIRE_FALSE(body.is_discarded());
  CHECK(body.value("error", "") == code);
  CHECK(client.wait_closed(3000));
}

}  // namespace

TEST_CASE("slow client: a head sent byte by byte within timeouts.client_header is served") {
  ScriptedUpstream upstream(echo_target_script("a"));
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  const std::string request = get_request("/slow", "Accept: text/plain\r\n");
  for (char c : request) {  // ~300 ms in all, under the 1 s client_header
    REQUIRE(client.send(std::string_view(&c, 1)));
    sleep_ms(4);
  }
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(response->body == "a /slow");
}

TEST_CASE("slow client: a head not complete within timeouts.client_header gets 408 client_header_timeout") {
  std::atomic<int> requests{0};
  ScriptedUpstream upstream([&](Wire& conn, int) {
    while (read_request(conn)) ++requests;
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send("GET /never HTTP/1.1\r\nHost: shop.test\r\nAccept: "));
  const auto start = Clock::now();
  std::optional<Response> response = read_response(client, false, 3000);
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  REQUIRE(response);
  CHECK(response->status() == 408);
  CHECK(waited >= 800);
  CHECK(waited < 2500);
  const nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  REQUIRE_FALSE(body.is_discarded());
  CHECK(body.value("error", "") == "client_header_timeout");
  CHECK(body.contains("message"));
  CHECK(client.wait_closed(3000));
  CHECK(upstream.accepted() == 0);
  CHECK(requests.load() == 0);
}

TEST_CASE("slow client: a connection that sends nothing is closed silently after client_header") {
  Proxy proxy("127.0.0.1:" + std::to_string(unused_port()));
  Wire client = proxy.connect();
  CHECK(client.wait_closed(3000));
  CHECK(client.pending().empty());
}

TEST_CASE("keep-alive: an idle client connection is closed after timeouts.client_idle") {
  ScriptedUpstream upstream(echo_target_script("a"));
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();
  REQUIRE(client.send(get_request("/")));
  REQUIRE(read_response(client));
  const auto start = Clock::now();
  CHECK(client.wait_closed(4000));
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  CHECK(waited >= 1800);  // client_idle: 2s
}

TEST_CASE("4xx: each malformed or oversized request gets its status and the connection is closed") {
  std::atomic<int> forwarded{0};
  ScriptedUpstream upstream([&](Wire& conn, int) {
    while (std::optional<Request> request = read_request(conn)) {
      ++forwarded;
      if (!conn.send(ok_response("should not be reached"))) return;
    }
  });
  Proxy proxy(upstream.address(), "{header_bytes: 2KiB, headers: 20, uri_bytes: 512, body_bytes: 1KiB}");

  SUBCASE("400: Content-Length together with Transfer-Encoding") {
    expect_rejection(proxy,
                     "POST /x HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "0\r\n\r\n",
                     400, "bad_request");
    CHECK(forwarded.load() == 0);
  }
  SUBCASE("400: two different Content-Lengths") {
    expect_rejection(proxy, "POST /x HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                     400, "bad_request");
    CHECK(forwarded.load() == 0);
  }
  SUBCASE("400: a bad chunk size") {
    expect_rejection(proxy, "POST /x HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                     400, "invalid_chunk_size");
    CHECK(forwarded.load() == 0);
  }
  SUBCASE("400: obs-fold") {
    expect_rejection(proxy, "GET /x HTTP/1.1\r\nHost: shop.test\r\nX-Folded: one\r\n two\r\n\r\n", 400, "bad_request");
    CHECK(forwarded.load() == 0);
  }
  SUBCASE("400: a bare LF inside the head") {
    expect_rejection(proxy, "GET /x HTTP/1.1\r\nHost: shop.test\r\nX-A: 1\nX-B: 2\r\n\r\n", 400, "bad_request");
  }
  SUBCASE("413: Content-Length over limits.body_bytes") {
    expect_rejection(proxy, "POST /x HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5000\r\n\r\n" + pattern(5000), 413,
                     "body_too_large");
    CHECK(forwarded.load() == 0);
  }
  SUBCASE("413: a chunked body growing over limits.body_bytes") {
    std::string request = "POST /x HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 6; ++i) request += "200\r\n" + pattern(512) + "\r\n";
    request += "0\r\n\r\n";
    expect_rejection(proxy, request, 413, "body_too_large");
    // The head may have been forwarded already, the complete body never.
    CHECK(forwarded.load() == 0);
  }
  SUBCASE("414: a target over limits.uri_bytes") {
    expect_rejection(proxy, get_request("/" + std::string(600, 'u')), 414, "uri_too_long");
  }
  SUBCASE("431: a head over limits.header_bytes") {
    expect_rejection(proxy, get_request("/x", "X-Big: " + std::string(3000, 'h') + "\r\n"), 431, "header_too_large");
  }
  SUBCASE("431: more header fields than limits.headers") {
    std::string headers;
    for (int i = 0; i < 25; ++i) headers += "X-H" + std::to_string(i) + ": v\r\n";
    expect_rejection(proxy, get_request("/x", headers), 431, "header_too_large");
  }
  SUBCASE("405: CONNECT") {
    expect_rejection(proxy, "CONNECT shop.test:443 HTTP/1.1\r\nHost: shop.test:443\r\n\r\n", 405,
                     "method_not_allowed");
  }
  SUBCASE("a rejected request after a served one on the same connection") {
    Wire client = proxy.connect();
    REQUIRE(client.send(get_request("/fine") + get_request("/" + std::string(600, 'u'))));
    std::optional<Response> fine = read_response(client);
    REQUIRE(fine);
    CHECK(fine->status() == 200);
    std::optional<Response> rejected = read_response(client);
    REQUIRE(rejected);
    CHECK(rejected->status() == 414);
    CHECK(client.wait_closed(3000));
    CHECK(forwarded.load() == 1);
  }
}

TEST_CASE("Expect: 100-continue is passed to the upstream, whose 100 reaches the client before the final answer") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    std::optional<Head> head = conn.read_head();
    if (!head) return;
    if (lower(head->header("expect")) == "100-continue") conn.send("HTTP/1.1 100 Continue\r\n\r\n");
    std::optional<std::string> body = conn.read_exact(*head->content_length());
    if (!body) return;
    conn.send(ok_response("got " + *body));
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();
  REQUIRE(client.send("POST /x HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  std::optional<Head> interim = client.read_head();
  REQUIRE(interim);
  CHECK(interim->status() == 100);
  REQUIRE(client.send("hello"));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(response->body == "got hello");
}
