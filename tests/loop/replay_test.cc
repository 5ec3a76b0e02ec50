// Answer-side replay and asset fallback (skew/replay.h) through one real
// worker loop: the not-found answer never reaches the client; its
// connection is kept when the answer came whole with its head, closed when
// its body was still to come (never reused mid-body); the body is kept within
// actions.replay_bytes and replayed byte for byte; a larger body, an answer
// before the whole body, or no build left get the reload answer; an asset
// current answers 404 is tried on the kept builds, newest first, bounded.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.h"
#include "scripted_upstream.h"

using namespace loop_test;

namespace {

constexpr const char* kActionId = "40a1c2e3f4051627384950a6b7c8d9e0f1a2b3c4d5";

// What Next.js sends when it does not know the action.
const std::string k409Unavailable =  // 16.4+
    "HTTP/1.1 409 Conflict\r\nContent-Type: text/plain\r\nx-nextjs-action-not-found: 1\r\n"
    "Content-Length: 26\r\n\r\nServer Action unavailable.";
const std::string k404NotFound =  // 15.4 to 16.3
    "HTTP/1.1 404 Not Found\r\nx-nextjs-action-not-found: 1\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 16\r\n\r\nAction not found";
const std::string k200Page =  // up to 15.3: the page, streamed
    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
    "f\r\n<html>the page \r\n7\r\n</html>\r\n0\r\n\r\n";

std::string action_post(std::string_view body, std::string_view extra = "") {
  std::string out = "POST /cart?step=2 HTTP/1.1\r\nHost: shop.test\r\nNext-Action: ";
  out.append(kActionId).append("\r\nAccept: text/x-component\r\nContent-Type: text/plain;charset=UTF-8\r\n");
  out.append(extra).append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return out;
}

std::string chunked_action_post(std::string_view body, std::size_t piece) {
  std::string out = "POST /cart?step=2 HTTP/1.1\r\nHost: shop.test\r\nNext-Action: ";
  out.append(kActionId).append("\r\nAccept: text/x-component\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (std::size_t at = 0; at < body.size(); at += piece) {
    const std::string_view part = body.substr(at, piece);
    char size[20];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    out.append(size).append(part).append("\r\n");
  }
  return out + "0\r\n\r\n";
}

// An upstream that answers every request with `response` and counts what it
// saw: requests, connections the proxy closed after the answer, and
// requests that came on a connection already used.
struct Counting {
  std::atomic<int> requests{0};
  std::atomic<int> closed_after_answer{0};
  std::atomic<int> second_request_on_connection{0};
  std::mutex mutex;
  std::vector<std::string> bodies;  // fnv1a of each body received
};

ScriptedUpstream::Script answer_script(std::string response, Counting& seen) {
  return [response, &seen](Wire& conn, int) {
    bool answered = false;
    while (std::optional<Request> request = read_request(conn)) {
      if (answered) ++seen.second_request_on_connection;
      ++seen.requests;
      {
        std::lock_guard lock(seen.mutex);
        seen.bodies.push_back(std::to_string(request->body.size()) + ":" + std::to_string(fnv1a(request->body)));
      }
      if (!conn.send(response)) return;
      answered = true;
    }
    if (answered) ++seen.closed_after_answer;
  };
}

// A build that knows the action: 200 text/x-component naming itself and the
// body it received.
ScriptedUpstream::Script knows_script(std::string name, Counting& seen) {
  return [name, &seen](Wire& conn, int) {
    while (std::optional<Request> request = read_request(conn)) {
      ++seen.requests;
      const std::string body =
          name + " " + std::to_string(request->body.size()) + " " + std::to_string(fnv1a(request->body));
      if (!conn.send("HTTP/1.1 200 OK\r\nContent-Type: text/x-component\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body))
        return;
    }
  };
}

void check_reload_answer(const Response& response) {
  CHECK(response.status() == 200);
  CHECK(response.header("x-action-redirect") == "/cart?step=2");
  CHECK(response.header("x-skewgate-reload") == "required; reason=action_not_found; build=unknown");
  CHECK(response.header("cache-control") == "no-store");
  CHECK(response.header("x-nextjs-action-not-found").empty());
  CHECK(response.body.empty());
}

}  // namespace

TEST_CASE("action replay: every not-found answer is discarded and the call replayed on the retained build") {
  struct Row {
    const char* name;
    std::string response;
  };
  const Row rows[] = {{"Next.js 16.4: 409 + header", k409Unavailable},
                      {"Next.js 15.4: 404 + header", k404NotFound},
                      {"Next.js 15.1: 200 text/html (chunked)", k200Page}};
  for (const Row& row : rows) {
    INFO(row.name);
    Counting current_seen, old_seen;
    ScriptedUpstream old_build(knows_script("a", old_seen));
    ScriptedUpstream current(answer_script(row.response, current_seen));
    Proxy proxy(ProxyOptions{{{"dpl-a", old_build.address()}, {"dpl-b", current.address()}}});
    Wire client = proxy.connect();

    const std::string body = "[\"$K1\",{\"qty\":2}]" + pattern(3000);
    for (int i = 0; i < 2; ++i) {  // twice on one client connection
      CAPTURE(i);
      REQUIRE(client.send(action_post(body)));
      std::optional<Response> response = read_response(client);
      REQUIRE(response);
      CHECK(response->status() == 200);
      CHECK(response->header("content-type") == "text/x-component");
      CHECK(response->body == "a " + std::to_string(body.size()) + " " + std::to_string(fnv1a(body)));
      CHECK(response->header("x-nextjs-action-not-found").empty());
      CHECK(response->header("connection") != "close");
    }
    // Nothing of the discarded answers followed.
    CHECK(client.read_some(1, 100).empty());
    // Current heard each call once, both on one connection: its discarded
    // answer came whole with its head, so the proxy read past it and kept
    // the connection (Exchange::drain_discarded).
    CHECK(current_seen.requests == 2);
    CHECK(current.accepted() == 1);
    CHECK(current_seen.second_request_on_connection == 1);
    CHECK(old_seen.requests == 2);
    std::lock_guard lock(current_seen.mutex);
    for (const std::string& seen : current_seen.bodies)
      CHECK(seen == std::to_string(body.size()) + ":" + std::to_string(fnv1a(body)));
  }
}

TEST_CASE("action replay: a not-found answer whose body is still to come closes its connection") {
  // The 409's head, then its body 200 ms later: the proxy replays at the
  // head and never waits for the rest, so the connection cannot be reused.
  const std::size_t head_end = k409Unavailable.find("\r\n\r\n") + 4;
  Counting current_seen, old_seen;
  ScriptedUpstream old_build(knows_script("a", old_seen));
  ScriptedUpstream current([&](Wire& conn, int) {
    while (std::optional<Request> request = read_request(conn)) {
      ++current_seen.requests;
      if (!conn.send(k409Unavailable.substr(0, head_end))) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (!conn.send(k409Unavailable.substr(head_end))) return;
    }
  });
  Proxy proxy(ProxyOptions{{{"dpl-a", old_build.address()}, {"dpl-b", current.address()}}});
  Wire client = proxy.connect();
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    REQUIRE(client.send(action_post("[1]")));
    std::optional<Response> response = read_response(client);
    REQUIRE(response);
    CHECK(response->status() == 200);
    CHECK(response->body == "a 3 " + std::to_string(fnv1a("[1]")));
  }
  CHECK(current_seen.requests == 2);
  CHECK(current.accepted() == 2);
  CHECK(old_seen.requests == 2);
}

TEST_CASE("action replay: a chunked body is kept and replayed intact") {
  Counting current_seen, old_seen;
  ScriptedUpstream old_build(knows_script("a", old_seen));
  ScriptedUpstream current(answer_script(k409Unavailable, current_seen));
  Proxy proxy(ProxyOptions{{{"dpl-a", old_build.address()}, {"dpl-b", current.address()}}});
  Wire client = proxy.connect();
  const std::string body = pattern(40000, 7);
  REQUIRE(client.send(chunked_action_post(body, 999)));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(response->body == "a " + std::to_string(body.size()) + " " + std::to_string(fnv1a(body)));
}

TEST_CASE("action replay: kept builds newest first, each once; none left: the reload answer") {
  Counting seen_a, seen_b, seen_c;
  ScriptedUpstream a(answer_script(k404NotFound, seen_a));
  ScriptedUpstream b(answer_script(k200Page, seen_b));
  ScriptedUpstream c(answer_script(k409Unavailable, seen_c));
  Proxy proxy(ProxyOptions{{{"dpl-a", a.address()}, {"dpl-b", b.address()}, {"dpl-c", c.address()}}});
  Wire client = proxy.connect();
  REQUIRE(client.send(action_post("[]")));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  check_reload_answer(*response);
  CHECK(seen_a.requests == 1);
  CHECK(seen_b.requests == 1);
  CHECK(seen_c.requests == 1);
  // The client connection goes on.
  CHECK(response->header("connection") != "close");
}

TEST_CASE("action replay: one request costs at most 1 + kMaxActionReplays upstream requests") {
  // Seven kept builds, none knows the action (a made-up ID): current and
  // the four newest others are asked, once each; the two oldest never.
  Counting seen[7];
  std::vector<std::unique_ptr<ScriptedUpstream>> upstreams;
  ProxyOptions options;
  for (int i = 0; i < 7; ++i) {
    upstreams.push_back(std::make_unique<ScriptedUpstream>(answer_script(k200Page, seen[i])));
    options.builds.push_back({std::string("dpl-") + char('a' + i), upstreams.back()->address()});
  }
  Proxy proxy(options);
  Wire client = proxy.connect();
  REQUIRE(client.send(action_post("[]")));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  check_reload_answer(*response);
  const int expected[] = {0, 0, 1, 1, 1, 1, 1};
  for (int i = 0; i < 7; ++i) {
    CAPTURE(i);
    CHECK(seen[i].requests == expected[i]);
  }
}

TEST_CASE("action replay: a body over actions.replay_bytes, or replay_bytes 0, gets the reload answer") {
  struct Row {
    const char* name;
    const char* app_extra;
    bool chunked;
  };
  const Row rows[] = {
      {"Content-Length over the limit", "actions: {replay_bytes: 1KiB}", false},
      {"chunked, over the limit while streaming", "actions: {replay_bytes: 1KiB}", true},
      {"replay_bytes: 0", "actions: {replay_bytes: 0}", false},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    Counting current_seen, old_seen;
    ScriptedUpstream old_build(knows_script("a", old_seen));
    ScriptedUpstream current(answer_script(k409Unavailable, current_seen));
    ProxyOptions options{{{"dpl-a", old_build.address()}, {"dpl-b", current.address()}}};
    options.app_extra = row.app_extra;
    Proxy proxy(options);
    Wire client = proxy.connect();
    const std::string body = pattern(row.chunked ? 5000 : 2048);
    REQUIRE(client.send(row.chunked ? chunked_action_post(body, 300) : action_post(body)));
    std::optional<Response> response = read_response(client);
    REQUIRE(response);
    check_reload_answer(*response);
    CHECK(current_seen.requests == 1);
    CHECK(old_seen.requests == 0);
  }
  // At the limit exactly: replayed.
  Counting current_seen, old_seen;
  ScriptedUpstream old_build(knows_script("a", old_seen));
  ScriptedUpstream current(answer_script(k409Unavailable, current_seen));
  ProxyOptions options{{{"dpl-a", old_build.address()}, {"dpl-b", current.address()}}};
  options.app_extra = "actions: {replay_bytes: 1KiB}";
  Proxy proxy(options);
  Wire client = proxy.connect();
  REQUIRE(client.send(action_post(pattern(1024))));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 200);
  CHECK(old_seen.requests == 1);
}

