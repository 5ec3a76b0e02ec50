// find_form_action_id: no-JS form posts name their action in the body
// (React's encodeFormAction / decodeAction).
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "routing/request_kind.h"

using sg::routing::find_form_action_id;

namespace {

constexpr const char* kId = "40c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3";

std::string part(const std::string& boundary, const std::string& name, const std::string& value,
                 const std::string& extra_headers = "") {
  return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n" + extra_headers + "\r\n" +
         value + "\r\n";
}

std::string multipart_ct(const std::string& boundary) { return "multipart/form-data; boundary=" + boundary; }

// Every prefix of `body` gives nullopt or `expected`, never anything else
// (and never crashes); the whole body gives `expected`.
void check_every_prefix(const std::string& content_type, const std::string& body, const std::string& expected) {
  for (std::size_t n = 0; n <= body.size(); ++n) {
    const auto got = find_form_action_id(content_type, std::string_view(body).substr(0, n));
    if (got) {
      CAPTURE(n);
      CHECK(*got == expected);
    }
  }
  CHECK(find_form_action_id(content_type, body) == expected);
}

}  // namespace

TEST_CASE("multipart: $ACTION_ID_ with Chromium, Firefox and arbitrary boundaries") {
  for (const std::string boundary :
       {"----WebKitFormBoundaryq8Zt1MrDkR3xWb2Y", "---------------------------41184676334", "x", "a'()+_,-./:=?b"}) {
    CAPTURE(boundary);
    const std::string body = part(boundary, std::string("$ACTION_ID_") + kId, "") + part(boundary, "quantity", "2") +
                             "--" + boundary + "--\r\n";
    check_every_prefix(multipart_ct(boundary), body, kId);
    // A quoted boundary parameter, other parameters around it.
    CHECK(find_form_action_id("multipart/form-data; charset=utf-8; boundary=\"" + boundary + "\"", body) == kId);
  }
}

TEST_CASE("multipart: the action field after other fields, a file part, a preamble") {
  const std::string b = "----WebKitFormBoundaryAAA";
  const std::string body = "preamble to ignore\r\n" + part(b, "name", "Ada") +
                           "--" + b + "\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n"
                           "Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n--not-the-boundary\r\n" +
                           part(b, std::string("$ACTION_ID_") + kId, "") + "--" + b + "--\r\n";
  check_every_prefix(multipart_ct(b), body, kId);
}

TEST_CASE("multipart: lower-case header names, extra headers, name not first") {
  const std::string b = "B";
  const std::string body = "--B\r\ncontent-type: text/plain\r\ncontent-disposition: form-data; filename=\"\"; "
                           "name=\"$ACTION_ID_abc123\"\r\n\r\n\r\n--B--\r\n";
  CHECK(find_form_action_id(multipart_ct(b), body) == "abc123");
}

