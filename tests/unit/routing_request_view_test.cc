#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "routing/request_view.h"

using sg::routing::HeaderField;
using sg::routing::iequals;
using sg::routing::query_param;
using sg::routing::RequestView;

TEST_CASE("iequals compares ASCII case-insensitively") {
  CHECK(iequals("x-deployment-id", "X-Deployment-ID"));
  CHECK(iequals("", ""));
  CHECK_FALSE(iequals("x-deployment-id", "x_deployment_id"));
  CHECK_FALSE(iequals("rsc", "rsc "));
  CHECK_FALSE(iequals("a", "b"));
  // Only ASCII letters fold: '@' (0x40) and '`' (0x60) stay distinct.
  CHECK_FALSE(iequals("@", "`"));
  CHECK_FALSE(iequals("[", "{"));
}

TEST_CASE("header lookup: exact name, any case, first wins") {
  std::vector<HeaderField> headers = {
      {"X_Deployment_Id", "underscore"},
      {"Host", "Shop.Example.com:8080"},
      {"X-DEPLOYMENT-ID", "dpl-a"},
      {"x-deployment-id", "dpl-b"},
      {"Empty", ""},
  };
  RequestView view{"GET", "/", headers};
  CHECK(view.header("x-deployment-id") == "dpl-a");
  CHECK(view.header("X-Deployment-Id") == "dpl-a");
  CHECK(view.header("x_deployment_id") == "underscore");
  CHECK(view.header("x-deployment") == "");
  CHECK(view.has_header("empty"));
  CHECK(view.header("empty") == "");
  CHECK_FALSE(view.has_header("rsc"));
}

TEST_CASE("underscore variants never match the dashed name") {
  std::vector<HeaderField> headers = {{"x_deployment_id", "dpl-a"}};
  RequestView view{"GET", "/", headers};
  CHECK_FALSE(view.has_header("x-deployment-id"));
  CHECK(view.header("x-deployment-id").empty());
}

TEST_CASE("host strips the port, IPv6 literals keep their brackets") {
  struct Row {
    const char* header;
    const char* host;
  };
  for (Row row : {Row{"shop.example.com", "shop.example.com"}, Row{"shop.example.com:8080", "shop.example.com"},
                  Row{"Shop.Example.COM:80", "Shop.Example.COM"}, Row{"[::1]:8080", "[::1]"}, Row{"[::1]", "[::1]"},
                  Row{"[2001:db8::1]:443", "[2001:db8::1]"}, Row{"127.0.0.1:3000", "127.0.0.1"},
                  Row{"shop.example.com.", "shop.example.com."}, Row{"", ""}}) {
    CAPTURE(row.header);
    std::vector<HeaderField> headers = {{"host", row.header}};
    RequestView view{"GET", "/", headers};
    CHECK(view.host() == row.host);
  }
  RequestView no_host{"GET", "/", {}};
  CHECK(no_host.host().empty());
}

TEST_CASE("path and query split at the first '?'") {
  struct Row {
    const char* target;
    const char* path;
    const char* query;
  };
  for (Row row : {Row{"/", "/", ""}, Row{"/a/b", "/a/b", ""}, Row{"/a?", "/a", ""}, Row{"/a?x=1", "/a", "x=1"},
                  Row{"/a?x=1?y=2", "/a", "x=1?y=2"}, Row{"/p?_rsc=abc&dpl=d", "/p", "_rsc=abc&dpl=d"},
                  Row{"/p#frag", "/p", ""}, Row{"/p?x=1#frag", "/p", "x=1"}, Row{"", "", ""}}) {
    CAPTURE(row.target);
    RequestView view{"GET", row.target, {}};
    CHECK(view.path() == row.path);
    CHECK(view.query() == row.query);
  }
}

TEST_CASE("query_param table") {
  struct Row {
    const char* query;
    const char* name;
    std::optional<std::string> value;
  };
  const std::vector<Row> rows = {
      {"", "dpl", std::nullopt},
      {"dpl=dpl-a", "dpl", "dpl-a"},
      {"a=1&dpl=dpl-a&b=2", "dpl", "dpl-a"},
      {"dpl=", "dpl", ""},  // present but empty: resolve ignores it
      {"dpl", "dpl", ""},
      {"dpl=first&dpl=second", "dpl", "first"},
      {"xdpl=no&dpl=yes", "dpl", "yes"},
      {"xdpl=no", "dpl", std::nullopt},
      {"dplx=no", "dpl", std::nullopt},
      {"DPL=upper", "dpl", std::nullopt},  // URL names are case-sensitive
      {"dpl=dpl%2Da%2db", "dpl", "dpl-a-b"},
      {"dpl=a+b", "dpl", "a+b"},  // '+' is not a space here
      {"dpl=%zz", "dpl", std::nullopt},  // malformed escape: absent
      {"dpl=%4", "dpl", std::nullopt},
      {"dpl=abc%", "dpl", std::nullopt},
      {"dpl=a=b", "dpl", "a=b"},
      {"&&dpl=x&&", "dpl", "x"},
      {"%64pl=x", "dpl", std::nullopt},  // names are not decoded
      {"_rsc=1x2y&dpl=d", "_rsc", "1x2y"},
      {"_rsc=1x2y", "rsc", std::nullopt},
  };
  for (const Row& row : rows) {
    CAPTURE(row.query);
    CAPTURE(row.name);
    CHECK(query_param(row.query, row.name) == row.value);
  }
}