TEST_CASE("action replay: a not-found answer before the whole body was sent gets the reload answer, then close") {
  Counting old_seen;
  std::atomic<bool> answered{false};
  ScriptedUpstream old_build(knows_script("a", old_seen));
  // Answers as soon as the head is in, body unread (an upstream may).
  ScriptedUpstream current([&](Wire& conn, int) {
    if (!conn.read_head()) return;
    conn.send(k409Unavailable);
    answered = true;
    conn.stall(2000);
  });
  Proxy proxy(ProxyOptions{{{"dpl-a", old_build.address()}, {"dpl-b", current.address()}}});
  Wire client = proxy.connect();
  const std::string body = pattern(8000);
  const std::string request = action_post(body);
  REQUIRE(client.send(request.substr(0, request.size() - 4000)));  // half the body
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  check_reload_answer(*response);
  CHECK(response->header("connection") == "close");
  CHECK(client.wait_closed());
  CHECK(old_seen.requests == 0);
}

TEST_CASE("action replay: answers that ran pass unchanged and are never replayed") {
  struct Row {
    const char* name;
    std::string request;
    std::string response;
    int status;
  };
  const std::string form_body = "%24ACTION_ID_" + std::string(kActionId) + "=&q=1";
  const std::string form_post =
      "POST /cart HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/x-www-form-urlencoded\r\n"
      "Content-Length: " + std::to_string(form_body.size()) + "\r\n\r\n" + form_body;
  const Row rows[] = {
      {"flight answer", action_post("[]"),
       "HTTP/1.1 200 OK\r\nContent-Type: text/x-component\r\nContent-Length: 5\r\n\r\n0:\"x\"", 200},
      {"the app's own 404 page", action_post("[]"),
       "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\nnope", 404},
      {"the app's own 409", action_post("[]"),
       "HTTP/1.1 409 Conflict\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbusy", 409},
      {"a 500", action_post("[]"), "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops", 500},
      {"no-JS form post answered with the page", form_post,
       "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\npage", 200},
      {"POST to an API route answered with the header", 
       "POST /api/x HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 2\r\n\r\n{}", k409Unavailable, 409},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    Counting current_seen, old_seen;
    ScriptedUpstream old_build(knows_script("a", old_seen));
    ScriptedUpstream current(answer_script(row.response, current_seen));
    Proxy proxy(ProxyOptions{{{"dpl-a", old_build.address()}, {"dpl-b", current.address()}}});
    Wire client = proxy.connect();
    REQUIRE(client.send(row.request));
    std::optional<Response> response = read_response(client);
    REQUIRE(response);
    CHECK(response->status() == row.status);
    CHECK(current_seen.requests == 1);
    CHECK(old_seen.requests == 0);
    // The upstream connection was read to the end: it goes back to the pool.
    REQUIRE(client.send(row.request));
    REQUIRE(read_response(client));
    CHECK(current.accepted() == 1);
  }
}

