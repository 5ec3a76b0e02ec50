// No connection lives forever (issue 13, items 4-6): every phase has a
// deadline, a paused read never stops the deadline of the side that holds
// things up, Expect: 100-continue on a peeked form post is answered by the
// proxy itself, and a declined Upgrade leaves a normal keep-alive connection.
// Timeouts are tiny here; timing checks are only "closed within timeout plus
// generous slack".
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "proxy_fixture.h"
#include "scripted_upstream.h"

using namespace loop_test;

namespace {

constexpr int kTimeoutMs = 300;
constexpr int kSlackMs = 1500;
constexpr const char* kTinyTimeouts =
    "{upstream_connect: 500ms, upstream_response: 300ms, client_header: 1s, client_idle: 3s, drain: 2s, "
    "upstream_idle: 1s, client_body: 300ms, client_send: 300ms, tunnel_idle: 300ms}";

// The JSON access log of one proxy, read after it drained.
class LoggedProxy {
 public:
  explicit LoggedProxy(const std::string& upstream, std::string timeouts = kTinyTimeouts) {
    char path[] = "/tmp/sg-timeout-log-XXXXXX";
    const int fd = ::mkstemp(path);
    ::close(fd);
    path_ = path;
    proxy_ = std::make_unique<Proxy>(ProxyOptions{{{"dpl-a", upstream}}, std::move(timeouts), "", path_});
  }
  ~LoggedProxy() {
    proxy_.reset();
    std::remove(path_.c_str());
  }
  Proxy& operator*() { return *proxy_; }
  Proxy* operator->() { return proxy_.get(); }

  // Drains the proxy (the handle check runs) and returns the log's details.
  std::vector<std::string> drain_and_details() {
    CHECK_MESSAGE(proxy_->drain() == 0, "libuv handles left open when the worker loop ended");
    std::ifstream in(path_);
    std::vector<std::string> details;
    for (std::string line; std::getline(in, line);) {
      const nlohmann::json entry = nlohmann::json::parse(line, nullptr, false);
      if (!entry.is_discarded()) details.push_back(entry.value("detail", ""));
    }
    return details;
  }

 private:
  std::string path_;
  std::unique_ptr<Proxy> proxy_;
};

bool contains(const std::vector<std::string>& values, std::string_view value) {
  for (const auto& v : values)
    if (v == value) return true;
  return false;
}

std::string joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += v + " ";
  return out;
}

long long elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

// Reads the head, then holds the connection without reading the body or
// answering, until the proxy closes it.
void hold(Wire& conn, int) {
  if (!conn.read_head()) return;
  conn.stall(8000);
}

}  // namespace

// ---- item 4: client_body ----

TEST_CASE("client_body: a body that stops arriving gets 408 client_body_timeout (before any response), then close") {
  const struct {
    const char* name;
    std::string request;
  } cases[] = {
      {"Content-Length, part sent",
       "POST /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/octet-stream\r\n"
       "Content-Length: 100\r\n\r\nhalf"},
      {"Content-Length, nothing sent", "PUT /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 10\r\n\r\n"},
      {"chunked, mid-chunk", "POST /upload HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"},
      {"chunked, between chunks",
       "POST /upload HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"},
      {"a form post being peeked before the decision",
       "POST /form HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/x-www-form-urlencoded\r\n"
       "Content-Length: 50\r\n\r\nname=x"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    ScriptedUpstream upstream(hold);
    LoggedProxy proxy(upstream.address());
    Wire client = proxy->connect();
    REQUIRE(client.send(c.request));
    const auto start = Clock::now();
    std::optional<Response> response = read_response(client, false, kTimeoutMs + kSlackMs);
    REQUIRE(response);
    CHECK(response->status() == 408);
    CHECK(lower(response->header("connection")) == "close");
    const nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
    CHECK(body.value("error", "") == "client_body_timeout");
    CHECK(client.wait_closed(kSlackMs + 2000));  // lingering close: at most linger time
    CHECK(elapsed_ms(start) >= kTimeoutMs - 50);
    const auto details = proxy.drain_and_details();
    CAPTURE(joined(details));
    CHECK(contains(details, "client_body_timeout"));
  }
}

TEST_CASE("client_body: once the response has started, a stalled body just closes the connection") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    if (!conn.read_head()) return;
    // Answers early with a response that is not finished yet.
    conn.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nearly\r\n");
    conn.stall(8000);
  });
  LoggedProxy proxy(upstream.address(),
                    "{upstream_connect: 500ms, upstream_response: 10s, client_header: 1s, client_idle: 3s, "
                    "drain: 2s, upstream_idle: 1s, client_body: 300ms, client_send: 300ms, tunnel_idle: 300ms}");
  Wire client = proxy->connect();
  REQUIRE(client.send("POST /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 100\r\n\r\nsome"));
  std::optional<Head> head = client.read_head(3000);
  REQUIRE(head);
  CHECK(head->status() == 200);
  const auto start = Clock::now();
  const std::string rest = client.read_to_eof(kTimeoutMs + kSlackMs);
  CHECK(client.eof());
  CHECK(rest.find("408") == std::string::npos);
  CHECK(elapsed_ms(start) < kTimeoutMs + kSlackMs);
  const auto details = proxy.drain_and_details();
  CAPTURE(joined(details));
  CHECK(contains(details, "client_body_timeout"));
}

