// The pin cookie on the wire: Cookie header parsing and Set-Cookie values.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "skew/pin_cookie.h"

using sg::routing::HeaderField;
using sg::skew::find_cookie;
using sg::skew::find_cookies;
using sg::skew::pin_set_cookie;

TEST_CASE("pin cookie: found in a Cookie header") {
  struct Case {
    const char* header;
    std::optional<std::string> value;
  };
  const std::vector<Case> cases = {
      {"skewgate_pin=abc", "abc"},
      {"a=1; skewgate_pin=abc; b=2", "abc"},
      {"a=1;skewgate_pin=abc;b=2", "abc"},
      {"  skewgate_pin = abc  ;", "abc"},
      {"a=1;  ;; skewgate_pin=abc", "abc"},
      {"skewgate_pin=\"abc\"", "abc"},
      {"skewgate_pin=\"\"", ""},
      {"skewgate_pin=", ""},
      {"skewgate_pin=first; skewgate_pin=second", "first"},  // duplicate names: the first
      {"skewgate_pin=12345678.ab-_==", "12345678.ab-_=="},   // '=' inside a value
      {"x_skewgate_pin=abc", std::nullopt},
      {"skewgate_pin_x=abc", std::nullopt},
      {"Skewgate_Pin=abc", std::nullopt},  // cookie names are case-sensitive
      {"skewgate_pin", std::nullopt},      // no '='
      {"a=skewgate_pin=abc", std::nullopt},
      {"", std::nullopt},
      {"\"skewgate_pin=abc\"", std::nullopt},
      {"skewgate_pin=\"abc", "\"abc"},  // unbalanced quote: the value as sent (it will not verify)
  };
  for (const Case& c : cases) {
    CAPTURE(c.header);
    const std::optional<std::string_view> got = find_cookie(c.header, "skewgate_pin");
    REQUIRE(got.has_value() == c.value.has_value());
    if (got) CHECK(std::string(*got) == *c.value);
  }
  CHECK_FALSE(find_cookie("=abc", ""));
  CHECK(find_cookie("my_pin=v", "my_pin") == std::optional<std::string_view>("v"));  // configured name
}

TEST_CASE("pin cookie: several Cookie headers") {
  const std::vector<HeaderField> headers = {
      {"Host", "shop.example.com"},
      {"cookie", "a=1"},
      {"X-Cookie", "skewgate_pin=no"},
      {"COOKIE", "skewgate_pin=yes; b=2"},
      {"Cookie", "skewgate_pin=later"},
  };
  CHECK(find_cookie(headers, "skewgate_pin") == std::optional<std::string_view>("yes"));
  CHECK(find_cookie(headers, "b") == std::optional<std::string_view>("2"));
  CHECK_FALSE(find_cookie(headers, "c"));
  CHECK_FALSE(find_cookie(std::span<const HeaderField>(), "skewgate_pin"));
}

TEST_CASE("pin cookie: two cookies in one pass find what find_cookie finds for each") {
  const std::vector<std::vector<HeaderField>> requests = {
      {},
      {{"Host", "shop.example.com"}},
      {{"Cookie", "skewgate_pin=p; __vdpl=v"}},
      {{"Cookie", "__vdpl=v;skewgate_pin=p"}},
      {{"Cookie", "__vdpl=v1; __vdpl=v2; skewgate_pin=\"p\""}},
      {{"cookie", "a=1"}, {"X-Cookie", "__vdpl=no"}, {"COOKIE", "skewgate_pin=yes; b=2"}, {"Cookie", "__vdpl=later"}},
      {{"Cookie", "skewgate_pin=first"}, {"Cookie", "skewgate_pin=second; __vdpl=v"}},
      {{"Cookie", "skewgate_pin; __vdpl"}, {"Cookie", " __vdpl = v ;skewgate_pin="}},
      {{"Cookie", "Skewgate_Pin=no; __VDPL=no"}},
  };
  const std::vector<std::pair<std::string, std::string>> names = {
      {"skewgate_pin", "__vdpl"}, {"__vdpl", "skewgate_pin"}, {"__vdpl", "__vdpl"}, {"", "__vdpl"},
      {"skewgate_pin", ""},       {"", ""},                   {"b", "a"},
  };
  for (std::size_t i = 0; i < requests.size(); ++i) {
    for (const auto& [first, second] : names) {
      CAPTURE(i);
      CAPTURE(first);
      CAPTURE(second);
      const auto found = find_cookies(requests[i], first, second);
      CHECK(found.first == find_cookie(requests[i], first));
      CHECK(found.second == find_cookie(requests[i], second));
    }
  }
  // the views point into the request's own header values
  const std::vector<HeaderField> headers = {{"Cookie", "__vdpl=v; skewgate_pin=p"}};
  const auto found = find_cookies(headers, "skewgate_pin", "__vdpl");
  REQUIRE(found.first);
  REQUIRE(found.second);
  CHECK(found.first->data() == headers[0].value.data() + 23);
  CHECK(found.second->data() == headers[0].value.data() + 7);
}

TEST_CASE("pin cookie: Set-Cookie value") {
  CHECK(pin_set_cookie("skewgate_pin", "770af050.AAEC", 604800, false) ==
        "skewgate_pin=770af050.AAEC; Path=/; Max-Age=604800; HttpOnly; SameSite=Lax");
  CHECK(pin_set_cookie("skewgate_pin", "770af050.AAEC", 604800, true) ==
        "skewgate_pin=770af050.AAEC; Path=/; Max-Age=604800; HttpOnly; SameSite=Lax; Secure");
  CHECK(pin_set_cookie("p", "", 0, false) == "p=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
  CHECK(pin_set_cookie("p", "v", -5, false) == "p=v; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
}

TEST_CASE("pin_fits_response: only HTML pages with a 2xx, 3xx or 4xx status carry the pin") {
  using sg::skew::pin_fits_response;
  struct Case {
    int status;
    const char* content_type;
    bool fits;
  };
  const std::vector<Case> cases = {
      {200, "text/html", true},
      {200, "text/html; charset=utf-8", true},
      {200, "Text/HTML;charset=UTF-8", true},
      {200, " text/html ; charset=utf-8", true},
      {201, "text/html", true},
      {301, "text/html", true},
      {302, "text/html; charset=utf-8", true},
      {303, "text/html", true},
      {307, "text/html", true},
      {404, "text/html; charset=utf-8", true},  // the app's not-found page
      {410, "text/html", true},
      {499, "text/html", true},
      {500, "text/html", false},  // an error never moves the browser
      {502, "text/html", false},
      {503, "text/html; charset=utf-8", false},
      {199, "text/html", false},
      {101, "text/html", false},
      {0, "text/html", false},
      {-1, "text/html", false},
      {200, "", false},  // no content type: not known to be a page
      {204, "", false},
      {304, "", false},
      {200, "application/json", false},
      {200, "application/xhtml+xml", false},
      {200, "text/plain", false},
      {200, "text/x-component", false},  // an RSC payload
      {200, "image/x-icon", false},      // /favicon.ico
      {200, "image/svg+xml", false},
      {200, "text/css", false},
      {200, "application/javascript", false},
      {200, "text/htmlx", false},
      {200, "text/html5", false},
      {200, "xtext/html", false},
      {200, "text/*", false},
      {200, "*/*", false},
      {404, "application/json", false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.status);
    CAPTURE(c.content_type);
    CHECK(pin_fits_response(c.status, c.content_type) == c.fits);
  }
}
