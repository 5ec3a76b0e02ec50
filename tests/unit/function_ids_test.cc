// conf/function_ids.h: server-function ids from react-server client chunks.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "conf/function_ids.h"
#include "data_dir.h"

namespace sg::conf {
namespace {

using Ids = std::vector<std::string>;

FunctionIdScan scan(std::string_view chunk) {
  FunctionIdScan out;
  scan_function_ids(chunk, out);
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Measured: @lazarv/react-server 0.0.0-experimental-ea7a06c-20251214-7d32325f,
// `react-server build`, .react-server/client/actions.*.mjs (rolldown output).
constexpr std::string_view kRealChunk =
    R"(import{g as e}from"./rolldown-runtime.Cb5j2Qq5.mjs";import{c as t}from"./react.Cicc3Yzu.mjs";var n=e(t(),1);)"
    R"(const r=(0,n.createServerReference)(`/tmp/rs-scratch/src/actions.mjs#greet`,__react_server_callServer__),)"
    R"(i=(0,n.createServerReference)(`/tmp/rs-scratch/src/actions.mjs#other`,__react_server_callServer__);)"
    R"(export{r as b,i as c};)";
// The same build's react.*.mjs: React's own definition, not a call with an id.
constexpr std::string_view kRealRuntime =
    R"(exports.createFromReadableStream=function(e,t){return t=Ue(t),We(t,e,He.bind(null,t)),ve(t,0)},)"
    R"(exports.createServerReference=function(e,t){function n(){var n=Array.prototype.slice.call(arguments);)"
    R"(return t(e,n)}return x(n,e,null),n},exports.creat)";

}  // namespace

TEST_CASE("function ids: real react-server chunks") {
  const auto real = scan(kRealChunk);
  CHECK(real.ids == Ids{"/tmp/rs-scratch/src/actions.mjs#greet", "/tmp/rs-scratch/src/actions.mjs#other"});
  CHECK(real.skipped == 0);
  const auto runtime = scan(kRealRuntime);
  CHECK(runtime.ids.empty());
  CHECK(runtime.skipped == 0);
  // The fixture files are the build's own output, byte for byte.
  CHECK(scan(slurp(sg::test::unit_data("react-server/actions.DrDi1LJr.mjs"))).ids == real.ids);
  CHECK(scan(slurp(sg::test::unit_data("react-server/Button.DtjNDhRq.mjs"))).ids.empty());
}

TEST_CASE("function ids: quotes, escapes, whitespace, several per chunk") {
  struct Case {
    std::string_view chunk;
    Ids ids;
    std::size_t skipped = 0;
    std::size_t non_literal = 0;
  };
  const std::vector<Case> cases = {
      {R"(createServerReference("a#f",cs))", {"a#f"}},
      {R"(createServerReference('a#f',cs))", {"a#f"}},
      {R"(createServerReference(`a#f`,cs))", {"a#f"}},
      {"createServerReference( \t\n\r\"a#f\")", {"a#f"}},
      {R"((0,n.createServerReference) ( "a#f"))", {"a#f"}},
      {R"(x.createServerReference("a"),y.createServerReference('b'),createServerReference(`c`))", {"a", "b", "c"}},
      // Escapes: decoded exactly.
      {R"(createServerReference("a\"b"))", {"a\"b"}},
      {R"(createServerReference('a\'b'))", {"a'b"}},
      {R"(createServerReference("a\\b"))", {"a\\b"}},
      {R"(createServerReference("\/src\/a.ts#f"))", {"/src/a.ts#f"}},
      {R"(createServerReference("\u0041\x42\u{43}"))", {"ABC"}},
      {R"(createServerReference("caf\xe9"))", {"caf\xc3\xa9"}},           // a code point, encoded as UTF-8
      {R"(createServerReference("\ud83d\ude00"))", {"\xf0\x9f\x98\x80"}},  // a surrogate pair: one code point
      {R"(createServerReference("\u{1F600}"))", {"\xf0\x9f\x98\x80"}},
      {R"(createServerReference("\u{0000041}"))", {"A"}},
      {"createServerReference(\"a\\\nb\")", {"ab"}},  // line continuation
      {R"(createServerReference("\q\#"))", {"q#"}},    // identity escapes
      {R"(createServerReference("/src/ä.ts#f"))", {"/src/\xc3\xa4.ts#f"}},
      // Ids are opaque: an encrypted token is as good as a path.
      {R"(createServerReference("eyJhbGciOi.AbC-_/+=="))", {"eyJhbGciOi.AbC-_/+=="}},
      // Refused (skipped and counted), and the scan goes on.
      {R"(createServerReference("a\nb"),createServerReference("ok"))", {"ok"}, 1},  // decodes to a control byte
      {R"(createServerReference("\0"),createServerReference("\01"))", {}, 2},
      {R"(createServerReference("\1"),createServerReference("\8"))", {}, 2},
      {R"(createServerReference("\ud800"),createServerReference("\udc00x"))", {}, 2},  // lone surrogates
      {R"(createServerReference("\u{110000}"),createServerReference("\u{}"),createServerReference("\u{000000041}"))",
       {}, 3},
      {R"(createServerReference("\x4"),createServerReference("\u00G1"))", {}, 2},
      {R"(createServerReference(`a${b}`),createServerReference(`ok`))", {"ok"}, 1},  // not a constant
      {"createServerReference(`a\nb`)", {}, 1},                                       // raw newline in a template
      {R"(createServerReference(""))", {}, 1},
      {"createServerReference(\"a\x01\")", {}, 1},
      {"createServerReference(\"a\x7f\")", {}, 1},
      {"createServerReference(\"\xff\xfe\")", {}, 1},  // not UTF-8
      {"createServerReference(\"a\\\xe2\x80\xa8\")", {}, 1},
      // Unterminated: at a raw line break, or the end of the text.
      {"createServerReference(\"abc\ncreateServerReference(\"ok\")", {"ok"}, 1},
      {R"(createServerReference("abc)", {}, 1},
      {R"(createServerReference("abc\)", {}, 1},
      // Not a literal: a variable, a call, the end of the text, or no call at all.
      {R"(createServerReference(id,cs))", {}, 0, 1},
      {R"(createServerReference(f("a")))", {}, 0, 1},
      {"createServerReference(", {}, 0, 1},
      {"createServerReference(  ", {}, 0, 1},
      {"createServerReference", {}},
      {"createServerReference)", {}},
      {R"(import{createServerReference as e}from"react";e("a#f"))", {}},
      {R"(createServerReference = "a#f")", {}},
      {"", {}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.chunk);
    const auto got = scan(c.chunk);
    CHECK(got.ids == c.ids);
    CHECK(got.skipped == c.skipped);
    CHECK(got.non_literal == c.non_literal);
  }
}

TEST_CASE("function ids: hostile sizes stay bounded") {
  // A 1 MiB literal: skipped, not kept, and what follows it is still read.
  const std::string huge = "createServerReference(\"" + std::string(1 << 20, 'a') + "\"),createServerReference(\"ok\")";
  auto got = scan(huge);
  CHECK(got.ids == Ids{"ok"});
  CHECK(got.skipped == 1);

  // Exactly at the cap is kept; one byte over is not.
  const std::string at_cap(kMaxFunctionIdBytes, 'b');
  CHECK(scan("createServerReference('" + at_cap + "')").ids == Ids{at_cap});
  CHECK(scan("createServerReference('" + at_cap + "b')").skipped == 1);

  // NUL bytes, raw and escaped.
  const std::string nul = std::string("createServerReference(\"a") + '\0' + "b\"),createServerReference(\"\\u0000\")";
  got = scan(nul);
  CHECK(got.ids.empty());
  CHECK(got.skipped == 2);
  // A NUL outside a literal is just a byte.
  CHECK(scan(std::string("x\0createServerReference('a')", 28)).ids == Ids{"a"});

  // Calls inside an unterminated literal: one refusal once the literal is
  // longer than any id, and the scan resumes where it stopped (linear, not
  // quadratic: no byte is scanned twice). What follows is read as calls.
  std::string nested = "createServerReference(\"";
  for (int i = 0; i < 100'000; ++i) nested += "createServerReference('x',";
  got = scan(nested);
  CHECK(got.skipped == 1);
  CHECK(got.ids.size() > 99'000);
  CHECK(got.ids.size() < 100'000);
  // Literals that close at once: each call's id is read once.
  std::string many;
  for (int i = 0; i < 10'000; ++i) many += "createServerReference(\"createServerReference(\"";
  got = scan(many);
  CHECK(got.ids.size() == 10'000);
  CHECK(got.ids.front() == "createServerReference(");
}

}  // namespace sg::conf