// ---- asset fallback ----

namespace {

std::string asset_404 =
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nCache-Control: public, max-age=31536000, immutable\r\n"
    "Content-Length: 9\r\n\r\nnot found";

ScriptedUpstream::Script asset_script(std::string name, bool has, Counting& seen) {
  return [name, has, &seen](Wire& conn, int) {
    bool answered = false;
    while (std::optional<Request> request = read_request(conn)) {
      if (answered) ++seen.second_request_on_connection;
      ++seen.requests;
      // A HEAD answer is the GET answer's head alone.
      const bool head_only = request->head.method() == "HEAD";
      std::string response = asset_404;
      if (has) {
        const std::string body = name + " " + request->head.target();
        response = "HTTP/1.1 200 OK\r\nContent-Type: application/javascript\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body;
      }
      if (head_only) response.erase(response.find("\r\n\r\n") + 4);
      if (!conn.send(response)) return;
      answered = !has;  // only a 404 is discarded
    }
  };
}

}  // namespace

TEST_CASE("asset fallback: current's 404 is tried on the kept builds newest first; the first non-404 goes out") {
  for (const char* method : {"GET", "HEAD"}) {
    INFO(method);
    Counting seen_a, seen_b, seen_c;
    ScriptedUpstream a(asset_script("a", true, seen_a));
    ScriptedUpstream b(asset_script("b", false, seen_b));
    ScriptedUpstream c(asset_script("c", false, seen_c));
    Proxy proxy(ProxyOptions{{{"dpl-a", a.address()}, {"dpl-b", b.address()}, {"dpl-c", c.address()}}});
    Wire client = proxy.connect();
    const std::string request = std::string(method) + " /_next/static/immutable/x.js HTTP/1.1\r\nHost: shop.test\r\n\r\n";
    for (int i = 0; i < 2; ++i) {
      CAPTURE(i);
      REQUIRE(client.send(request));
      std::optional<Response> response = read_response(client, method == std::string("HEAD"));
      REQUIRE(response);
      CHECK(response->status() == 200);
      if (method == std::string("GET")) {
        CHECK(response->body == "a /_next/static/immutable/x.js");
      } else {
        CHECK(response->body.empty());
        CHECK(response->header("content-length") == "30");
      }
      CHECK(response->header("connection") != "close");
    }
    CHECK(client.read_some(1, 100).empty());
    CHECK(seen_c.requests == 2);
    CHECK(seen_b.requests == 2);
    CHECK(seen_a.requests == 2);
    // A discarded 404 read whole (a HEAD's has no body) leaves its
    // connection to the next request.
    CHECK(seen_c.second_request_on_connection == 1);
    CHECK(seen_b.second_request_on_connection == 1);
  }
}

