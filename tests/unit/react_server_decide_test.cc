// skew::decide for @lazarv/react-server apps (issue 15): classification by
// the app's framework profile, routing by function IDs collected from client
// chunks (react_server_chunks), navigations always to current, the flight
// answers and the reload module skewgate serves itself.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "reason_text.h"
#include "skew/decide.h"

using sg::conf::ActionIdSource;
using sg::conf::ActionPolicy;
using sg::conf::AppConfig;
using sg::conf::BuildConfig;
using sg::conf::BuildState;
using sg::conf::Config;
using sg::conf::Framework;
using sg::conf::SocketAddress;
using sg::routing::HeaderField;
using sg::routing::RequestFramework;
using sg::routing::RequestKind;
using sg::routing::RequestView;
using sg::routing::Snapshot;
using sg::skew::decide;
using sg::skew::DecisionInput;
using sg::skew::Outcome;
using sg::skew::Pin;
using sg::skew::PinKeyring;
using sg::skew::Verdict;

namespace {

constexpr std::int64_t kNowMs = 1'800'000'000'000;
constexpr std::int64_t kNowS = kNowMs / 1000;
const std::string kSecret = "0123456789abcdef0123456789abcdef-current";

const PinKeyring& keyring() {
  static const PinKeyring ring({kSecret});
  return ring;
}

BuildConfig build(const char* id, int port, std::vector<std::string> ids, ActionIdSource source,
                  std::optional<BuildState> state = std::nullopt) {
  BuildConfig b;
  b.id = id;
  b.upstreams = {SocketAddress::parse("127.0.0.1:" + std::to_string(port)).value()};
  b.action_ids = std::move(ids);
  b.action_id_source = b.action_ids.empty() ? ActionIdSource::none : source;
  b.state = state;
  return b;
}

struct Options {
  Framework framework = Framework::react_server;
  ActionPolicy policy = ActionPolicy::reload;
  bool ids = true;  // the builds' chunk IDs are known
};

// rs-old retired {f-old}, rs-a retained {f-a, kept}, rs-p preview {f-p},
// rs-b current {f-b, kept}: a rename from A to B kept `kept`.
std::shared_ptr<const Snapshot> todo(const Options& options = {}) {
  AppConfig app;
  app.name = "todo";
  app.hosts = {"todo.example.com"};
  app.current = "rs-b";
  app.framework = options.framework;
  app.skew.action_policy = options.policy;
  const auto ids = [&](std::vector<std::string> v) { return options.ids ? v : std::vector<std::string>{}; };
  const auto src = ActionIdSource::react_server_chunks;
  app.builds = {build("rs-old", 3000, ids({"f-old"}), src, BuildState::retired),
                build("rs-a", 3001, ids({"f-a", "kept"}), src),
                build("rs-p", 3002, ids({"f-p"}), src, BuildState::preview),
                build("rs-b", 3003, ids({"f-b", "kept"}), src)};
  Config config;
  config.apps = {app};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors);
  REQUIRE(errors.empty());
  return snapshot;
}

struct Request {
  std::string method = "POST";
  std::string target = "/todos/rsc.x-component";
  std::vector<HeaderField> headers;
  const char* pin = nullptr;  // the build a valid pin names
};

Request call(const char* id, const char* pin = nullptr) {
  Request r;
  r.headers = {{"React-Server-Action", id}, {"Accept", "text/x-component"}, {"Content-Type", "text/plain"}};
  r.pin = pin;
  return r;
}

Request navigation(const char* pin = nullptr) {
  Request r;
  r.headers = {{"Accept", "text/x-component"}, {"Content-Type", "application/json"}};
  r.pin = pin;
  return r;
}

Verdict run(const Snapshot& snapshot, Request r) {
  std::string cookie;
  r.headers.insert(r.headers.begin(), HeaderField{"Host", "todo.example.com"});
  if (r.pin != nullptr) {
    cookie = "skewgate_pin=" + keyring().seal(Pin{"todo", r.pin, kNowS - 60, kNowS + 3600, Pin::Kind::pin});
    r.headers.push_back({"Cookie", cookie});
  }
  const RequestView view{r.method, r.target, r.headers};
  DecisionInput input{view};
  input.now_ms = kNowMs;
  input.keyring = &keyring();
  return decide(input, snapshot);
}

std::string target_of(const Verdict& v) { return v.target ? v.target->id : std::string("-"); }

}  // namespace

