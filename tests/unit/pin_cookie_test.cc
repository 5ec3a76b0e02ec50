// The pin cookie on the wire: Cookie header parsing and Set-Cookie values.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "skew/pin_cookie.h"

using sg::routing::HeaderField;
using sg::skew::find_cookie;
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

TEST_CASE("pin cookie: Set-Cookie value") {
  CHECK(pin_set_cookie("skewgate_pin", "770af050.AAEC", 604800, false) ==
        "skewgate_pin=770af050.AAEC; Path=/; Max-Age=604800; HttpOnly; SameSite=Lax");
  CHECK(pin_set_cookie("skewgate_pin", "770af050.AAEC", 604800, true) ==
        "skewgate_pin=770af050.AAEC; Path=/; Max-Age=604800; HttpOnly; SameSite=Lax; Secure");
  CHECK(pin_set_cookie("p", "", 0, false) == "p=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
  CHECK(pin_set_cookie("p", "v", -5, false) == "p=v; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
}
