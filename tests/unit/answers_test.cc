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

const ReloadContext kContext{sg::metrics::Reason::build_retired, "dpl-a", "dpl-b", "/cart?step=2&x=%20y"};
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
  CHECK(reload_header_value({sg::metrics::Reason::action_not_found, "unknown", "dpl-b", "/"}) ==
        "required; reason=action_not_found; build=unknown");
  // Nothing from the request can split the header, hold a control byte or
  // forge a parameter: the client build is percent-encoded outside [A-Za-z0-9._-].
  const struct {
    const char* client_build;
    const char* encoded;
  } cases[] = {
      {"dpl\r\nset-cookie: x", "dpl%0D%0Aset-cookie%3A%20x"},
      {"a; reason=build_retired", "a%3B%20reason%3Dbuild_retired"},
      {"tab\there", "tab%09here"},
      {"del\x7f\x01", "del%7F%01"},
      {"caf\xc3\xa9\xff", "caf%C3%A9%FF"},
      {"quote\"back\\slash", "quote%22back%5Cslash"},
      {"100%", "100%25"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.client_build);
    CHECK(reload_header_value({sg::metrics::Reason::build_unknown, c.client_build, "dpl-b", "/"}) ==
          std::string("required; reason=build_unknown; build=") + c.encoded);
  }
  const std::string nul("nul\0x", 5);
  CHECK(reload_header_value({sg::metrics::Reason::build_unknown, nul, "dpl-b", "/"}) == "required; reason=build_unknown; build=nul%00x");
}