TEST_CASE("react-server calls: the pinned build when it has the ID, else the newest kept holder, else reload") {
  const auto snapshot = todo();
  struct Row {
    const char* name;
    Request request;
    const char* target;  // "-": answered
    Outcome outcome;
    const char* reason;
  };
  const std::vector<Row> rows = {
      {"pinned to A, A has it", call("f-a", "rs-a"), "rs-a", Outcome::served, ""},
      {"pinned to B (another tab), only A has it", call("f-a", "rs-b"), "rs-a", Outcome::served, ""},
      {"kept by both, pin B", call("kept", "rs-b"), "rs-b", Outcome::served, ""},
      {"kept by both, pin A", call("kept", "rs-a"), "rs-a", Outcome::served, ""},
      {"no pin, only A has it", call("f-a"), "rs-a", Outcome::served, ""},
      {"no pin, current has it", call("f-b"), "rs-b", Outcome::served, ""},
      {"percent-encoded ID", call("f%2Da", "rs-b"), "rs-a", Outcome::served, ""},
      {"in no kept build (renamed, A retired)", call("f-old", "rs-b"), "-", Outcome::answered, "action_not_found"},
      {"in no build at all, no pin", call("gone"), "-", Outcome::answered, "action_not_found"},
      {"in no build at all, pin A", call("gone", "rs-a"), "-", Outcome::answered, "action_not_found"},
      {"pinned to the retired (killed) build that has it", call("f-old", "rs-old"), "-", Outcome::answered,
       "build_killed"},
      {"pinned to a preview that has it", call("f-p", "rs-p"), "rs-p", Outcome::served, ""},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    const Verdict v = run(*snapshot, row.request);
    CHECK(v.classification.kind == RequestKind::action);
    CHECK(v.classification.framework == RequestFramework::react_server);
    CHECK(target_of(v) == row.target);
    CHECK(v.outcome == row.outcome);
    CHECK(reason_text(v.reason) == row.reason);
    if (v.answer) {
      CHECK(v.answer->status == 200);
      CHECK(v.answer->body == "1:I[\"/__skewgate/reload.mjs\",[],\"default\",1]\n0:[\"$L1\"]\n");
    }
  }
}

TEST_CASE("react-server calls without known IDs go to the pin or current; answer-side detection decides") {
  const auto snapshot = todo({.ids = false});
  CHECK(target_of(run(*snapshot, call("f-a", "rs-a"))) == "rs-a");
  CHECK(target_of(run(*snapshot, call("f-a", "rs-b"))) == "rs-b");
  CHECK(target_of(run(*snapshot, call("anything"))) == "rs-b");
  CHECK(run(*snapshot, call("anything")).outcome == Outcome::served);
}

TEST_CASE("react-server calls: a Next.js manifest is no evidence against a react-server ID") {
  AppConfig app;
  app.name = "todo";
  app.hosts = {"todo.example.com"};
  app.current = "b";
  app.builds = {build("a", 3001, {}, ActionIdSource::none), build("b", 3002, {"next-id"}, ActionIdSource::next_manifest)};
  Config config;
  config.apps = {app};
  std::vector<std::string> errors;
  const auto snapshot = Snapshot::create(std::move(config), errors);
  REQUIRE(errors.empty());
  const Verdict v = run(*snapshot, call("f-a"));
  CHECK(target_of(v) == "b");
  CHECK(v.outcome == Outcome::served);
  // ...while a no-JS form post (either framework's) is judged by it.
  Request form;
  form.target = "/todos";
  form.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  const std::string body = "%24ACTION_ID_f-a=&x=1";
  form.headers.insert(form.headers.begin(), HeaderField{"Host", "todo.example.com"});
  const RequestView view{form.method, form.target, form.headers};
  DecisionInput input{view};
  input.body_peek = body;
  input.now_ms = kNowMs;
  const Verdict f = decide(input, *snapshot);
  CHECK(f.classification.action_client == sg::routing::ActionClient::form_post);
  CHECK(f.outcome == Outcome::answered);
  CHECK(f.reason == sg::metrics::Reason::action_not_found);
  REQUIRE(f.answer);
  CHECK(f.answer->status == 303);
}