TEST_CASE("client_body: a slow body whose every gap is shorter than client_body is served") {
  ScriptedUpstream upstream([](Wire& conn, int) {
    std::optional<Request> request = read_request(conn, 8000);
    if (!request) return;
    conn.send(ok_response("got " + request->body));
  });
  LoggedProxy proxy(upstream.address());
  Wire client = proxy->connect();
  REQUIRE(client.send("POST /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 6\r\n\r\n"));
  for (const char* piece : {"ab", "cd", "ef"}) {  // 3 x 150 ms: longer than client_body in all
    sleep_ms(150);
    REQUIRE(client.send(piece));
  }
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(response->body == "got abcdef");
  proxy.drain_and_details();
}

TEST_CASE("a body held back by an upstream that does not read: 504 upstream_send_timeout, not a client timeout") {
  // Reads paused for the upstream's sake must not blame the client; the
  // upstream's deadline runs instead (nginx: proxy_send_timeout).
  ScriptedUpstream upstream(hold);
  LoggedProxy proxy(upstream.address());
  Wire client = proxy->connect();
  std::atomic<bool> done{false};
  std::thread sender([&] {
    client.send("POST /upload HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 67108864\r\n\r\n");
    const std::string block(64 * 1024, 'x');
    for (int i = 0; i < 1024 && !done.load(); ++i)
      if (!client.send(block, 200) && done.load()) break;
  });
  std::optional<Response> response = read_response(client, false, 6000);
  done = true;
  sender.join();
  REQUIRE(response);
  CHECK(response->status() == 504);
  const nlohmann::json body = nlohmann::json::parse(response->body, nullptr, false);
  CHECK(body.value("reason", "") == "upstream_send_timeout");
  const auto details = proxy.drain_and_details();
  CAPTURE(joined(details));
  CHECK(contains(details, "upstream_send_timeout"));
  CHECK_FALSE(contains(details, "client_body_timeout"));
}

// ---- item 4: client_send ----

namespace {

// Streams an endless response (or tunnel data) until the proxy closes.
ScriptedUpstream::Script flood(std::atomic<bool>& upstream_closed, bool upgrade) {
  return [&upstream_closed, upgrade](Wire& conn, int) {
    if (!conn.read_head()) return;
    conn.set_sndbuf(64 * 1024);
    const std::string head = upgrade ? "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                                     : "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n";
    if (!conn.send(head)) return;
    const std::string block = pattern(64 * 1024);
    const auto deadline = Clock::now() + milliseconds(10000);
    while (Clock::now() < deadline) {
      if (!conn.send(block, 200)) {
        // Blocked (the proxy holds us back) or closed: find out which.
        pollfd p{conn.fd(), POLLIN, 0};
        if (::poll(&p, 1, 0) > 0 && !conn.fill(10)) break;
      }
    }
    upstream_closed = Clock::now() < deadline;
  };
}

constexpr const char* kUpgradeRequest =
    "GET /socket HTTP/1.1\r\nHost: shop.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

}  // namespace