TEST_CASE("parse_authority: plain host[:port] only; every form two parsers could split differently is refused") {
  using sg::routing::parse_authority;
  struct Good {
    const char* text;
    const char* host;
    const char* port;
  };
  for (const Good& row : std::vector<Good>{
           {"shop.test", "shop.test", ""},
           {"Shop.Test:8080", "Shop.Test", "8080"},
           {"127.0.0.1", "127.0.0.1", ""},
           {"127.0.0.1:1", "127.0.0.1", "1"},
           {"[::1]", "[::1]", ""},
           {"[2001:db8::7]:65535", "[2001:db8::7]", "65535"},
           {"[::ffff:192.0.2.1]:80", "[::ffff:192.0.2.1]", "80"},
           {"my_host.internal~x", "my_host.internal~x", ""},
           {"localhost.", "localhost.", ""},
       }) {
    CAPTURE(row.text);
    const auto parsed = parse_authority(row.text);
    REQUIRE(parsed.has_value());
    CHECK(parsed->host == row.host);
    CHECK(parsed->port == row.port);
  }
  for (const char* bad : {"", ":", ":80", "a@b", "user:pw@shop.test", "@shop.test", "shop .test", " shop.test",
                          "shop.test ", "shop.test,evil.test", "shop.test;x", "shop.test/x", "shop.test\\x",
                          "shop.test?x", "shop.test#x", "%73hop.test", "shop.test:", "shop.test:0", "shop.test:65536",
                          "shop.test:99999", "shop.test:123456", "shop.test:80x", "shop.test:-1", "shop.test:+80",
                          "shop.test:80:81", "shop.test: 80", "[::1", "[::1]x", "[::1]:", "[]", "[zz::1]",
                          "[fe80::1%25eth0]", "[v1.x]", "[127.0.0.1]", "::1", "shop\x7f.test", "shop\ttest",
                          "sh\xc3\xb6p.test"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_authority(bad).has_value());
  }
  CHECK_FALSE(parse_authority(std::string(301, 'a')).has_value());
}

TEST_CASE("parse_request_target: origin-form, http(s) absolute-form, asterisk; nothing else") {
  using sg::routing::parse_request_target;
  using sg::routing::TargetForm;
  struct Row {
    const char* target;
    TargetForm form;
    const char* authority;
    const char* rest;
  };
  for (const Row& row : std::vector<Row>{
           {"/", TargetForm::origin, "", ""},
           {"//evil.test/x", TargetForm::origin, "", ""},
           {"/a?b=c", TargetForm::origin, "", ""},
           {"*", TargetForm::asterisk, "", ""},
           {"http://shop.test/a?b", TargetForm::absolute, "shop.test", "/a?b"},
           {"HTTPS://shop.test:8443", TargetForm::absolute, "shop.test:8443", ""},
           {"http://shop.test?q", TargetForm::absolute, "shop.test", "?q"},
           {"http://[::1]:80/x", TargetForm::absolute, "[::1]:80", "/x"},
           {"http://shop.test//x", TargetForm::absolute, "shop.test", "//x"},
       }) {
    CAPTURE(row.target);
    const auto parsed = parse_request_target(row.target);
    REQUIRE(parsed.has_value());
    CHECK(parsed->form == row.form);
    CHECK(parsed->authority == row.authority);
    CHECK(parsed->path_and_query == row.rest);
  }
  for (const char* bad : {"", "shop.test:443", "shop.test", "**", "ftp://shop.test/", "file:///etc/passwd",
                          "javascript:alert(1)", "http:/shop.test/", "http:shop.test", "http://", "http:///x",
                          "http://user@shop.test/", "http://a:b@shop.test/", "http://shop.test:0/",
                          "http://shop.test:99999/", "http://sh%20op.test/", "http://shop.test,evil.test/",
                          "httpx://shop.test/", "?x", "a/b"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_request_target(bad).has_value());
  }
}
