// Keep-alive, pipelining and chunked framing through one real worker loop.
#include <doctest/doctest.h>

#include <atomic>

#include "proxy_fixture.h"
#include "scripted_upstream.h"

using namespace loop_test;

TEST_CASE("keep-alive: two sequential requests on one client connection share one upstream connection") {
  ScriptedUpstream upstream(echo_target_script("a"));
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send(get_request("/first")));
  std::optional<Response> first = read_response(client);
  REQUIRE(first);
  CHECK(first->status() == 200);
  CHECK(first->body == "a /first");
  CHECK(first->header("connection") != "close");

  REQUIRE(client.send(get_request("/second")));
  std::optional<Response> second = read_response(client);
  REQUIRE(second);
  CHECK(second->status() == 200);
  CHECK(second->body == "a /second");

  CHECK(upstream.accepted() == 1);
}

TEST_CASE("pipelining: three requests in one write are answered in order, by the builds they name") {
  // Build a answers its first request late, so an out-of-order proxy would
  // let b's answer overtake it.
  ScriptedUpstream a([](Wire& conn, int) {
    bool first = true;
    while (std::optional<Request> request = read_request(conn)) {
      if (first) sleep_ms(150);
      first = false;
      if (!conn.send(ok_response("a " + request->head.target()))) return;
    }
  });
  ScriptedUpstream b(echo_target_script("b"));
  Proxy proxy(ProxyOptions{{{"dpl-a", a.address()}, {"dpl-b", b.address()}}});
  Wire client = proxy.connect();

  // RSC requests (`RSC: 1`) are the ones Next.js names their build on.
  REQUIRE(client.send(get_request("/1", "RSC: 1\r\nx-deployment-id: dpl-a\r\n") + get_request("/2", "RSC: 1\r\n") +
                      get_request("/3", "RSC: 1\r\nx-deployment-id: dpl-a\r\n")));
  const char* expected[] = {"a /1", "b /2", "a /3"};
  for (const char* body : expected) {
    CAPTURE(body);
    std::optional<Response> response = read_response(client);
    REQUIRE(response);
    CHECK(response->status() == 200);
    CHECK(response->body == body);
  }
  CHECK(a.accepted() == 1);
  CHECK(b.accepted() == 1);
}