TEST_CASE("client_send: a client that stops reading is closed after client_send, and so is its upstream") {
  const struct {
    const char* name;
    bool upgrade;
  } cases[] = {{"a proxied response", false}, {"a tunnel the upstream floods", true}};
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    std::atomic<bool> upstream_closed{false};
    ScriptedUpstream upstream(flood(upstream_closed, c.upgrade));
    // upstream_response and tunnel_idle are long: only client_send can end this.
    LoggedProxy proxy(upstream.address(),
                      "{upstream_connect: 500ms, upstream_response: 30s, client_header: 1s, client_idle: 3s, "
                      "drain: 2s, upstream_idle: 1s, client_body: 30s, client_send: 300ms, tunnel_idle: 30s}");
    Wire client = proxy->connect(64 * 1024);
    REQUIRE(client.send(c.upgrade ? std::string(kUpgradeRequest) : get_request("/big")));
    // Never read: the proxy's write queue fills, then nothing moves.
    REQUIRE(upstream.wait_finished(1, 8000));
    CHECK(upstream_closed.load());
    // What the kernel buffered is still readable; then EOF, long before 1 GiB.
    std::uint64_t total = 0;
    while (client.fill(3000)) total += std::exchange(client.pending(), {}).size();
    CHECK(client.eof());
    CHECK(total < (64ull << 20));
    const auto details = proxy.drain_and_details();
    CAPTURE(joined(details));
    CHECK(contains(details, "client_send_timeout"));
  }
}

// ---- item 4: an upstream that stops mid-response ----