TEST_CASE("asset fallback: all 404: the last 404 goes out with no-store, after at most fallback_builds tries") {
  Counting seen[5];
  std::vector<std::unique_ptr<ScriptedUpstream>> upstreams;
  ProxyOptions options;
  for (int i = 0; i < 5; ++i) {
    upstreams.push_back(std::make_unique<ScriptedUpstream>(asset_script(std::string(1, char('a' + i)), false, seen[i])));
    options.builds.push_back({std::string("dpl-") + char('a' + i), upstreams.back()->address()});
  }
  options.app_extra = "assets: {fallback_builds: 2}";
  Proxy proxy(options);
  Wire client = proxy.connect();
  REQUIRE(client.send(get_request("/_next/static/chunks/old.js")));
  std::optional<Response> response = read_response(client);
  REQUIRE(response);
  CHECK(response->status() == 404);
  CHECK(response->header("cache-control") == "no-store");
  CHECK(response->body == "not found");
  // e (current), then d and c; never b or a.
  CHECK(seen[4].requests == 1);
  CHECK(seen[3].requests == 1);
  CHECK(seen[2].requests == 1);
  CHECK(seen[1].requests == 0);
  CHECK(seen[0].requests == 0);
}

TEST_CASE("asset fallback: not for an asset with dpl, nor when assets.fallback_builds is 0") {
  struct Row {
    const char* name;
    const char* target;
    const char* app_extra;
  };
  const Row rows[] = {
      {"dpl names current", "/_next/static/chunks/x.js?dpl=dpl-b", ""},
      {"fallback_builds: 0", "/_next/static/chunks/x.js", "assets: {fallback_builds: 0}"},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    Counting seen_a, seen_b;
    ScriptedUpstream a(asset_script("a", true, seen_a));
    ScriptedUpstream b(asset_script("b", false, seen_b));
    ProxyOptions options{{{"dpl-a", a.address()}, {"dpl-b", b.address()}}};
    options.app_extra = row.app_extra;
    Proxy proxy(options);
    Wire client = proxy.connect();
    REQUIRE(client.send(get_request(row.target)));
    std::optional<Response> response = read_response(client);
    REQUIRE(response);
    CHECK(response->status() == 404);
    CHECK(response->header("cache-control") == "public, max-age=31536000, immutable");
    CHECK(seen_a.requests == 0);
  }
}