TEST_CASE("react-server navigations go where a document would: current, never a 409") {
  const auto snapshot = todo();
  struct Row {
    const char* name;
    Request request;
    const char* target;
  };
  Request header_named = navigation();
  header_named.headers.push_back({"x-deployment-id", "rs-a"});
  Request dpl_named = navigation();
  dpl_named.target = "/todos/rsc.x-component?dpl=rs-old";
  const std::vector<Row> rows = {
      {"no pin", navigation(), "rs-b"},
      {"pinned to a retained build", navigation("rs-a"), "rs-b"},
      {"pinned to a retired build", navigation("rs-old"), "rs-b"},
      {"pinned to an unknown build", navigation("rs-zz"), "rs-b"},
      {"pinned to the preview", navigation("rs-p"), "rs-p"},
      {"x-deployment-id ignored", header_named, "rs-b"},
      {"dpl ignored", dpl_named, "rs-b"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    const Verdict v = run(*snapshot, row.request);
    CHECK(v.classification.kind == RequestKind::rsc);
    CHECK(v.classification.framework == RequestFramework::react_server);
    CHECK_FALSE(v.answer.has_value());
    CHECK(target_of(v) == row.target);
    CHECK(v.set_cookie.empty());  // flight is no page: never pinned
  }
}

TEST_CASE("framework: next treats react-server shapes as plain requests") {
  const auto snapshot = todo({.framework = Framework::next});
  // The call is `other`: it follows its pin, whatever its ID.
  Verdict v = run(*snapshot, call("f-old", "rs-a"));
  CHECK(v.classification.kind == RequestKind::other);
  CHECK(v.classification.framework == RequestFramework::none);
  CHECK(target_of(v) == "rs-a");
  v = run(*snapshot, call("gone"));
  CHECK(v.classification.kind == RequestKind::other);
  CHECK(target_of(v) == "rs-b");
  CHECK_FALSE(v.answer.has_value());
  // The navigation follows its pin too.
  v = run(*snapshot, navigation("rs-a"));
  CHECK(v.classification.kind == RequestKind::other);
  CHECK(target_of(v) == "rs-a");
  // ...and the reload module path is the app's own.
  Request module;
  module.method = "GET";
  module.target = "/__skewgate/reload.mjs";
  v = run(*snapshot, module);
  CHECK_FALSE(v.answer.has_value());
  CHECK(target_of(v) == "rs-b");
}

TEST_CASE("policy error: the flight error row with react-server-data") {
  const auto snapshot = todo({.policy = ActionPolicy::error});
  const Verdict v = run(*snapshot, call("gone", "rs-b"));
  REQUIRE(v.answer.has_value());
  CHECK(v.answer->status == 200);
  CHECK(v.answer->body == "0:[\"$@1\"]\n1:E{\"digest\":\"This page is out of date. Reload to continue.\"}\n");
}

TEST_CASE("the reload module: answered by skewgate for react-server and auto apps, any query, bounded labels") {
  for (const Framework framework : {Framework::react_server, Framework::auto_detect}) {
    CAPTURE(sg::conf::to_string(framework));
    const auto snapshot = todo({.framework = framework});
    for (const char* method : {"GET", "HEAD"}) {
      for (const char* target : {"/__skewgate/reload.mjs", "/__skewgate/reload.mjs?v=1"}) {
        Request r;
        r.method = method;
        r.target = target;
        r.pin = "rs-a";
        r.headers = {{"x-deployment-id", "rs-a"}, {"Sec-Fetch-Dest", "script"}};
        const Verdict v = run(*snapshot, r);
        REQUIRE(v.answer.has_value());
        CHECK(v.answer->status == 200);
        CHECK(v.target == nullptr);
        CHECK(v.outcome == Outcome::answered);
        CHECK(v.reason == sg::metrics::Reason::reload_module);
        CHECK(v.classification.kind == RequestKind::other);
        CHECK(v.set_cookie.empty());
      }
    }
    for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
      Request r;
      r.method = method;
      r.target = "/__skewgate/reload.mjs";
      const Verdict v = run(*snapshot, r);
      REQUIRE(v.answer.has_value());
      CHECK(v.answer->status == 405);
      CHECK(v.reason == sg::metrics::Reason::reload_module);
    }
    // Only the exact path.
    for (const char* target : {"/__skewgate/reload.mjsx", "/__skewgate/reload.mjs/", "/__SKEWGATE/reload.mjs",
                               "/x/__skewgate/reload.mjs", "/__skewgate%2Freload.mjs"}) {
      Request r;
      r.method = "GET";
      r.target = target;
      CAPTURE(target);
      CHECK_FALSE(run(*snapshot, r).answer.has_value());
    }
  }
}
