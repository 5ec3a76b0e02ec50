// The reload answers of design.md section 5, byte for byte.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "skew/answers.h"

using sg::conf::ActionPolicy;
using sg::conf::SkewConfig;
using sg::routing::ActionClient;
using sg::routing::Classification;
using sg::routing::RequestKind;
using sg::skew::action_reload_answer;
using sg::skew::Answer;
using sg::skew::json_reload_answer;
using sg::skew::reload_header_value;
using sg::skew::ReloadContext;
using sg::skew::rsc_reload_answer;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

const ReloadContext kContext{"build_retired", "dpl-a", "dpl-b", "/cart?step=2&x=%20y"};
constexpr const char* kReload = "required; reason=build_retired; build=dpl-a";

Classification action(ActionClient client, bool wants_json = false) {
  Classification c;
  c.kind = RequestKind::action;
  c.action_client = client;
  c.action_id = "7f8a";
  c.wants_json = wants_json;
  return c;
}

SkewConfig policy(ActionPolicy p) {
  SkewConfig skew;
  skew.action_policy = p;
  return skew;
}

void check_answer(const Answer& answer, int status, const Headers& headers, const std::string& body) {
  CHECK(answer.status == status);
  CHECK(answer.headers == headers);
  CHECK(answer.body == body);
}

}  // namespace

TEST_CASE("x-skewgate-reload value") {
  CHECK(reload_header_value(kContext) == kReload);
  CHECK(reload_header_value({"action_not_found", "unknown", "dpl-b", "/"}) ==
        "required; reason=action_not_found; build=unknown");
  // Nothing from the request can split the header.
  CHECK(reload_header_value({"build_unknown", "dpl\r\nset-cookie: x", "dpl-b", "/"}) ==
        "required; reason=build_unknown; build=dplset-cookie: x");
}

TEST_CASE("action, reload policy: 200 + x-action-redirect, empty text/plain") {
  check_answer(action_reload_answer(action(ActionClient::next_js), policy(ActionPolicy::reload), kContext), 200,
               {{"content-type", "text/plain"},
                {"cache-control", "no-store"},
                {"x-action-redirect", "/cart?step=2&x=%20y"},
                {"x-skewgate-reload", kReload}},
               "");
}

TEST_CASE("action, error policy: 409 text/plain exactly, the app's message") {
  SkewConfig skew = policy(ActionPolicy::error);
  check_answer(action_reload_answer(action(ActionClient::next_js), skew, kContext), 409,
               {{"content-type", "text/plain"},
                {"cache-control", "no-store"},
                {"x-skewgate-reload", kReload}},
               "This page is out of date. Reload to continue.");
  skew.message = "Nouvelle version : rechargez la page.";
  CHECK(action_reload_answer(action(ActionClient::next_js), skew, kContext).body ==
        "Nouvelle version : rechargez la page.");
}

TEST_CASE("react-server and JSON clients: 409 application/json, whatever the policy") {
  const std::string body =
      R"({"error":"reload_required","reason":"build_retired","client_build":"dpl-a","current_build":"dpl-b",)"
      R"("reload":"/cart?step=2&x=%20y"})";
  const Headers headers = {
      {"content-type", "application/json"}, {"cache-control", "no-store"}, {"x-skewgate-reload", kReload}};
  for (const auto p : {ActionPolicy::reload, ActionPolicy::error}) {
    check_answer(action_reload_answer(action(ActionClient::react_server), policy(p), kContext), 409, headers, body);
    check_answer(action_reload_answer(action(ActionClient::next_js, true), policy(p), kContext), 409, headers, body);
  }
  check_answer(json_reload_answer(kContext), 409, headers, body);
  // Request-supplied values are escaped, invalid UTF-8 replaced, never thrown on.
  const auto odd = json_reload_answer({"build_unknown", "a\"b\xff", "dpl-b", "/p"});
  CHECK(odd.body ==
        "{\"error\":\"reload_required\",\"reason\":\"build_unknown\",\"client_build\":\"a\\\"b\xEF\xBF\xBD\","
        "\"current_build\":\"dpl-b\",\"reload\":\"/p\"}");
}

TEST_CASE("no-JS form post: 303 to the same path and query, whatever the policy") {
  for (const auto p : {ActionPolicy::reload, ActionPolicy::error}) {
    for (const bool json : {false, true}) {
      check_answer(action_reload_answer(action(ActionClient::form_post, json), policy(p), kContext), 303,
                   {{"cache-control", "no-store"}, {"location", "/cart?step=2&x=%20y"}, {"x-skewgate-reload", kReload}},
                   "");
    }
  }
}

TEST_CASE("rsc: 409 text/plain, short body") {
  check_answer(rsc_reload_answer(kContext), 409,
               {{"content-type", "text/plain"}, {"cache-control", "no-store"}, {"x-skewgate-reload", kReload}},
               "reload required");
}