TEST_CASE("chunked request body is re-chunked upstream and arrives intact") {
  std::atomic<bool> upstream_saw_chunked{false};
  std::atomic<bool> upstream_saw_length{false};
  ScriptedUpstream upstream([&](Wire& conn, int) {
    std::optional<Request> request = read_request(conn);
    if (!request) return;
    upstream_saw_chunked = request->head.chunked();
    upstream_saw_length = request->head.has("content-length");
    conn.send(ok_response(std::to_string(request->body.size()) + " " + std::to_string(fnv1a(request->body))));
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  // Uneven chunk sizes, one bigger than the worker's 64 KiB read buffer, an
  // extension, and a trailer; sent in pieces that split chunk headers.
  const std::size_t sizes[] = {1, 10, 4096, 100000, 3, 65536, 17};
  std::string body;
  std::string wire_body;
  for (std::size_t size : sizes) {
    const std::string chunk = pattern(size, body.size());
    char line[32];
    std::snprintf(line, sizeof line, "%zx%s\r\n", size, size == 3 ? ";ext=1" : "");
    wire_body += line + chunk + "\r\n";
    body += chunk;
  }
  wire_body += "0\r\nx-trailer: yes\r\n\r\n";
  const std::string head =
      "POST /upload HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n";
  REQUIRE(client.send(head + wire_body.substr(0, 5)));
  sleep_ms(20);
  for (std::size_t at = 5; at < wire_body.size(); at += 7919) {
    REQUIRE(client.send(std::string_view(wire_body).substr(at, 7919)));
  }

  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(response->body == std::to_string(body.size()) + " " + std::to_string(fnv1a(body)));
  CHECK(upstream_saw_chunked);
  CHECK_FALSE(upstream_saw_length);
}

TEST_CASE("chunked response is passed to the client intact") {
  std::string expected;
  std::string wire_body;
  const std::size_t sizes[] = {5, 70000, 1, 300000, 12};
  for (std::size_t size : sizes) {
    const std::string chunk = pattern(size, expected.size());
    char line[32];
    std::snprintf(line, sizeof line, "%zx\r\n", size);
    wire_body += line + chunk + "\r\n";
    expected += chunk;
  }
  wire_body += "0\r\n\r\n";
  ScriptedUpstream upstream([&](Wire& conn, int) {
    if (!read_request(conn)) return;
    conn.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    // In uneven pieces, with pauses, so the proxy sees partial chunks.
    for (std::size_t at = 0; at < wire_body.size(); at += 50021) {
      if (!conn.send(std::string_view(wire_body).substr(at, 50021))) return;
      sleep_ms(2);
    }
    // The connection stays open: the framing alone ends the body, and the
    // next request may come on it.
    while (std::optional<Request> request = read_request(conn)) conn.send(ok_response("again"));
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send(get_request("/stream")));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(response->head.chunked());
  CHECK(response->body.size() == expected.size());
  CHECK(fnv1a(response->body) == fnv1a(expected));

  // Both connections survive a chunked response.
  REQUIRE(client.send(get_request("/again")));
  std::optional<Response> again = read_response(client);
  REQUIRE(again);
  CHECK(again->status() == 200);
  CHECK(again->body == "again");
  CHECK(upstream.accepted() == 1);
}

TEST_CASE("bodiless responses: HEAD, 204 and 304 carry no body and the connection goes on") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    while (std::optional<Request> request = read_request(conn)) {
      const std::string target = request->head.target();
      std::string reply;
      if (request->head.method() == "HEAD") {
        reply = "HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n";
      } else if (target == "/204") {
        reply = "HTTP/1.1 204 No Content\r\n\r\n";
      } else if (target == "/304") {
        reply = "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";
      } else {
        reply = ok_response("body " + target);
      }
      if (!conn.send(reply)) return;
    }
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send("HEAD /h HTTP/1.1\r\nHost: shop.test\r\n\r\n"));
  std::optional<Response> head = read_response(client, true);
  REQUIRE(head);
  CHECK(head->status() == 200);
  CHECK(head->header("content-length") == "12345");
  for (const char* target : {"/204", "/304"}) {
    CAPTURE(target);
    REQUIRE(client.send(get_request(target)));
    std::optional<Response> response = read_response(client);
    REQUIRE(response);
    CHECK(response->status() == std::atoi(target + 1));
    CHECK_FALSE(response->head.chunked());
  }
  // Any stray body byte would show up in front of this response.
  REQUIRE(client.send(get_request("/last")));
  std::optional<Response> last = read_response(client);
  REQUIRE(last);
  CHECK(last->status() == 200);
  CHECK(last->body == "body /last");
  CHECK(upstream.accepted() == 1);
}

TEST_CASE("a response delimited by the upstream closing is re-chunked for an HTTP/1.1 client") {
  const std::string body = pattern(150000);
  ScriptedUpstream upstream([&](Wire& conn, int) {
    if (!read_request(conn)) return;
    conn.send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body);
    conn.close();
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();
  REQUIRE(client.send(get_request("/eof")));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(response->head.chunked());
  CHECK(response->body.size() == body.size());
  CHECK(fnv1a(response->body) == fnv1a(body));
}

TEST_CASE("a response delimited by the upstream closing reaches an HTTP/1.0 client delimited by close") {
  const std::string body = pattern(150000);
  ScriptedUpstream upstream([&](Wire& conn, int) {
    if (!read_request(conn)) return;
    conn.send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body);
    conn.close();
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();
  REQUIRE(client.send("GET /eof HTTP/1.0\r\nHost: shop.test\r\n\r\n"));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK_FALSE(response->head.chunked());
  CHECK(response->body.size() == body.size());
  CHECK(fnv1a(response->body) == fnv1a(body));
  CHECK(client.eof());
}

// Issue 19: a keep-alive connection idle for longer than its park time
// (50 ms) gives its busy state (parser, buffers, send deadline) back to the
// loop and takes a fresh one at its next byte: a request after the pause,
// one whose head spans the pause, and two pipelined ones are all served, and
// the upstream sees the peer's address (formatted per request from the bytes
// the connection keeps).
TEST_CASE("keep-alive: a connection parked between requests serves whole, split and pipelined requests after") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    while (std::optional<Request> request = read_request(conn)) {
      const std::string body = request->head.target() + " " + request->head.header("x-forwarded-for");
      if (!conn.send(ok_response(body))) return;
    }
  });
  Proxy proxy(upstream.address());
  Wire client = proxy.connect();

  REQUIRE(client.send(get_request("/1")));
  std::optional<Response> first = read_response(client);
  REQUIRE(first);
  CHECK(first->body == "/1 127.0.0.1");

  sleep_ms(150);  // parked: the busy state went back
  const std::string second = get_request("/2");
  REQUIRE(client.send(second.substr(0, 10)));
  sleep_ms(150);  // a head that spans the pause keeps its state
  REQUIRE(client.send(second.substr(10)));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(response->body == "/2 127.0.0.1");

  sleep_ms(150);
  REQUIRE(client.send(get_request("/3") + get_request("/4")));
  for (const char* body : {"/3 127.0.0.1", "/4 127.0.0.1"}) {
    CAPTURE(body);
    std::optional<Response> r = read_response(client);
    REQUIRE(r);
    CHECK(r->status() == 200);
    CHECK(r->body == body);
  }
  CHECK(upstream.accepted() == 1);
}
