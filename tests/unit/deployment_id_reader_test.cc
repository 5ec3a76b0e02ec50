// The deployment ID a build reports (issue 14 item 6): the header, and the
// `<html data-dpl-id>` attribute read narrowly from a body prefix. Tables,
// hostile input included.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/control/build_verifier.h"
#include "gateway/control/deployment_id_reader.h"

using sg::gateway::header_deployment_id;
using sg::gateway::HtmlIdScan;
using sg::gateway::printable_reported_id;
using sg::gateway::scan_html_deployment_id;

namespace {

using Status = HtmlIdScan::Status;

// "found:<id>", "absent", "need_more".
std::string scan(std::string_view body, bool complete = true) {
  const HtmlIdScan s = scan_html_deployment_id(body, complete);
  switch (s.status) {
    case Status::found: return "found:" + s.id;
    case Status::absent: return "absent";
    case Status::need_more: return "need_more";
  }
  return "?";
}

}  // namespace

TEST_CASE("html: the first start tag <html>, its data-dpl-id attribute") {
  const struct {
    const char* name;
    std::string body;
    std::string expected;
  } rows[] = {
      // What Next.js 16 renders.
      {"next 16 document", R"(<!DOCTYPE html><html lang="en" data-dpl-id="dpl-b"><head>)", "found:dpl-b"},
      {"only attribute", R"(<html data-dpl-id="dpl-b">)", "found:dpl-b"},
      {"single quotes", "<html data-dpl-id='dpl-b'>", "found:dpl-b"},
      {"unquoted", "<html data-dpl-id=dpl-b>", "found:dpl-b"},
      {"unquoted then attribute", "<html data-dpl-id=dpl-b lang=en>", "found:dpl-b"},
      {"spaces around =", "<html data-dpl-id = \"dpl-b\" >", "found:dpl-b"},
      {"newlines and tabs", "<html\n\tlang=\"en\"\r\n\tdata-dpl-id=\"dpl-b\"\n>", "found:dpl-b"},
      {"self-closing slash", "<html data-dpl-id=\"dpl-b\"/>", "found:dpl-b"},
      {"slash between attributes", "<html lang=\"en\"/data-dpl-id=\"dpl-b\">", "found:dpl-b"},
      {"valueless attribute first", "<html hidden data-dpl-id=\"dpl-b\">", "found:dpl-b"},
      // Case variants: tag and attribute names are ASCII case-insensitive.
      {"upper-case tag", "<HTML data-dpl-id=\"dpl-b\">", "found:dpl-b"},
      {"mixed-case attribute", "<Html DATA-Dpl-Id=\"dpl-b\">", "found:dpl-b"},
      {"upper-case doctype", "<!DOCTYPE HTML><HTML DATA-DPL-ID=\"dpl-b\">", "found:dpl-b"},
      {"value case is kept", "<html data-dpl-id=\"DPL-B\">", "found:DPL-B"},
      // What may come before <html>.
      {"BOM", "\xEF\xBB\xBF<html data-dpl-id=\"dpl-b\">", "found:dpl-b"},
      {"leading whitespace", " \r\n\t\f<html data-dpl-id=\"dpl-b\">", "found:dpl-b"},
      {"comment first", "<!-- a > b --><html data-dpl-id=\"dpl-b\">", "found:dpl-b"},
      {"empty comments", "<!--><!---><html data-dpl-id=\"dpl-b\">", "found:dpl-b"},
      {"processing instruction", "<?xml version=\"1.0\"?><html data-dpl-id=\"dpl-b\">", "found:dpl-b"},
      {"stray end tag", "</p><html data-dpl-id=\"dpl-b\">", "found:dpl-b"},
      // References React may write; others stay as they are.
      {"amp reference", "<html data-dpl-id=\"a&amp;b\">", "found:a&b"},
      {"numeric references", "<html data-dpl-id=\"&#100;pl&#x2D;b\">", "found:dpl-b"},
      {"unknown reference kept", "<html data-dpl-id=\"a&nbsp;b\">", "found:a&nbsp;b"},
      {"control-char reference kept", "<html data-dpl-id=\"a&#0;b\">", "found:a&#0;b"},
      {"bare ampersand", "<html data-dpl-id=\"a&b\">", "found:a&b"},
      // Duplicates: the first wins (the HTML spec drops later ones).
      {"duplicate attribute", "<html data-dpl-id=\"dpl-a\" data-dpl-id=\"dpl-b\">", "found:dpl-a"},
      {"'>' inside a quoted value", "<html data-dpl-id=\"a>b\">", "found:a>b"},

      // No ID.
      {"no attribute", "<html lang=\"en\"><head>", "absent"},
      {"empty value", "<html data-dpl-id=\"\">", "absent"},
      {"valueless data-dpl-id", "<html data-dpl-id>", "absent"},
      {"similar name", "<html data-dpl-idx=\"dpl-b\" xdata-dpl-id=\"dpl-c\">", "absent"},
      {"name prefix only", "<html data-dpl=\"dpl-b\">", "absent"},
      {"html-ish tag name", "<htmlx data-dpl-id=\"dpl-b\">", "absent"},
      {"attribute in a comment", "<!-- <html data-dpl-id=\"dpl-b\"> --><html>", "absent"},
      {"attribute in a comment only", "<!-- <html data-dpl-id=\"dpl-b\"> -->", "absent"},
      {"attribute in another tag", "<head data-dpl-id=\"dpl-b\"><html data-dpl-id=\"dpl-c\">", "absent"},
      {"attribute in body", "<html><body data-dpl-id=\"dpl-b\">", "absent"},
      {"attribute in a script", "<html><script>x='<html data-dpl-id=\"dpl-b\">'</script>", "absent"},
      {"attribute in the doctype", "<!DOCTYPE html data-dpl-id=\"dpl-b\"><html>", "absent"},
      {"text first", "hello <html data-dpl-id=\"dpl-b\">", "absent"},
      {"JSON body", R"({"data-dpl-id":"dpl-b"})", "absent"},
      {"'<' then space", "< html data-dpl-id=\"dpl-b\">", "absent"},
      {"empty body", "", "absent"},
      {"whitespace only", "  \n", "absent"},
      // After `class=` and spaces an unquoted value starts: the rest is class's.
      {"value of the attribute before", "<html class= data-dpl-id=\"dpl-b\">", "absent"},
      {"unquoted value runs over '/'", "<html lang=en/data-dpl-id=\"dpl-b\">", "absent"},
      {"attribute in an attribute value", "<html title='data-dpl-id=\"dpl-b\"'>", "absent"},
      {"attribute after the tag", "<html>data-dpl-id=\"dpl-b\"", "absent"},

      // Cut short (complete: no more bytes will come).
      {"unterminated tag", "<html data-dpl-id=\"dpl-b\"", "absent"},
      {"unterminated value", "<html data-dpl-id=\"dpl-b", "absent"},
      {"unterminated unquoted value", "<html data-dpl-id=dpl-b", "absent"},
      {"unterminated comment", "<!-- <html data-dpl-id=\"dpl-b\">", "absent"},
      {"unterminated doctype", "<!DOCTYPE html", "absent"},
      {"lone '<'", "<", "absent"},
      {"tag name cut", "<htm", "absent"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    CHECK(scan(row.body) == row.expected);
  }
}

TEST_CASE("html: a prefix that may still become an ID waits for more bytes") {
  const std::string document = R"(<!DOCTYPE html><!-- x --><html lang="en" data-dpl-id="dpl-b"><head>)";
  // Every cut before the tag's '>' needs more; from there on it is found.
  const std::size_t tag_end = document.find('>', document.find("<html")) + 1;
  for (std::size_t cut = 0; cut <= document.size(); ++cut) {
    CAPTURE(cut);
    const std::string prefix = document.substr(0, cut);
    CHECK(scan(prefix, false) == (cut < tag_end ? "need_more" : "found:dpl-b"));
  }
  // A cut inside the BOM is no text yet.
  CHECK(scan("\xEF", false) == "need_more");
  CHECK(scan("\xEF\xBB", false) == "need_more");
  CHECK(scan("\xEF\xBB", true) == "absent");
  // What can already be decided is decided without more bytes.
  CHECK(scan("<head>", false) == "absent");
  CHECK(scan("text", false) == "absent");
  CHECK(scan("<html lang=en>", false) == "absent");
}

TEST_CASE("html: hostile sizes stay linear and bounded") {
  // A 64 KiB value: read whole when the tag ends, absent when it does not.
  const std::string huge(64 * 1024, 'x');
  CHECK(scan("<html data-dpl-id=\"" + huge + "\">") == "found:" + huge);
  CHECK(scan("<html data-dpl-id=\"" + huge, false) == "need_more");
  CHECK(scan("<html data-dpl-id=\"" + huge, true) == "absent");
  // Many attributes, many comments, a comment that never ends.
  std::string attributes = "<html";
  for (int i = 0; i < 5000; ++i) attributes += " a" + std::to_string(i) + "=v";
  CHECK(scan(attributes + " data-dpl-id=dpl-b>") == "found:dpl-b");
  std::string comments;
  for (int i = 0; i < 5000; ++i) comments += "<!---->";
  CHECK(scan(comments + "<html data-dpl-id=dpl-b>") == "found:dpl-b");
  CHECK(scan("<!--" + std::string(60000, '-')) == "absent");
  CHECK(scan(std::string(60000, '<')) == "absent");
  // NUL and high bytes are only bytes.
  CHECK(scan(std::string("<html data-dpl-id=\"a\0b\">", 24)) == std::string("found:a\0b", 9));
  CHECK(scan("<html data-dpl-id=\"\xff\xfe\">") == "found:\xff\xfe");
}

TEST_CASE("header: x-nextjs-deployment-id, any case, repeated") {
  using Fields = std::vector<sg::routing::HeaderField>;
  const struct {
    const char* name;
    Fields fields;
    std::string expected;
  } rows[] = {
      {"absent", {{"content-type", "text/html"}}, ""},
      {"present", {{"x-nextjs-deployment-id", "dpl-b"}}, "dpl-b"},
      {"name case", {{"X-NextJS-Deployment-ID", "dpl-b"}}, "dpl-b"},
      {"empty value", {{"x-nextjs-deployment-id", ""}}, ""},
      {"repeated, same", {{"x-nextjs-deployment-id", "dpl-b"}, {"x-nextjs-deployment-id", "dpl-b"}}, "dpl-b"},
      {"repeated, different", {{"x-nextjs-deployment-id", "dpl-b"}, {"x-nextjs-deployment-id", "dpl-a"}},
       "dpl-b, dpl-a"},
      {"underscore variant does not count", {{"x_nextjs_deployment_id", "dpl-b"}}, ""},
      {"x-deployment-id does not count", {{"x-deployment-id", "dpl-b"}}, ""},
  };
  for (const auto& row : rows) {
    CAPTURE(row.name);
    CHECK(header_deployment_id(row.fields) == row.expected);
  }
}

TEST_CASE("a reported ID is printable in messages and logs") {
  CHECK(printable_reported_id("dpl-b") == "dpl-b");
  CHECK(printable_reported_id("a\nb\x1b[31m\\") == "a\\x0ab\\x1b[31m\\x5c");
  CHECK(printable_reported_id(std::string(300, 'x')) == std::string(128, 'x') + "...");
}