TEST_CASE("upstream_response: an upstream that stops sending mid-response closes the client within the timeout") {
  const struct {
    const char* name;
    const char* partial;
  } cases[] = {
      {"Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf"},
      {"chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhalf\r\n"},
      {"half a head", "HTTP/1.1 200 OK\r\nContent-Le"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    ScriptedUpstream upstream([&c](Wire& conn, int) {
      if (!conn.read_head()) return;
      conn.send(c.partial);
      conn.stall(8000);
    });
    LoggedProxy proxy(upstream.address());
    Wire client = proxy->connect();
    REQUIRE(client.send(get_request("/page")));
    const auto start = Clock::now();
    if (std::string_view(c.name) == "half a head") {
      // Nothing went out yet: a whole 504 answer, the connection goes on.
      std::optional<Response> response = read_response(client, false, kTimeoutMs + kSlackMs);
      REQUIRE(response);
      CHECK(response->status() == 504);
    } else {
      // The head went out already: all the client can learn is the close.
      client.read_to_eof(kTimeoutMs + kSlackMs);
      CHECK(client.eof());
    }
    CHECK(elapsed_ms(start) < kTimeoutMs + kSlackMs);
    const auto details = proxy.drain_and_details();
    CAPTURE(joined(details));
    CHECK(contains(details, "response_timeout"));
  }
}

// ---- item 4: tunnel_idle ----

namespace {

ScriptedUpstream::Script tunnel_echo(std::atomic<bool>& saw_eof) {
  return [&saw_eof](Wire& conn, int) {
    if (!conn.read_head()) return;
    if (!conn.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")) return;
    for (;;) {
      if (conn.pending().empty() && !conn.fill(8000)) break;
      if (!conn.send("echo:" + std::exchange(conn.pending(), {}))) break;
    }
    saw_eof = conn.eof();
  };
}

}  // namespace

TEST_CASE("tunnel_idle: a tunnel with no byte either way is closed on both sides") {
  std::atomic<bool> saw_eof{false};
  ScriptedUpstream upstream(tunnel_echo(saw_eof));
  LoggedProxy proxy(upstream.address());
  Wire client = proxy->connect();
  REQUIRE(client.send(kUpgradeRequest));
  std::optional<Head> head = client.read_head();
  REQUIRE(head);
  REQUIRE(head->status() == 101);
  const auto start = Clock::now();
  CHECK(client.wait_closed(kTimeoutMs + kSlackMs));
  CHECK(elapsed_ms(start) >= kTimeoutMs - 50);
  CHECK(upstream.wait_finished(1, kSlackMs));
  CHECK(saw_eof.load());
  const auto details = proxy.drain_and_details();
  CAPTURE(joined(details));
  CHECK(contains(details, "tunnel_idle_timeout"));
}

TEST_CASE("tunnel_idle: bytes in either direction keep a tunnel open past tunnel_idle") {
  std::atomic<bool> saw_eof{false};
  ScriptedUpstream upstream(tunnel_echo(saw_eof));
  LoggedProxy proxy(upstream.address());
  Wire client = proxy->connect();
  REQUIRE(client.send(kUpgradeRequest));
  std::optional<Head> head = client.read_head();
  REQUIRE(head);
  REQUIRE(head->status() == 101);
  for (int i = 0; i < 5; ++i) {  // 5 x 150 ms: longer than tunnel_idle in all
    sleep_ms(150);
    REQUIRE(client.send("p"));
    std::optional<std::string> echo = client.read_exact(6, 2000);
    REQUIRE(echo);
    CHECK(*echo == "echo:p");
  }
  CHECK_FALSE(client.eof());
  client.close();
  proxy.drain_and_details();
}

// ---- item 5: Expect: 100-continue on a peeked form post ----

TEST_CASE("Expect: 100-continue on a form post the proxy must read first: the proxy sends 100 itself, once") {
  const struct {
    const char* name;
    const char* content_type;
    std::string body;
    bool upstream_sends_100;  // even when it should not: never relayed twice
  } cases[] = {
      {"urlencoded", "application/x-www-form-urlencoded", "name=ada&lang=en", true},
      {"urlencoded, upstream silent", "application/x-www-form-urlencoded", "name=ada", false},
      {"multipart", "multipart/form-data; boundary=XyZ",
       "--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nada\r\n--XyZ--\r\n", true},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    std::atomic<bool> upstream_saw_expect{false};
    ScriptedUpstream upstream([&](Wire& conn, int) {
      std::optional<Head> head = conn.read_head();
      if (!head) return;
      upstream_saw_expect = head->has("expect");
      if (c.upstream_sends_100) conn.send("HTTP/1.1 100 Continue\r\n\r\n");
      std::optional<std::string> body = conn.read_exact(*head->content_length());
      if (!body) return;
      conn.send(ok_response("got " + *body));
    });
    LoggedProxy proxy(upstream.address(), kDefaultTimeouts);
    Wire client = proxy->connect();
    REQUIRE(client.send("POST /form HTTP/1.1\r\nHost: shop.test\r\nContent-Type: " + std::string(c.content_type) +
                        "\r\nContent-Length: " + std::to_string(c.body.size()) + "\r\nExpect: 100-continue\r\n\r\n"));
    // A short, bounded wait: the proxy must not leave the client to its own timer.
    std::optional<Head> interim = client.read_head(500);
    REQUIRE(interim);
    CHECK(interim->status() == 100);
    REQUIRE(client.send(c.body));
    std::optional<Head> final_head = client.read_head(3000);
    REQUIRE(final_head);
    CHECK(final_head->status() == 200);  // not a second 100
    std::optional<std::string> body = client.read_exact(*final_head->content_length());
    REQUIRE(body);
    CHECK(*body == "got " + c.body);
    CHECK_FALSE(upstream_saw_expect.load());
    proxy.drain_and_details();
  }
}

// ---- item 6: a declined Upgrade ----

TEST_CASE("an Upgrade the upstream declines leaves a keep-alive connection: the next request is served") {
  const struct {
    const char* name;
    std::string answer;
  } cases[] = {
      {"200", ok_response("no upgrade here")},
      {"404", "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"},
      {"426", "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n"},
      {"302 chunked", "HTTP/1.1 302 Found\r\nLocation: /\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    std::atomic<int> requests{0};
    ScriptedUpstream upstream([&](Wire& conn, int) {
      while (std::optional<Request> request = read_request(conn)) {
        const int n = requests++;
        if (!conn.send(n == 0 ? c.answer : ok_response("second " + request->head.target()))) return;
      }
    });
    LoggedProxy proxy(upstream.address(), kDefaultTimeouts);
    Wire client = proxy->connect();
    REQUIRE(client.send(kUpgradeRequest));
    std::optional<Response> declined = read_response(client, false, 3000);
    REQUIRE(declined);
    CHECK(declined->status() == std::stoi(c.name));
    CHECK(lower(declined->header("connection")) != "close");
    REQUIRE(client.send(get_request("/next")));
    std::optional<Response> next = read_response(client, false, 3000);
    REQUIRE(next);
    CHECK(next->status() == 200);
    CHECK(next->body == "second /next");
    proxy.drain_and_details();
  }
}