TEST_CASE("multipart: $ACTION_REF_ with $ACTION_<n>:0 holding the bound action's id") {
  const std::string b = "----WebKitFormBoundaryRef";
  const std::string meta = std::string(R"({"id":")") + kId + R"(","bound":"$@1"})";
  const std::string body = part(b, "$ACTION_REF_1", "") + part(b, "$ACTION_1:0", meta) +
                           part(b, "$ACTION_1:1", R"(["item-7"])") + part(b, "quantity", "1") + "--" + b + "--\r\n";
  check_every_prefix(multipart_ct(b), body, kId);

  // The metadata may come before the ref field, and the prefix may be any string.
  const std::string before = part(b, "$ACTION_R1:0", meta) + part(b, "$ACTION_REF_R1", "") + "--" + b + "--\r\n";
  CHECK(find_form_action_id(multipart_ct(b), before) == kId);

  // Metadata that is missing, not JSON, or has no string id names nothing.
  for (const std::string& bad : {std::string(""), std::string("{\"id\":"), std::string("[1]"),
                                std::string("{\"id\":7}"), std::string("{\"bound\":null}")}) {
    CAPTURE(bad);
    const std::string text = part(b, "$ACTION_REF_1", "") + part(b, "$ACTION_1:0", bad) + "--" + b + "--\r\n";
    CHECK_FALSE(find_form_action_id(multipart_ct(b), text).has_value());
  }
  CHECK_FALSE(find_form_action_id(multipart_ct(b), part(b, "$ACTION_REF_1", "") + "--" + b + "--\r\n").has_value());
}

TEST_CASE("multipart: the last action field wins, as in React's decodeAction") {
  const std::string b = "b";
  const std::string body = part(b, "$ACTION_ID_form", "") + part(b, "$ACTION_ID_button", "") + "--b--\r\n";
  CHECK(find_form_action_id(multipart_ct(b), body) == "button");
}

TEST_CASE("multipart: cut mid-field, wrong boundary, no boundary, no action: nullopt") {
  const std::string b = "----WebKitFormBoundaryCut";
  const std::string full = part(b, std::string("$ACTION_ID_") + kId, "");
  // Cut inside the name: the ID may be longer than what arrived.
  const std::string inside_name = full.substr(0, full.find(kId) + 10);
  CHECK_FALSE(find_form_action_id(multipart_ct(b), inside_name).has_value());
  // Cut after the name but before the end of the part headers.
  const std::string before_blank = full.substr(0, full.find("\r\n\r\n"));
  CHECK_FALSE(find_form_action_id(multipart_ct(b), before_blank).has_value());
  CHECK_FALSE(find_form_action_id(multipart_ct("other"), full).has_value());
  CHECK_FALSE(find_form_action_id("multipart/form-data", full).has_value());
  CHECK_FALSE(find_form_action_id("multipart/form-data; boundary=", full).has_value());
  CHECK_FALSE(find_form_action_id(multipart_ct(b), part(b, "$ACTION_ID_", "") + "--" + b + "--\r\n").has_value());
  CHECK_FALSE(find_form_action_id(multipart_ct(b), part(b, "email", "$ACTION_ID_abc") + "--" + b + "--").has_value());
  CHECK_FALSE(find_form_action_id(multipart_ct(b), "").has_value());
  CHECK_FALSE(find_form_action_id("text/plain", full).has_value());
}

TEST_CASE("urlencoded: %24-encoded and literal $ names, REF metadata, cut fields") {
  const std::string ct = "application/x-www-form-urlencoded";
  check_every_prefix(ct, std::string("%24ACTION_ID_") + kId + "=&quantity=2", kId);
  check_every_prefix(ct, std::string("quantity=2&$ACTION_ID_") + kId + "=", kId);
  CHECK(find_form_action_id(ct + "; charset=UTF-8", "%24ACTION_ID_abc=") == "abc");
  CHECK(find_form_action_id(ct, "%24ACTION_ID_abc") == std::nullopt);  // no '=': maybe cut
  CHECK(find_form_action_id(ct, "%24ACTION_ID_ab%2") == std::nullopt);
  CHECK(find_form_action_id(ct, "%24ACTION_ID_src%2Fa.ts%23f=") == "src/a.ts#f");

  const std::string meta = "%7B%22id%22%3A%22" + std::string(kId) + "%22%2C%22bound%22%3A%22%24%401%22%7D";
  check_every_prefix(ct, "%24ACTION_REF_1=&%24ACTION_1%3A0=" + meta + "&%24ACTION_1%3A1=%5B%5D&q=1", kId);
  // A JSON value cut off by the prefix does not parse: nullopt.
  CHECK_FALSE(find_form_action_id(ct, "%24ACTION_REF_1=&%24ACTION_1%3A0=" + meta.substr(0, 20)).has_value());
  CHECK_FALSE(find_form_action_id(ct, "name=a&email=b").has_value());
  CHECK_FALSE(find_form_action_id(ct, "&&=&").has_value());
}
