// skew::same_origin_target and header_token (issue 13 items 10 and 11): what
// skewgate puts in Location / x-action-redirect / "reload" never leaves the
// origin and never holds a raw control byte.
#include <doctest/doctest.h>

#include <string>

#include "skew/redirect_target.h"

using sg::skew::header_token;
using sg::skew::same_origin_target;

namespace {

// What a browser does with the value: a reference that starts with '/' and
// not with "//" or "/\" (WHATWG URL treats '\' as '/' in http(s)) is a path
// on the page's own origin; no byte a browser strips (tab, CR, LF) or a
// header cannot hold may remain.
bool stays_on_origin(const std::string& value) {
  if (value.empty() || value[0] != '/') return false;
  if (value.size() > 1 && (value[1] == '/' || value[1] == '\\')) return false;
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("same_origin_target: leading runs of slashes and backslashes become one slash") {
  const struct {
    const char* target;
    const char* expected;
  } cases[] = {
      {"/cart?step=2&x=%20y", "/cart?step=2&x=%20y"},
      {"/", "/"},
      {"//evil.example/x", "/evil.example/x"},
      {"/\\evil.example", "/evil.example"},
      {"/\\\\/evil", "/evil"},
      {"///x", "/x"},
      {"//", "/"},
      {"/\\/\\/\\evil?q=//x", "/evil?q=//x"},
      {"//?q=1", "/?q=1"},
      {"/a//b/\\c", "/a//b/\\c"},          // only the start can name a host
      {"/%2F%2Fevil", "/%2F%2Fevil"},      // a path to a browser
      {"/%5C%5Cevil", "/%5C%5Cevil"},
      // Absolute-form: the path only, never the authority.
      {"http://shop.test/cart?q=1", "/cart?q=1"},
      {"http://shop.test//evil.example/x", "/evil.example/x"},
      {"https://shop.test/\\evil.example", "/evil.example"},
      {"http://shop.test", "/"},
      {"http://shop.test?q=1", "/?q=1"},
      {"http://evil.example@shop.test/p", "/p"},
      // Asterisk-form, authority-form, anything else: the root.
      {"*", "/"},
      {"shop.test:443", "/"},
      {"", "/"},
      {"evil.example/x", "/"},
      // Bytes a browser strips or a header cannot hold are encoded first, so
      // they cannot hide a second slash.
      {"/\t/evil.example", "/%09/evil.example"},
      {"/\r\n/evil", "/%0D%0A/evil"},
      {"/a b", "/a%20b"},
      {"/caf\xc3\xa9", "/caf%C3%A9"},
      {"/\x7f\x01", "/%7F%01"},
      {"\t//evil", "/"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.target);
    const std::string out = same_origin_target(c.target);
    CHECK(out == c.expected);
    CHECK(stays_on_origin(out));
    CHECK(same_origin_target(out) == out);  // idempotent
  }
  CHECK(same_origin_target(std::string("/\0/evil", 7)) == "/%00/evil");
}

TEST_CASE("same_origin_target: every two-byte prefix of slashes, backslashes and controls stays on the origin") {
  // The class, not examples: every target that starts with up to four bytes
  // drawn from the ones that matter, followed by a host.
  const std::string alphabet = std::string("/\\\t\r\n .%", 8) + std::string(1, '\0');
  std::size_t checked = 0;
  for (const char a : alphabet)
    for (const char b : alphabet)
      for (const char c : alphabet)
        for (const char d : alphabet) {
          const std::string target = std::string("/") + a + b + c + d + "evil.example/x";
          const std::string out = same_origin_target(target);
          CAPTURE(target);
          CHECK(stays_on_origin(out));
          ++checked;
        }
  CHECK(checked == 9 * 9 * 9 * 9);
}

TEST_CASE("header_token: deployment-ID characters pass, everything else is %HH") {
  CHECK(header_token("dpl-a_1.2") == "dpl-a_1.2");
  CHECK(header_token("unknown") == "unknown");
  CHECK(header_token("") == "");
  CHECK(header_token("a b;c=d") == "a%20b%3Bc%3Dd");
  CHECK(header_token("\r\n\t\x7f") == "%0D%0A%09%7F");
  CHECK(header_token("%41") == "%2541");
  CHECK(header_token("\xff\xc3\xa9") == "%FF%C3%A9");
}
