// Who may reach the admin API (gateway/admin_guard.h), as a table: the wire
// tests (tests/integration/test_admin_security.py) drive the same cases
// through the real listener.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/admin/admin_guard.h"

namespace sg::gateway {
namespace {

AdminRequest request(std::string method, std::vector<routing::HeaderField> headers) {
  AdminRequest r;
  r.method = std::move(method);
  r.path = "/api/v1/apps/shop/builds";
  r.headers = std::move(headers);
  return r;
}

const std::vector<std::string> kAllowed = {"admin.internal.example"};

}  // namespace

TEST_CASE("admin Host: IP literals, localhost and admin.allowed_hosts, with an optional port") {
  for (const char* host : {"127.0.0.1", "127.0.0.1:9901", "10.0.0.7:1", "localhost", "LOCALHOST:9901", "[::1]",
                           "[::1]:9901", "[2001:db8::1]:65535", "admin.internal.example", "Admin.Internal.Example:80"}) {
    CAPTURE(host);
    CHECK(admin_host_allowed(host, kAllowed));
  }
  for (const char* host :
       {"", "evil.example", "evil.example:9901", "127.0.0.1.evil.example", "localhost.evil", "localhost.", "127.0.0.1.",
        "127.1", "0x7f.0.0.1", "::1", "[::1", "[::1]x", "[::1]:", "[evil.example]", "127.0.0.1:", "127.0.0.1:65536",
        "127.0.0.1:99999999999", "127.0.0.1:80:80", "127.0.0.1:8o", "user@127.0.0.1", "127.0.0.1 evil",
        "admin.internal.example.evil", "sub.admin.internal.example", "localhost\t"}) {
    CAPTURE(host);
    CHECK_FALSE(admin_host_allowed(host, kAllowed));
  }
  CHECK_FALSE(admin_host_allowed("admin.internal.example", {}));
}

TEST_CASE("admin requests: Host, Origin, Sec-Fetch-Site and the JSON content type") {
  const routing::HeaderField host{"Host", "127.0.0.1:9901"};
  const routing::HeaderField json{"Content-Type", "application/json"};
  struct Row {
    const char* name;
    AdminRequest request;
    int status;  // 0: allowed
    const char* code;
  };
  const std::vector<Row> rows = {
      {"JSON POST", request("POST", {host, json}), 0, ""},
      {"JSON with charset", request("POST", {host, {"content-type", "Application/JSON ; charset=utf-8"}}), 0, ""},
      {"GET without a type", request("GET", {host}), 0, ""},
      {"same-origin", request("POST", {host, json, {"Sec-Fetch-Site", "same-origin"}}), 0, ""},
      {"none", request("GET", {host, {"sec-fetch-site", "none"}}), 0, ""},
      {"no Host", request("GET", {}), 403, "host_not_allowed"},
      {"two Hosts", request("GET", {host, host}), 403, "host_not_allowed"},
      {"rebinding Host", request("GET", {{"Host", "evil.example:9901"}}), 403, "host_not_allowed"},
      {"Origin on a GET", request("GET", {host, {"Origin", "https://evil.example"}}), 403, "cross_origin_request"},
      {"Origin: null", request("POST", {host, json, {"Origin", "null"}}), 403, "cross_origin_request"},
      {"empty Origin", request("POST", {host, json, {"Origin", ""}}), 403, "cross_origin_request"},
      {"cross-site", request("POST", {host, json, {"Sec-Fetch-Site", "cross-site"}}), 403, "cross_origin_request"},
      {"same-site", request("GET", {host, {"Sec-Fetch-Site", "same-site"}}), 403, "cross_origin_request"},
      {"text/plain", request("POST", {host, {"Content-Type", "text/plain"}}), 415, "unsupported_media_type"},
      {"form", request("POST", {host, {"Content-Type", "application/x-www-form-urlencoded"}}), 415,
       "unsupported_media_type"},
      {"multipart", request("PUT", {host, {"Content-Type", "multipart/form-data; boundary=x"}}), 415,
       "unsupported_media_type"},
      {"no type", request("DELETE", {host}), 415, "unsupported_media_type"},
      {"jsonp", request("POST", {host, {"Content-Type", "application/jsonp"}}), 415, "unsupported_media_type"},
      {"two types", request("POST", {host, json, {"Content-Type", "text/plain"}}), 415, "unsupported_media_type"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    const auto refusal = check_admin_request(row.request, kAllowed);
    if (row.status == 0) {
      CHECK_FALSE(refusal.has_value());
    } else {
      REQUIRE(refusal.has_value());
      CHECK(refusal->status == row.status);
      CHECK(std::string(refusal->code) == row.code);
    }
  }
}

TEST_CASE("bearer: the scheme in any case (RFC 9110 11.1), the token exactly") {
  const std::string token = "s3cret-token";
  for (const char* value : {"Bearer s3cret-token", "bearer s3cret-token", "BEARER s3cret-token", "Bearer   s3cret-token"}) {
    CAPTURE(value);
    CHECK(bearer_matches(value, token));
  }
  for (const char* value : {"", "Bearer", "Bearer ", "Bearers3cret-token", "Basic s3cret-token", "Bearer s3cret-toke",
                            "Bearer s3cret-token2", "Bearer s3cret-token s3cret-token", "s3cret-token",
                            "Bearer\ts3cret-token"}) {
    CAPTURE(value);
    CHECK_FALSE(bearer_matches(value, token));
  }
}

}  // namespace sg::gateway
