// vet_request_head (issue 13 items 7-9): what a complete request head must
// satisfy before routing reads it, and how it is normalised. Tables of heads
// as llhttp hands them over.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "conf/config.h"
#include "gateway/http1/request_checks.h"
#include "routing/request_kind.h"

using sg::gateway::HeaderField;
using sg::gateway::RequestHead;
using sg::gateway::vet_request_head;

namespace {

RequestHead head(std::string method, std::string target, std::vector<HeaderField> headers, int minor = 1) {
  RequestHead h;
  h.method = std::move(method);
  h.target = std::move(target);
  h.headers = std::move(headers);
  h.http_minor = static_cast<std::uint8_t>(minor);
  return h;
}

std::string code_of(RequestHead h) {
  const auto refused = vet_request_head(h);
  return refused ? std::string(sg::metrics::to_string(refused->code)) : std::string("ok");
}

std::vector<std::string> values(const RequestHead& h, std::string_view name) {
  std::vector<std::string> out;
  for (const HeaderField& f : h.headers)
    if (sg::routing::iequals(f.name, name)) out.push_back(f.value);
  return out;
}

}  // namespace

TEST_CASE("vet: each class refused with its code") {
  struct Row {
    const char* what;
    RequestHead head;
    const char* code;
    int status;
  };
  const HeaderField host{"Host", "shop.test"};
  std::vector<Row> rows = {
      {"a plain GET", head("GET", "/", {host}), "ok", 0},
      {"HTTP/0.9 (no version)", [&] { auto h = head("GET", "/", {host}); h.http_major = 0; h.http_minor = 9; return h; }(),
       "invalid_version", 400},
      {"HTTP/2.0 as text", [&] { auto h = head("GET", "/", {host}); h.http_major = 2; h.http_minor = 0; return h; }(),
       "http_version_not_supported", 505},
      {"CONNECT", head("CONNECT", "shop.test:443", {host}), "method_not_allowed", 405},
      {"control byte in target", head("GET", "/a\x01", {host}), "invalid_target", 400},
      {"DEL in target", head("GET", "/a\x7f", {host}), "invalid_target", 400},
      {"CR in target", head("GET", "/a\rb", {host}), "invalid_target", 400},
      {"LF in target", head("GET", "/a\nb", {host}), "invalid_target", 400},
      {"space in target", head("GET", "/a b", {host}), "invalid_target", 400},
      {"authority-form on GET", head("GET", "shop.test:80", {host}), "invalid_target", 400},
      {"asterisk on GET", head("GET", "*", {host}), "invalid_target", 400},
      {"asterisk on OPTIONS", head("OPTIONS", "*", {host}), "ok", 0},
      {"ftp scheme", head("GET", "ftp://shop.test/", {host}), "invalid_target", 400},
      {"userinfo", head("GET", "http://u@shop.test/", {host}), "invalid_target", 400},
      {"empty header name", head("GET", "/", {host, {"", "x"}}), "invalid_header_name", 400},
      {"no Host on 1.1", head("GET", "/", {}), "missing_host", 400},
      {"no Host on 1.0", head("GET", "/", {}, 0), "ok", 0},
      {"two Hosts", head("GET", "/", {host, {"host", "shop.test"}}), "duplicate_host", 400},
      {"two Hosts on 1.0", head("GET", "/", {host, {"HOST", "evil.test"}}, 0), "duplicate_host", 400},
      {"Host with userinfo", head("GET", "/", {{"Host", "a@shop.test"}}), "invalid_host", 400},
      {"empty Host", head("GET", "/", {{"Host", ""}}), "invalid_host", 400},
      {"Host list", head("GET", "/", {{"Host", "shop.test, evil.test"}}), "invalid_host", 400},
      {"Connection: host", head("GET", "/", {host, {"Connection", "close, Host"}}), "invalid_connection_header", 400},
      {"Connection: content-length", head("POST", "/", {host, {"Connection", "content-length"}}),
       "invalid_connection_header", 400},
      {"Connection: transfer-encoding", head("POST", "/", {host, {"connection", "Transfer-Encoding"}}),
       "invalid_connection_header", 400},
      {"x-deployment-id twice", head("GET", "/", {host, {"x-deployment-id", "a"}, {"X-Deployment-Id", "a"}}),
       "duplicate_routing_header", 400},
      {"x-deployment-id list", head("GET", "/", {host, {"x-deployment-id", "a, b"}}), "duplicate_routing_header", 400},
      {"next-action twice", head("POST", "/", {host, {"next-action", "1"}, {"next-action", "2"}}),
       "duplicate_routing_header", 400},
      {"rsc list", head("GET", "/", {host, {"rsc", "1,1"}}), "duplicate_routing_header", 400},
      {"react-server-action twice", head("POST", "/", {host, {"react-server-action", "a"}, {"react-server-action", "b"}}),
       "duplicate_routing_header", 400},
      {"x_deployment_id is another header", head("GET", "/", {host, {"x-deployment-id", "a"}, {"x_deployment_id", "b"}}),
       "ok", 0},
  };
  for (Row& row : rows) {
    CAPTURE(row.what);
    RequestHead h = row.head;
    const auto refused = vet_request_head(h);
    CHECK((refused ? std::string(sg::metrics::to_string(refused->code)) : std::string("ok")) == row.code);
    if (refused) CHECK(refused->status == row.status);
    if (refused) CHECK_FALSE(refused->detail.empty());
  }
}

