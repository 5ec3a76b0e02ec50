#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/http1/http_head.h"

using sg::gateway::BodyFraming;
using sg::gateway::ForwardContext;
using sg::gateway::HeaderField;
using sg::gateway::RequestHead;
using sg::gateway::ResponseHead;

namespace {

RequestHead request(std::vector<HeaderField> headers, std::string method = "GET", std::string target = "/") {
  RequestHead head;
  head.method = std::move(method);
  head.target = std::move(target);
  head.headers = std::move(headers);
  return head;
}

std::string upstream(const RequestHead& head, ForwardContext context = {"203.0.113.9", false, false}) {
  std::string out;
  append_upstream_request_head(out, head, context);
  return out;
}

std::string downstream(const ResponseHead& head, BodyFraming framing, bool keep_alive = true) {
  std::string out;
  append_downstream_response_head(out, head, framing, keep_alive);
  return out;
}

bool has_line(const std::string& head, const std::string& line) {
  return head.find("\r\n" + line + "\r\n") != std::string::npos;
}

// Case-insensitive search for a header name at the start of a line.
bool has_header(const std::string& head, const std::string& name) {
  std::size_t pos = 0;
  while ((pos = head.find("\r\n", pos)) != std::string::npos) {
    pos += 2;
    if (sg::routing::iequals(std::string_view(head).substr(pos, name.size() + 1), name + ":")) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("upstream head: exact bytes for a plain GET") {
  auto head = request({{"Host", "shop.example.com"}, {"Accept", "text/html"}}, "GET", "/p?_rsc=1&dpl=x");
  CHECK(upstream(head) ==
        "GET /p?_rsc=1&dpl=x HTTP/1.1\r\n"
        "Host: shop.example.com\r\n"
        "Accept: text/html\r\n"
        "X-Forwarded-For: 203.0.113.9\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Forwarded-Host: shop.example.com\r\n"
        "\r\n");
}

TEST_CASE("upstream head: always HTTP/1.1, appends to existing bytes") {
  auto head = request({{"Host", "h"}});
  head.http_minor = 0;
  std::string out = "prefix";
  append_upstream_request_head(out, head, {"10.0.0.1", false, false});
  CHECK(out.starts_with("prefixGET / HTTP/1.1\r\n"));
  CHECK(out.ends_with("\r\n\r\n"));
}

TEST_CASE("upstream head: hop-by-hop and Connection-nominated headers removed") {
  auto head = request({
      {"Host", "shop.example.com"},
      {"Connection", "keep-alive, X-Foo"},
      {"connection", "x-bar"},
      {"Keep-Alive", "timeout=5"},
      {"Proxy-Connection", "keep-alive"},
      {"TE", "trailers"},
      {"Trailer", "x-checksum"},
      {"Transfer-Encoding", "chunked"},
      {"Upgrade", "h2c"},
      {"x-foo", "1"},
      {"X-BAR", "2"},
      {"X-Baz", "3"},
      {"x-middleware-subrequest", "middleware:middleware"},
      {"X-Middleware-Subrequest", "src/middleware"},
      {"Origin", "https://shop.example.com"},
      {"x-deployment-id", "dpl-a"},
  });
  head.chunked = true;
  std::string out = upstream(head);
  for (const char* gone : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade", "x-foo",
                           "x-bar", "x-middleware-subrequest"}) {
    CAPTURE(gone);
    CHECK_FALSE(has_header(out, gone));
  }
  CHECK(has_line(out, "X-Baz: 3"));
  CHECK(has_line(out, "Origin: https://shop.example.com"));
  CHECK(has_line(out, "Host: shop.example.com"));
  CHECK(has_line(out, "x-deployment-id: dpl-a"));
  CHECK(has_line(out, "Transfer-Encoding: chunked"));
}

TEST_CASE("upstream head: Connection cannot strip Host or Origin") {
  auto head = request({{"Host", "h.example"}, {"Origin", "https://h.example"}, {"Connection", "Host, origin"}});
  std::string out = upstream(head);
  CHECK(has_line(out, "Host: h.example"));
  CHECK(has_line(out, "Origin: https://h.example"));
}

TEST_CASE("upstream head: X-Forwarded-* trusted and untrusted") {
  std::vector<HeaderField> headers = {
      {"Host", "shop.example.com:8080"},
      {"X-Forwarded-For", "198.51.100.1"},
      {"x-forwarded-for", "198.51.100.2, 10.0.0.3"},
      {"X-Forwarded-Proto", "https"},
      {"X-Forwarded-Host", "www.shop.example.com"},
  };
  SUBCASE("untrusted: replaced") {
    std::string out = upstream(request(headers), {"203.0.113.9", false, false});
    CHECK(has_line(out, "X-Forwarded-For: 203.0.113.9"));
    CHECK(has_line(out, "X-Forwarded-Proto: http"));
    CHECK(has_line(out, "X-Forwarded-Host: shop.example.com:8080"));
    CHECK(out.find("198.51.100") == std::string::npos);
    CHECK(out.find("www.shop") == std::string::npos);
  }
  SUBCASE("untrusted over TLS") {
    std::string out = upstream(request(headers), {"2001:db8::7", false, true});
    CHECK(has_line(out, "X-Forwarded-For: 2001:db8::7"));
    CHECK(has_line(out, "X-Forwarded-Proto: https"));
  }
  SUBCASE("trusted: appended and kept") {
    std::string out = upstream(request(headers), {"10.0.0.4", true, false});
    CHECK(has_line(out, "X-Forwarded-For: 198.51.100.1, 198.51.100.2, 10.0.0.3, 10.0.0.4"));
    CHECK(has_line(out, "X-Forwarded-Proto: https"));
    CHECK(has_line(out, "X-Forwarded-Host: www.shop.example.com"));
  }
  SUBCASE("trusted without incoming values: set") {
    std::string out = upstream(request({{"Host", "shop.example.com"}}), {"10.0.0.4", true, true});
    CHECK(has_line(out, "X-Forwarded-For: 10.0.0.4"));
    CHECK(has_line(out, "X-Forwarded-Proto: https"));
    CHECK(has_line(out, "X-Forwarded-Host: shop.example.com"));
  }
  SUBCASE("each written once") {
    std::string out = upstream(request(headers), {"10.0.0.4", true, false});
    for (const char* name : {"X-Forwarded-For:", "X-Forwarded-Proto:", "X-Forwarded-Host:"}) {
      CAPTURE(name);
      std::size_t first = out.find(name);
      REQUIRE(first != std::string::npos);
      CHECK(out.find(name, first + 1) == std::string::npos);
    }
  }
}

TEST_CASE("upstream head: X-Real-IP, Forwarded, X-Forwarded-Port only from a trusted peer") {
  std::vector<HeaderField> headers = {
      {"Host", "shop.example.com"},  {"X-Real-IP", "198.51.100.1"},      {"x-real-ip", "198.51.100.2"},
      {"Forwarded", "for=198.51.100.1;proto=https"}, {"FORWARDED", "for=x"}, {"X-Forwarded-Port", "443"},
  };
  SUBCASE("untrusted: every one removed, whatever its case or count") {
    std::string out = upstream(request(headers), {"203.0.113.9", false, false});
    CHECK_FALSE(has_header(out, "x-real-ip"));
    CHECK_FALSE(has_header(out, "forwarded"));
    CHECK_FALSE(has_header(out, "x-forwarded-port"));
    CHECK(out.find("198.51.100") == std::string::npos);
  }
  SUBCASE("trusted: kept as received") {
    std::string out = upstream(request(headers), {"10.0.0.4", true, false});
    CHECK(has_line(out, "X-Real-IP: 198.51.100.1"));
    CHECK(has_line(out, "x-real-ip: 198.51.100.2"));
    CHECK(has_line(out, "Forwarded: for=198.51.100.1;proto=https"));
    CHECK(has_line(out, "X-Forwarded-Port: 443"));
  }
}

TEST_CASE("upstream head: HTTP2-Settings is never forwarded") {
  auto head = request({{"Host", "h"}, {"HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"}});
  CHECK_FALSE(has_header(upstream(head), "http2-settings"));
}

TEST_CASE("upstream head: framing") {
  SUBCASE("content-length rewritten from the parsed value") {
    auto head = request({{"Host", "h"}, {"content-length", "5"}}, "POST");
    head.content_length = 5;
    std::string out = upstream(head);
    CHECK(has_line(out, "Content-Length: 5"));
    CHECK(out.find("content-length") == std::string::npos);
  }
  SUBCASE("zero length is kept") {
    auto head = request({{"Host", "h"}, {"Content-Length", "0"}}, "POST");
    head.content_length = 0;
    CHECK(has_line(upstream(head), "Content-Length: 0"));
  }
  SUBCASE("chunked") {
    auto head = request({{"Host", "h"}, {"Transfer-Encoding", "gzip, chunked"}}, "POST");
    head.chunked = true;
    std::string out = upstream(head);
    CHECK(has_line(out, "Transfer-Encoding: chunked"));
    CHECK(out.find("gzip") == std::string::npos);
    CHECK_FALSE(has_header(out, "Content-Length"));
  }
  SUBCASE("no body") {
    std::string out = upstream(request({{"Host", "h"}}));
    CHECK_FALSE(has_header(out, "Content-Length"));
    CHECK_FALSE(has_header(out, "Transfer-Encoding"));
  }
}

TEST_CASE("upstream head: upgrade keeps Upgrade and sends Connection: upgrade") {
  auto head = request({{"Host", "h"},
                       {"Connection", "Upgrade"},
                       {"Upgrade", "websocket"},
                       {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                       {"Sec-WebSocket-Version", "13"}});
  head.upgrade = true;
  std::string out = upstream(head);
  CHECK(has_line(out, "Upgrade: websocket"));
  CHECK(has_line(out, "Connection: upgrade"));
  CHECK(has_line(out, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK(out.find("Connection: Upgrade") == std::string::npos);
}

TEST_CASE("downstream head: status line and framing") {
  ResponseHead head;
  head.status = 200;
  head.reason = "OK";
  head.headers = {{"Content-Type", "text/html"}, {"Content-Length", "12"}, {"Connection", "keep-alive"},
                  {"Keep-Alive", "timeout=5"}};
  head.content_length = 12;
  CHECK(downstream(head, BodyFraming::content_length) ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/html\r\n"
        "Content-Length: 12\r\n"
        "\r\n");
  CHECK(downstream(head, BodyFraming::chunked) ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/html\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n");
  CHECK(downstream(head, BodyFraming::none) ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/html\r\n"
        "\r\n");
  CHECK(downstream(head, BodyFraming::until_close) ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/html\r\n"
        "Connection: close\r\n"
        "\r\n");
  CHECK(downstream(head, BodyFraming::content_length, false) ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/html\r\n"
        "Content-Length: 12\r\n"
        "Connection: close\r\n"
        "\r\n");
}

TEST_CASE("downstream head: reason phrases") {
  ResponseHead head;
  struct Row {
    int status;
    const char* reason;
    const char* line;
  };
  for (Row row : {Row{404, "", "HTTP/1.1 404 Not Found\r\n"}, Row{503, "", "HTTP/1.1 503 Service Unavailable\r\n"},
                  Row{409, "", "HTTP/1.1 409 Conflict\r\n"}, Row{200, "Fine", "HTTP/1.1 200 Fine\r\n"},
                  Row{299, "", "HTTP/1.1 299 \r\n"}}) {
    CAPTURE(row.status);
    head.status = row.status;
    head.reason = row.reason;
    CHECK(downstream(head, BodyFraming::none).starts_with(row.line));
  }
}

TEST_CASE("downstream head: hop-by-hop and nominated headers removed, chunked upstream re-framed") {
  ResponseHead head;
  head.status = 200;
  head.headers = {{"Transfer-Encoding", "chunked"}, {"Connection", "close, X-Internal"}, {"x-internal", "1"},
                  {"Trailer", "x-sum"},         {"Upgrade", "h2c"},                   {"Set-Cookie", "a=1"},
                  {"Set-Cookie", "b=2"}};
  head.chunked = true;
  head.keep_alive = false;
  std::string out = downstream(head, BodyFraming::chunked);
  CHECK(out ==
        "HTTP/1.1 200 OK\r\n"
        "Set-Cookie: a=1\r\n"
        "Set-Cookie: b=2\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n");
}

TEST_CASE("downstream head: 101 keeps Upgrade") {
  ResponseHead head;
  head.status = 101;
  head.headers = {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}};
  CHECK(downstream(head, BodyFraming::none, false) ==
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        "Connection: upgrade\r\n"
        "\r\n");
}

TEST_CASE("downstream head: interim 103 has no framing and no close") {
  ResponseHead head;
  head.status = 103;
  head.headers = {{"Link", "</a.css>; rel=preload"}};
  CHECK(downstream(head, BodyFraming::none, false) ==
        "HTTP/1.1 103 Early Hints\r\n"
        "Link: </a.css>; rel=preload\r\n"
        "\r\n");
}