TEST_CASE("every answer that sends the client back stays on the origin") {
  // The path a caller passes is made same-origin by the answer builder itself.
  const ReloadContext hostile{sg::metrics::Reason::build_unknown, "dpl-a", "dpl-b", "//evil.example/x?q=1"};
  const auto header = [](const Answer& answer, const std::string& name) {
    for (const auto& [n, v] : answer.headers)
      if (n == name) return v;
    return std::string("<none>");
  };
  CHECK(header(action_reload_answer(action(ActionClient::form_post), policy(ActionPolicy::reload), hostile),
               "location") == "/evil.example/x?q=1");
  CHECK(header(action_reload_answer(action(ActionClient::next_js), policy(ActionPolicy::reload), hostile),
               "x-action-redirect") == "/evil.example/x?q=1");
  CHECK(json_reload_answer(hostile).body.find(R"("reload":"/evil.example/x?q=1")") != std::string::npos);
  const ReloadContext split{sg::metrics::Reason::build_unknown, "dpl-a", "dpl-b", "/\\evil\r\nset-cookie: a=b"};
  CHECK(header(action_reload_answer(action(ActionClient::next_js), policy(ActionPolicy::reload), split),
               "x-action-redirect") == "/evil%0D%0Aset-cookie:%20a=b");
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

TEST_CASE("JSON clients: 409 application/json, whatever the policy") {
  const std::string body =
      R"({"error":"reload_required","reason":"build_retired","client_build":"dpl-a","current_build":"dpl-b",)"
      R"("reload":"/cart?step=2&x=%20y"})";
  const Headers headers = {
      {"content-type", "application/json"}, {"cache-control", "no-store"}, {"x-skewgate-reload", kReload}};
  for (const auto p : {ActionPolicy::reload, ActionPolicy::error}) {
    check_answer(action_reload_answer(action(ActionClient::next_js, true), policy(p), kContext), 409, headers, body);
  }
  check_answer(json_reload_answer(kContext), 409, headers, body);
  // Request-supplied values are escaped, invalid UTF-8 replaced, never thrown on.
  const auto odd = json_reload_answer({sg::metrics::Reason::build_unknown, "a\"b\xff", "dpl-b", "/p"});
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

// Issue 15: the react-server client ignores the status and any JSON or text;
// only flight rows recover it (measured with @lazarv/react-server in Chromium).
TEST_CASE("react-server calls: the flight reload answer (policy reload), byte for byte") {
  const Headers headers = {{"content-type", "text/x-component; charset=utf-8"},
                           {"cache-control", "no-store"},
                           {"x-skewgate-reload", kReload}};
  const std::string body = "1:I[\"/__skewgate/reload.mjs\",[],\"default\",1]\n0:[\"$L1\"]\n";
  check_answer(action_reload_answer(action(ActionClient::react_server), policy(ActionPolicy::reload), kContext), 200,
               headers, body);
  // wants_json does not matter: the react-server client reads flight only.
  check_answer(action_reload_answer(action(ActionClient::react_server, true), policy(ActionPolicy::reload), kContext),
               200, headers, body);
  check_answer(sg::skew::react_server_reload_answer(policy(ActionPolicy::reload), kContext), 200, headers, body);
  // The module path is a JSON string: whatever it holds cannot add a row or
  // break out of the string (the loader refuses such paths too).
  SkewConfig skew;
  const std::vector<std::pair<std::string, std::string>> paths = {
      {"/m.mjs", "1:I[\"/m.mjs\",[],\"default\",1]\n"},
      {"/a\"],\"x\n2:E{}", "1:I[\"/a\\\"],\\\"x\\n2:E{}\",[],\"default\",1]\n"},
      {"/a\\b\x01", "1:I[\"/a\\\\b\\u0001\",[],\"default\",1]\n"},
      {"/\xff", "1:I[\"/\xEF\xBF\xBD\",[],\"default\",1]\n"},
  };
  for (const auto& [path, row] : paths) {
    CAPTURE(path);
    skew.reload_module_path = path;
    const Answer answer = action_reload_answer(action(ActionClient::react_server), skew, kContext);
    CHECK(answer.body == row + "0:[\"$L1\"]\n");
  }
}

TEST_CASE("react-server calls: the flight error row (policy error), byte for byte") {
  const Headers headers = {{"content-type", "text/x-component; charset=utf-8"},
                           {"cache-control", "no-store"},
                           {"react-server-data", "rsc"},
                           {"x-skewgate-reload", kReload}};
  check_answer(action_reload_answer(action(ActionClient::react_server), policy(ActionPolicy::error), kContext), 200,
               headers, "0:[\"$@1\"]\n1:E{\"digest\":\"This page is out of date. Reload to continue.\"}\n");
  SkewConfig skew = policy(ActionPolicy::error);
  const std::vector<std::pair<std::string, std::string>> messages = {
      {"Nouvelle version : rechargez.", "1:E{\"digest\":\"Nouvelle version : rechargez.\"}\n"},
      {"a\"}\n2:I[\"/evil.mjs\",[],\"\",1]", "1:E{\"digest\":\"a\\\"}\\n2:I[\\\"/evil.mjs\\\",[],\\\"\\\",1]\"}\n"},
      {"tab\there\r\\", "1:E{\"digest\":\"tab\\there\\r\\\\\"}\n"},
      {"bad \xc3", "1:E{\"digest\":\"bad \xEF\xBF\xBD\"}\n"},
      {"", "1:E{\"digest\":\"\"}\n"},
  };
  for (const auto& [message, row] : messages) {
    CAPTURE(message);
    skew.message = message;
    CHECK(action_reload_answer(action(ActionClient::react_server), skew, kContext).body == "0:[\"$@1\"]\n" + row);
  }
}

TEST_CASE("react-server no-JS form posts still get 303") {
  for (const auto p : {ActionPolicy::reload, ActionPolicy::error}) {
    const Answer answer = action_reload_answer(action(ActionClient::form_post), policy(p), kContext);
    CHECK(answer.status == 303);
    CHECK(answer.headers == Headers{{"cache-control", "no-store"},
                                    {"location", "/cart?step=2&x=%20y"},
                                    {"x-skewgate-reload", kReload}});
  }
}

TEST_CASE("the reload module: GET/HEAD 200 text/javascript, other methods 405") {
  const std::string module = "location.replace(location.href.split(\"#\")[0]); export default function R(){return null}";
  for (const char* method : {"GET", "HEAD"}) {
    CAPTURE(method);
    check_answer(sg::skew::reload_module_answer(method), 200,
                 Headers{{"content-type", "text/javascript; charset=utf-8"}, {"cache-control", "no-store"}}, module);
  }
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "get", "PATCH"}) {
    CAPTURE(method);
    const Answer answer = sg::skew::reload_module_answer(method);
    CHECK(answer.status == 405);
    CHECK(answer.headers == Headers{{"content-type", "text/plain; charset=utf-8"},
                                    {"cache-control", "no-store"},
                                    {"allow", "GET, HEAD"}});
  }
}
