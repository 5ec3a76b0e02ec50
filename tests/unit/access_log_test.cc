// The plain access-log format's field escaping (issue 13 item 11): one request
// is one line and its fields split on spaces, whatever the request held.
#include <doctest/doctest.h>

#include <string>

#include "gateway/access_log.h"

using sg::gateway::append_log_escaped;

namespace {

std::string escaped(std::string_view value) {
  std::string out;
  append_log_escaped(out, value);
  return out;
}

}  // namespace

TEST_CASE("append_log_escaped: nginx escape=default, plus space") {
  const struct {
    std::string value;
    const char* expected;
  } cases[] = {
      {"/cart?q=1&x=%20y", "/cart?q=1&x=%20y"},
      {"dpl-a_1.2", "dpl-a_1.2"},
      {"two words", "two\\x20words"},
      {"q\"uote", "q\\x22uote"},
      {"back\\slash", "back\\x5Cslash"},
      {"line\r\nnext", "line\\x0D\\x0Anext"},
      {"tab\t", "tab\\x09"},
      {std::string("nul\0", 4), "nul\\x00"},
      {"\x01\x1f\x7f", "\\x01\\x1F\\x7F"},
      {"caf\xc3\xa9", "caf\\xC3\\xA9"},
      {"\xff\xfe", "\\xFF\\xFE"},
      {"\\x41", "\\x5Cx41"},  // an escape cannot be forged: the backslash is escaped
  };
  for (const auto& c : cases) {
    CAPTURE(c.value);
    CHECK(escaped(c.value) == c.expected);
  }
  // Every byte: the result holds only visible ASCII other than '"' and '\\'
  // outside an escape, and never a space.
  for (int b = 0; b < 256; ++b) {
    const std::string out = escaped(std::string(1, static_cast<char>(b)));
    CAPTURE(b);
    for (const char ch : out) {
      const auto c = static_cast<unsigned char>(ch);
      CHECK((c > 0x20 && c < 0x7F && c != '"'));
    }
    const bool plain = b > 0x20 && b < 0x7F && b != '"' && b != '\\';
    CHECK(out.size() == (plain ? 1U : 4U));
  }
}