TEST_CASE("vet: absolute-form becomes origin-form and Host takes the target's authority") {
  struct Row {
    const char* method;
    const char* target;
    std::vector<HeaderField> headers;
    int minor;
    const char* origin_form;
    const char* host;
  };
  for (const Row& row : std::vector<Row>{
           {"GET", "http://shop.test/a?b=1", {{"Host", "other.test"}}, 1, "/a?b=1", "shop.test"},
           {"GET", "HTTPS://Shop.Test:8443", {{"Host", "other.test"}}, 1, "/", "Shop.Test:8443"},
           {"GET", "http://shop.test?q=1", {{"Host", "shop.test"}}, 1, "/?q=1", "shop.test"},
           {"GET", "http://shop.test/x#frag", {{"Host", "shop.test"}}, 1, "/x", "shop.test"},
           {"OPTIONS", "http://shop.test", {{"Host", "shop.test"}}, 1, "*", "shop.test"},
           {"GET", "http://shop.test//evil.test/", {{"Host", "shop.test"}}, 1, "//evil.test/", "shop.test"},
           {"GET", "http://[::1]:8080/p", {}, 0, "/p", "[::1]:8080"},  // HTTP/1.0 without Host gets one
       }) {
    CAPTURE(row.target);
    RequestHead h = head(row.method, row.target, row.headers, row.minor);
    REQUIRE_FALSE(vet_request_head(h).has_value());
    CHECK(h.target == row.origin_form);
    CHECK(values(h, "host") == std::vector<std::string>{row.host});
  }
  RequestHead h = head("GET", "http://shop.test:8080/a", {{"Host", "other.test"}});
  REQUIRE_FALSE(vet_request_head(h).has_value());
  CHECK(h.view().host() == "shop.test");  // what app selection reads
  CHECK(h.view().path() == "/a");         // what classification reads
  // Host is still checked on an absolute-form request (RFC 9112 section 3.2).
  CHECK(code_of(head("GET", "http://shop.test/", {})) == "missing_host");
  CHECK(code_of(head("GET", "http://shop.test/", {{"Host", "a"}, {"Host", "b"}})) == "duplicate_host");
  CHECK(code_of(head("GET", "http://shop.test/", {{"Host", "a b"}})) == "invalid_host");
}

TEST_CASE("vet: Connection-nominated headers are gone before routing reads the request") {
  RequestHead h = head("GET", "/p",
                       {{"Host", "shop.test"},
                        {"Connection", "keep-alive, X-Deployment-ID,rsc , next-action, Cookie, origin"},
                        {"x-deployment-id", "dpl-a"},
                        {"rsc", "1"},
                        {"Next-Action", "7f"},
                        {"Cookie", "skewgate_pin=x"},
                        {"Origin", "http://shop.test"},
                        {"Keep-Alive", "timeout=5"},
                        {"Accept", "text/html"}});
  REQUIRE_FALSE(vet_request_head(h).has_value());
  for (const char* gone : {"x-deployment-id", "rsc", "next-action", "cookie", "keep-alive"}) {
    CAPTURE(gone);
    CHECK(values(h, gone).empty());
  }
  // Connection keeps its own meaning (close/upgrade are its options); Origin is end-to-end.
  CHECK(values(h, "connection").size() == 1);
  CHECK(values(h, "origin") == std::vector<std::string>{"http://shop.test"});
  CHECK(values(h, "accept") == std::vector<std::string>{"text/html"});
  // And so they cannot classify: without its rsc header this is a document.
  sg::conf::AppConfig app;
  CHECK(sg::routing::classify(h.view(), app, {}).kind == sg::routing::RequestKind::document);
}

TEST_CASE("vet: only websocket upgrades survive; h2c and HTTP2-Settings never do") {
  struct Row {
    const char* what;
    std::vector<HeaderField> headers;
    bool llhttp_upgrade;  // Connection: upgrade + an Upgrade field
    bool upgrade;
  };
  for (const Row& row : std::vector<Row>{
           {"h2c", {{"Connection", "Upgrade, HTTP2-Settings"}, {"Upgrade", "h2c"}, {"HTTP2-Settings", "AAMA"}}, true,
            false},
           {"H2C", {{"Connection", "upgrade"}, {"Upgrade", "H2C"}}, true, false},
           {"other protocol", {{"Connection", "upgrade"}, {"Upgrade", "foo/1, bar"}}, true, false},
           {"HTTP2-Settings alone", {{"HTTP2-Settings", "AAMA"}}, false, false},
           {"Upgrade without Connection", {{"Upgrade", "websocket"}}, false, false},
           {"websocket", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}, true, true},
           {"websocket among others", {{"Connection", "upgrade"}, {"Upgrade", "h2c, WebSocket"}, {"HTTP2-Settings", "A"}},
            true, true},
       }) {
    CAPTURE(row.what);
    RequestHead h = head("GET", "/ws", row.headers);
    h.headers.push_back({"Host", "shop.test"});
    h.upgrade = row.llhttp_upgrade;
    REQUIRE_FALSE(vet_request_head(h).has_value());
    CHECK(h.upgrade == row.upgrade);
    CHECK(values(h, "http2-settings").empty());
    CHECK(values(h, "upgrade") == (row.upgrade ? std::vector<std::string>{"websocket"} : std::vector<std::string>{}));
    sg::conf::AppConfig app;
    CHECK((sg::routing::classify(h.view(), app, {}).kind == sg::routing::RequestKind::upgrade) == row.upgrade);
  }
}
