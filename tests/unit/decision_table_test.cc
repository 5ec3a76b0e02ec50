// The decision table of design.md section 5: every request kind x every
// client build state x both action policies, then the rows the table
// implies (action manifests, reroutes, action_not_found, canary, 503).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "reason_text.h"
#include "skew/decide.h"

using sg::conf::ActionPolicy;
using sg::conf::AppConfig;
using sg::conf::BuildConfig;
using sg::conf::BuildState;
using sg::conf::Config;
using sg::conf::SocketAddress;
using sg::routing::ClientBuildSource;
using sg::routing::HeaderField;
using sg::routing::RequestKind;
using sg::routing::RequestView;
using sg::routing::RuntimeState;
using sg::routing::Snapshot;
using sg::skew::ClientBuildState;
using sg::skew::decide;
using sg::skew::DecisionInput;
using sg::skew::Outcome;
using sg::skew::Verdict;

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

BuildConfig build(const char* id, int port, std::vector<std::string> action_ids,
                  std::optional<BuildState> state = std::nullopt) {
  BuildConfig b;
  b.id = id;
  b.upstreams = {SocketAddress::parse("127.0.0.1:" + std::to_string(port)).value()};
  if (!action_ids.empty()) b.manifest = std::string("/srv/") + id + "/server-reference-manifest.json";
  b.action_ids = std::move(action_ids);
  b.state = state;
  return b;
}

struct Options {
  ActionPolicy policy = ActionPolicy::reload;
  bool current_healthy = true;
  bool current_has_manifest = true;
  std::optional<sg::conf::CanaryConfig> canary;
  bool canary_healthy = true;
};

// Config order is oldest first. Every build has its own action plus, for some,
// an action they share (an action whose ID survived several deploys).
std::shared_ptr<const Snapshot> shop(const Options& options = {}) {
  AppConfig app;
  app.name = "shop";
  app.hosts = {"shop.example.com"};
  app.current = "dpl-b";
  app.skew.action_policy = options.policy;
  app.canary = options.canary;
  app.builds = {
      build("dpl-killed", 3000, {"act-killed", "act-shared"}, BuildState::retired),
      build("dpl-old", 3001, {"act-old", "act-shared"}),
      build("dpl-sick", 3002, {"act-sick"}),
      build("dpl-a", 3003, {"act-a", "act-shared"}),
      build("dpl-p", 3004, {"act-p"}, BuildState::preview),
      build("dpl-b", 3005, options.current_has_manifest ? std::vector<std::string>{"act-b"} : std::vector<std::string>{}),
  };
  Config config;
  config.apps = {app};
  RuntimeState runtime;
  runtime[sg::routing::runtime_key("shop", "dpl-old")] = {1'700'000'000'000, true, true};
  runtime[sg::routing::runtime_key("shop", "dpl-sick")] = {1'700'000'100'000, false, false};
  runtime[sg::routing::runtime_key("shop", "dpl-a")] = {1'700'000'200'000, false, true};
  runtime[sg::routing::runtime_key("shop", "dpl-b")] = {0, false, options.current_healthy};
  runtime[sg::routing::runtime_key("shop", "dpl-p")] = {0, false, options.canary_healthy};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors, 1, &runtime);
  REQUIRE(errors.empty());
  REQUIRE(snapshot);
  return snapshot;
}

// A request as the real clients send it (design.md section 2), naming
// `build` the way that kind names it (dpl for assets, the header otherwise)
// unless `build` is empty.
struct Request {
  std::string method;
  std::string target;
  std::vector<HeaderField> headers;
  std::string body;
};

Request request(RequestKind kind, const std::string& build, const std::string& action_id) {
  Request r;
  r.headers = {{"Host", "shop.example.com"}};
  const auto name = [&] {
    if (!build.empty()) r.headers.push_back({"x-deployment-id", build});
  };
  switch (kind) {
    case RequestKind::action:
      r.method = "POST";
      r.target = "/cart?step=2";
      r.headers.push_back({"Accept", "text/x-component"});
      r.headers.push_back({"Next-Action", action_id});
      r.headers.push_back({"Content-Type", "text/plain;charset=UTF-8"});
      name();
      break;
    case RequestKind::rsc:
      r.method = "GET";
      r.target = "/cart?_rsc=1ld7r";
      r.headers.push_back({"RSC", "1"});
      r.headers.push_back({"Next-Router-State-Tree", "%5B%22%22%5D"});
      name();
      break;
    case RequestKind::asset:
      r.method = "GET";
      r.target = "/_next/static/chunks/page-1.js" + (build.empty() ? std::string() : "?dpl=" + build);
      break;
    case RequestKind::document:
      r.method = "GET";
      r.target = "/cart?step=2";
      r.headers.push_back({"Accept", "text/html"});
      r.headers.push_back({"Sec-Fetch-Mode", "navigate"});
      name();  // never sent by browsers; ignored for documents
      break;
    case RequestKind::other:
      r.method = "POST";
      r.target = "/api/orders";
      r.headers.push_back({"Content-Type", "application/json"});
      name();
      break;
    case RequestKind::upgrade:
      r.method = "GET";
      r.target = "/ws";
      r.headers.push_back({"Connection", "Upgrade"});
      r.headers.push_back({"Upgrade", "websocket"});
      name();
      break;
  }
  return r;
}

Verdict run(const Snapshot& snapshot, const Request& r, std::string_view address = "203.0.113.7") {
  RequestView view{r.method, r.target, r.headers};
  const bool peek = sg::skew::body_peek_bytes(view, snapshot) > 0;
  DecisionInput input{view, peek ? std::string_view(r.body) : std::string_view{}, address, 0};
  return decide(input, snapshot);
}

std::string reload_header(const std::string& reason, const std::string& build) {
  return "required; reason=" + reason + "; build=" + build;
}

// The exact answer an action gets from a Next.js client under `policy`.
void check_action_answer(const Verdict& v, ActionPolicy policy, const std::string& reason, const std::string& build,
                         const std::string& where = "/cart?step=2") {
  REQUIRE(v.answer.has_value());
  if (policy == ActionPolicy::reload) {
    CHECK(v.answer->status == 200);
    CHECK(v.answer->headers == Headers{{"content-type", "text/plain"},
                                       {"cache-control", "no-store"},
                                       {"x-action-redirect", where},
                                       {"x-skewgate-reload", reload_header(reason, build)}});
    CHECK(v.answer->body.empty());
  } else {
    CHECK(v.answer->status == 409);
    CHECK(v.answer->headers == Headers{{"content-type", "text/plain"},
                                       {"cache-control", "no-store"},
                                       {"x-skewgate-reload", reload_header(reason, build)}});
    CHECK(v.answer->body == "This page is out of date. Reload to continue.");
  }
}

// One client build state of the table: the ID the request names and the
// action ID its page holds (each build's own, so no other build has it).
struct State {
  const char* name;
  const char* build;
  const char* action_id;
  ClientBuildState metric;
  const char* reason;  // "" when the build can serve
};

const State kCurrent{"current", "dpl-b", "act-b", ClientBuildState::current, ""};
const State kRetained{"retained healthy", "dpl-a", "act-a", ClientBuildState::retained, ""};
const State kUnhealthy{"retained unhealthy", "dpl-sick", "act-sick", ClientBuildState::retained, "build_unhealthy"};
const State kRetention{"retired by retention", "dpl-old", "act-old", ClientBuildState::retired, "build_retired"};
const State kKilled{"retired by kill switch", "dpl-killed", "act-killed", ClientBuildState::retired, "build_killed"};
const State kUnknown{"unknown", "dpl-zz", "act-zz", ClientBuildState::unknown, "build_unknown"};
const State kPreview{"preview named without a pin", "dpl-p", "act-p", ClientBuildState::preview, "build_unknown"};

// What a cell expects. `target` empty: answered (status/headers checked by kind).
struct Cell {
  RequestKind kind;
  const State* state;
  const char* target;
  Outcome outcome;
  const char* reason;
  ClientBuildState metric;
  bool no_store_on_404 = false;
};

}  // namespace

TEST_CASE("decision table: every kind x every client build state x both policies") {
  using K = RequestKind;
  using O = Outcome;
  using S = ClientBuildState;
  const std::vector<Cell> table = {
      // current: proxy everything.
      {K::action, &kCurrent, "dpl-b", O::served, "", S::current},
      {K::rsc, &kCurrent, "dpl-b", O::served, "", S::current},
      {K::asset, &kCurrent, "dpl-b", O::served, "", S::current},
      {K::document, &kCurrent, "dpl-b", O::served, "", S::current},
      {K::other, &kCurrent, "dpl-b", O::served, "", S::current},
      {K::upgrade, &kCurrent, "dpl-b", O::served, "", S::current},
      // retained, healthy: proxy to it; a document loads current (it ignores what it names).
      {K::action, &kRetained, "dpl-a", O::served, "", S::retained},
      {K::rsc, &kRetained, "dpl-a", O::served, "", S::retained},
      {K::asset, &kRetained, "dpl-a", O::served, "", S::retained},
      {K::document, &kRetained, "dpl-b", O::served, "", S::current},
      {K::other, &kRetained, "dpl-a", O::served, "", S::retained},
      {K::upgrade, &kRetained, "dpl-a", O::served, "", S::retained},
      // retained, unhealthy: treated as gone.
      {K::action, &kUnhealthy, "", O::answered, "build_unhealthy", S::retained},
      {K::rsc, &kUnhealthy, "", O::answered, "build_unhealthy", S::retained},
      {K::asset, &kUnhealthy, "dpl-b", O::rerouted, "build_unhealthy", S::retained, true},
      {K::document, &kUnhealthy, "dpl-b", O::served, "", S::current},
      {K::other, &kUnhealthy, "dpl-b", O::rerouted, "build_unhealthy", S::retained},
      {K::upgrade, &kUnhealthy, "dpl-b", O::rerouted, "build_unhealthy", S::retained},
      // retired by retention.
      {K::action, &kRetention, "", O::answered, "build_retired", S::retired},
      {K::rsc, &kRetention, "", O::answered, "build_retired", S::retired},
      {K::asset, &kRetention, "dpl-b", O::rerouted, "build_retired", S::retired, true},
      {K::document, &kRetention, "dpl-b", O::served, "", S::current},
      {K::other, &kRetention, "dpl-b", O::rerouted, "build_retired", S::retired},
      {K::upgrade, &kRetention, "dpl-b", O::rerouted, "build_retired", S::retired},
      // retired by the kill switch.
      {K::action, &kKilled, "", O::answered, "build_killed", S::retired},
      {K::rsc, &kKilled, "", O::answered, "build_killed", S::retired},
      {K::asset, &kKilled, "dpl-b", O::rerouted, "build_killed", S::retired, true},
      {K::document, &kKilled, "dpl-b", O::served, "", S::current},
      {K::other, &kKilled, "dpl-b", O::rerouted, "build_killed", S::retired},
      {K::upgrade, &kKilled, "dpl-b", O::rerouted, "build_killed", S::retired},
      // unknown deployment ID.
      {K::action, &kUnknown, "", O::answered, "build_unknown", S::unknown},
      {K::rsc, &kUnknown, "", O::answered, "build_unknown", S::unknown},
      {K::asset, &kUnknown, "dpl-b", O::rerouted, "build_unknown", S::unknown, true},
      {K::document, &kUnknown, "dpl-b", O::served, "", S::current},
      {K::other, &kUnknown, "dpl-b", O::rerouted, "build_unknown", S::unknown},
      {K::upgrade, &kUnknown, "dpl-b", O::rerouted, "build_unknown", S::unknown},
      // a preview build named by header or dpl (no pin): unknown to the client.
      {K::action, &kPreview, "", O::answered, "build_unknown", S::preview},
      {K::rsc, &kPreview, "", O::answered, "build_unknown", S::preview},
      {K::asset, &kPreview, "dpl-b", O::rerouted, "build_unknown", S::preview, true},
      {K::document, &kPreview, "dpl-b", O::served, "", S::current},
      {K::other, &kPreview, "dpl-b", O::rerouted, "build_unknown", S::preview},
      {K::upgrade, &kPreview, "dpl-b", O::rerouted, "build_unknown", S::preview},
  };
  REQUIRE(table.size() == 6 * 7);

  for (const ActionPolicy policy : {ActionPolicy::reload, ActionPolicy::error}) {
    Options options;
    options.policy = policy;
    const auto snapshot = shop(options);
    for (const Cell& cell : table) {
      const std::string cell_name = std::string(policy == ActionPolicy::reload ? "reload" : "error") + " / " +
                                    to_string(cell.kind) + " / " + cell.state->name;
      CAPTURE(cell_name);
      const Verdict v = run(*snapshot, request(cell.kind, cell.state->build, cell.state->action_id));
      REQUIRE(v.app != nullptr);
      CHECK(v.classification.kind == cell.kind);
      CHECK(v.outcome == cell.outcome);
      CHECK(reason_text(v.reason) == cell.reason);
      CHECK(v.client_build_state == cell.metric);
      CHECK(v.no_store_on_404 == cell.no_store_on_404);
      if (cell.kind == K::document) {
        CHECK(v.client_build.source == ClientBuildSource::current);
      } else {
        CHECK(v.client_build.id == cell.state->build);
        CHECK(v.client_build.source ==
              (cell.kind == K::asset ? ClientBuildSource::query : ClientBuildSource::header));
      }
      if (*cell.target != '\0') {
        CHECK_FALSE(v.answer.has_value());
        REQUIRE(v.target != nullptr);
        CHECK(v.target->id == cell.target);
        continue;
      }
      CHECK(v.target == nullptr);
      REQUIRE(v.answer.has_value());
      if (cell.kind == K::action) {
        check_action_answer(v, policy, cell.reason, cell.state->build);
      } else {
        REQUIRE(cell.kind == K::rsc);
        CHECK(v.answer->status == 409);
        CHECK(v.answer->headers == Headers{{"content-type", "text/plain"},
                                           {"cache-control", "no-store"},
                                           {"x-skewgate-reload", reload_header(cell.reason, cell.state->build)}});
        CHECK(v.answer->body == "reload required");
      }
    }
  }
}

TEST_CASE("decision table: actions are rerouted to the newest kept build that has the ID") {
  const auto snapshot = shop();
  struct Row {
    const char* name;
    const char* header;  // "" = none
    const char* action_id;
    const char* target;
    Outcome outcome;
    const char* reason;
    ClientBuildSource source;
    const char* client_id;
    ClientBuildState metric;
  };
  const std::vector<Row> rows = {
      {"retired build, shared ID", "dpl-old", "act-shared", "dpl-a", Outcome::rerouted, "build_retired",
       ClientBuildSource::header, "dpl-old", ClientBuildState::retired},
      {"killed build, ID still in current", "dpl-killed", "act-b", "dpl-b", Outcome::rerouted, "build_killed",
       ClientBuildSource::header, "dpl-killed", ClientBuildState::retired},
      {"unknown build, shared ID", "dpl-zz", "act-shared", "dpl-a", Outcome::rerouted, "build_unknown",
       ClientBuildSource::header, "dpl-zz", ClientBuildState::unknown},
      {"unhealthy build, ID in a healthy one", "dpl-sick", "act-a", "dpl-a", Outcome::rerouted, "build_unhealthy",
       ClientBuildSource::header, "dpl-sick", ClientBuildState::retained},
      {"preview ID never reroutes to preview", "dpl-zz", "act-p", "", Outcome::answered, "build_unknown",
       ClientBuildSource::header, "dpl-zz", ClientBuildState::unknown},
      // No header: the manifests say which build the page came from.
      {"no header, ID in current", "", "act-b", "dpl-b", Outcome::served, "", ClientBuildSource::action_manifest,
       "dpl-b", ClientBuildState::current},
      {"no header, ID in a retained build", "", "act-a", "dpl-a", Outcome::served, "",
       ClientBuildSource::action_manifest, "dpl-a", ClientBuildState::retained},
      {"no header, shared ID: newest holder", "", "act-shared", "dpl-a", Outcome::served, "",
       ClientBuildSource::action_manifest, "dpl-a", ClientBuildState::retained},
      {"no header, ID only in a retired build", "", "act-old", "", Outcome::answered, "build_retired",
       ClientBuildSource::action_manifest, "dpl-old", ClientBuildState::retired},
      {"no header, ID only in a killed build", "", "act-killed", "", Outcome::answered, "build_killed",
       ClientBuildSource::action_manifest, "dpl-killed", ClientBuildState::retired},
      {"no header, ID only in an unhealthy build", "", "act-sick", "", Outcome::answered, "build_unhealthy",
       ClientBuildSource::action_manifest, "dpl-sick", ClientBuildState::retained},
      {"no header, ID only in a preview build", "", "act-p", "", Outcome::answered, "build_unknown",
       ClientBuildSource::action_manifest, "dpl-p", ClientBuildState::preview},
      {"no header, ID in no manifest: certainly stale", "", "act-gone", "", Outcome::answered, "action_not_found",
       ClientBuildSource::current, "", ClientBuildState::unknown},
  };
  for (const Row& row : rows) {
    const std::string row_name = row.name;
    CAPTURE(row_name);
    const Verdict v = run(*snapshot, request(RequestKind::action, row.header, row.action_id));
    CHECK(v.outcome == row.outcome);
    CHECK(reason_text(v.reason) == row.reason);
    CHECK(v.client_build.source == row.source);
    CHECK(v.client_build.id == row.client_id);
    CHECK(v.client_build_state == row.metric);
    if (*row.target != '\0') {
      REQUIRE(v.target != nullptr);
      CHECK(v.target->id == row.target);
      CHECK_FALSE(v.answer.has_value());
    } else {
      CHECK(v.target == nullptr);
      const std::string named = *row.client_id != '\0' ? row.client_id : "unknown";
      check_action_answer(v, ActionPolicy::reload, row.reason, named);
    }
  }
}

// Issue 14 item 1: evidence beats hints. A kept build named by header, dpl
// or __vdpl whose manifest lacks the action's ID is ignored; the newest kept,
// healthy build whose manifest has it serves the action, else the reload
// answer action_not_found.
namespace {

struct Overrule {
  const char* name;
  Request request;
  const char* target;  // "" = the reload answer action_not_found
  Outcome outcome;
  const char* reason;
  ClientBuildSource source;
  const char* client_id;
  std::optional<ClientBuildSource> overruled;
  ClientBuildState metric;
};

Request action_named(const char* action_id, std::vector<HeaderField> names, const char* target = "/cart?step=2") {
  Request r = request(RequestKind::action, "", action_id);
  r.target = target;
  for (HeaderField& h : names) r.headers.push_back(std::move(h));
  return r;
}

void check_overrules(const Snapshot& snapshot, const std::vector<Overrule>& rows,
                     const sg::skew::PinKeyring* keyring = nullptr) {
  for (const Overrule& row : rows) {
    const std::string row_name = row.name;
    CAPTURE(row_name);
    RequestView view{row.request.method, row.request.target, row.request.headers};
    const bool peek = sg::skew::body_peek_bytes(view, snapshot) > 0;
    DecisionInput input{view, peek ? std::string_view(row.request.body) : std::string_view{}, "203.0.113.7",
                        1'800'000'000'000};
    input.keyring = keyring;
    const Verdict v = decide(input, snapshot);
    CHECK(v.classification.kind == RequestKind::action);
    CHECK(v.outcome == row.outcome);
    CHECK(reason_text(v.reason) == row.reason);
    CHECK(v.client_build.source == row.source);
    CHECK(v.client_build.id == row.client_id);
    CHECK(v.client_build.overruled == row.overruled);
    CHECK(v.client_build_state == row.metric);
    CHECK(v.set_cookie.empty());
    if (*row.target != '\0') {
      CHECK_FALSE(v.answer.has_value());
      REQUIRE(v.target != nullptr);
      CHECK(v.target->id == row.target);
    } else {
      CHECK(v.target == nullptr);
      check_action_answer(v, ActionPolicy::reload, "action_not_found", "unknown", row.request.target);
    }
  }
}

}  // namespace

TEST_CASE("decision table: the action ID overrules a named kept build whose manifest lacks it") {
  const auto snapshot = shop();
  using O = Outcome;
  using Src = ClientBuildSource;
  using S = ClientBuildState;
  const HeaderField header_b{"x-deployment-id", "dpl-b"};
  const HeaderField header_a{"x-deployment-id", "dpl-a"};
  const auto vdpl = [](const char* id) { return HeaderField{"Cookie", std::string("theme=dark; __vdpl=") + id}; };
  Request form;
  form.method = "POST";
  form.target = "/cart?step=2";
  form.headers = {{"Host", "shop.example.com"},
                  {"Content-Type", "application/x-www-form-urlencoded"},
                  {"Origin", "http://shop.example.com"},
                  vdpl("dpl-b")};
  form.body = "%24ACTION_ID_act-a=&qty=2";
  const std::vector<Overrule> rows = {
      {"header current, ID only a retained build has", action_named("act-a", {header_b}), "dpl-a", O::rerouted,
       "action_not_in_build", Src::action_manifest, "dpl-a", Src::header, S::retained},
      {"dpl current, ID only a retained build has", action_named("act-a", {}, "/cart?dpl=dpl-b"), "dpl-a",
       O::rerouted, "action_not_in_build", Src::action_manifest, "dpl-a", Src::query, S::retained},
      {"header retained, ID only current has", action_named("act-b", {header_a}), "dpl-b", O::rerouted,
       "action_not_in_build", Src::action_manifest, "dpl-b", Src::header, S::current},
      {"header current, shared ID: the newest kept holder (retired holders skipped)",
       action_named("act-shared", {header_b}), "dpl-a", O::rerouted, "action_not_in_build", Src::action_manifest,
       "dpl-a", Src::header, S::retained},
      {"__vdpl retained, ID only current has", action_named("act-b", {vdpl("dpl-a")}), "dpl-b", O::served, "",
       Src::action_manifest, "dpl-b", Src::vdpl_cookie, S::current},
      {"__vdpl current, ID only a retained build has", action_named("act-a", {vdpl("dpl-b")}), "dpl-a", O::served,
       "", Src::action_manifest, "dpl-a", Src::vdpl_cookie, S::retained},
      {"no-JS form post, __vdpl current, ID only a retained build has", form, "dpl-a", O::served, "",
       Src::action_manifest, "dpl-a", Src::vdpl_cookie, S::retained},
      {"header current, ID only a retired build has", action_named("act-old", {header_b}), "", O::answered,
       "action_not_found", Src::current, "", Src::header, S::unknown},
      {"header current, ID only a killed build has", action_named("act-killed", {header_b}), "", O::answered,
       "action_not_found", Src::current, "", Src::header, S::unknown},
      {"header current, ID only an unhealthy build has", action_named("act-sick", {header_b}), "", O::answered,
       "action_not_found", Src::current, "", Src::header, S::unknown},
      {"header current, ID only a preview build has", action_named("act-p", {header_b}), "", O::answered,
       "action_not_found", Src::current, "", Src::header, S::unknown},
      {"header current, ID in no manifest", action_named("act-gone", {header_b}), "", O::answered,
       "action_not_found", Src::current, "", Src::header, S::unknown},
      {"__vdpl current, ID in no manifest", action_named("act-gone", {vdpl("dpl-b")}), "", O::answered,
       "action_not_found", Src::current, "", Src::vdpl_cookie, S::unknown},
      // The name holds when its manifest has the ID.
      {"header retained, shared ID it has", action_named("act-shared", {header_a}), "dpl-a", O::served, "",
       Src::header, "dpl-a", std::nullopt, S::retained},
      {"__vdpl retained, shared ID it has (above the manifest search)", action_named("act-shared", {vdpl("dpl-a")}),
       "dpl-a", O::served, "", Src::vdpl_cookie, "dpl-a", std::nullopt, S::retained},
      // A name that cannot serve keeps its own reason (the same holder serves).
      {"header killed, ID only current has", action_named("act-b", {{"x-deployment-id", "dpl-killed"}}), "dpl-b",
       O::rerouted, "build_killed", Src::header, "dpl-killed", std::nullopt, S::retired},
      {"header unhealthy, ID only a retained build has", action_named("act-a", {{"x-deployment-id", "dpl-sick"}}),
       "dpl-a", O::rerouted, "build_unhealthy", Src::header, "dpl-sick", std::nullopt, S::retained},
      {"header retired, ID in no manifest", action_named("act-gone", {{"x-deployment-id", "dpl-old"}}), "",
       O::answered, "build_retired", Src::header, "dpl-old", std::nullopt, S::retired},
      // A preview build named by header is unknown to the client, manifest or not:
      // its answer must not differ from that of an ID that names nothing.
      {"header preview, ID not in its manifest", action_named("act-gone", {{"x-deployment-id", "dpl-p"}}), "",
       O::answered, "build_unknown", Src::header, "dpl-p", std::nullopt, S::preview},
  };
  // Rows answered with their own reason are checked by reason, not as action_not_found.
  std::vector<Overrule> overruled;
  for (const Overrule& row : rows) {
    if (*row.target != '\0' || std::string(row.reason) == "action_not_found") {
      overruled.push_back(row);
      continue;
    }
    const std::string row_name = row.name;
    CAPTURE(row_name);
    const Verdict v = run(*snapshot, row.request);
    CHECK(v.outcome == row.outcome);
    CHECK(reason_text(v.reason) == row.reason);
    CHECK(v.client_build.source == row.source);
    CHECK(v.client_build.id == row.client_id);
    CHECK_FALSE(v.client_build.overruled.has_value());
    CHECK(v.client_build_state == row.metric);
    check_action_answer(v, ActionPolicy::reload, row.reason, row.client_id);
  }
  check_overrules(*snapshot, overruled);

  SUBCASE("a named build without a manifest answers for itself") {
    Options options;
    options.current_has_manifest = false;
    const auto bare = shop(options);
    const std::vector<Overrule> bare_rows = {
        {"header current without a manifest", action_named("act-a", {header_b}), "dpl-b", O::served, "",
         Src::header, "dpl-b", std::nullopt, S::current},
        {"__vdpl current without a manifest", action_named("act-a", {vdpl("dpl-b")}), "dpl-b", O::served, "",
         Src::vdpl_cookie, "dpl-b", std::nullopt, S::current},
        {"header retained, ID no manifest has: current (without a manifest) answers for itself",
         action_named("act-x", {header_a}), "dpl-b", O::rerouted, "action_not_in_build", Src::current, "",
         Src::header, S::current},
        {"__vdpl unhealthy: ignored, the manifest search finds the holder", action_named("act-shared",
         {vdpl("dpl-sick")}), "dpl-a", O::served, "", Src::action_manifest, "dpl-a", std::nullopt, S::retained},
    };
    check_overrules(*bare, bare_rows);
  }
}

TEST_CASE("decision table: the action ID overrules the pin (one cookie, many tabs)") {
  const sg::skew::PinKeyring keyring({"0123456789abcdef0123456789abcdef-decision-table"});
  const std::int64_t now_s = 1'800'000'000;
  const auto pin = [&](const char* build) {
    const std::string value = keyring.seal(sg::skew::Pin{"shop", build, now_s - 60, now_s + 3600,
                                                         sg::skew::Pin::Kind::pin});
    return HeaderField{"Cookie", "skewgate_pin=" + value};
  };
  using O = Outcome;
  using Src = ClientBuildSource;
  using S = ClientBuildState;
  const std::vector<Overrule> rows = {
      {"pin current, ID only a retained build has (the issue's story)", action_named("act-a", {pin("dpl-b")}),
       "dpl-a", O::served, "", Src::action_manifest, "dpl-a", Src::pin, S::retained},
      {"pin retained, ID only current has", action_named("act-b", {pin("dpl-a")}), "dpl-b", O::served, "",
       Src::action_manifest, "dpl-b", Src::pin, S::current},
      {"pin current, ID in no manifest", action_named("act-gone", {pin("dpl-b")}), "", O::answered,
       "action_not_found", Src::current, "", Src::pin, S::unknown},
      {"pin current, ID only a retired build has", action_named("act-old", {pin("dpl-b")}), "", O::answered,
       "action_not_found", Src::current, "", Src::pin, S::unknown},
      {"pin preview, ID only current has", action_named("act-b", {pin("dpl-p")}), "dpl-b", O::served, "",
       Src::action_manifest, "dpl-b", Src::pin, S::current},
      {"pin preview, its own ID", action_named("act-p", {pin("dpl-p")}), "dpl-p", O::served, "", Src::pin, "dpl-p",
       std::nullopt, S::preview},
      {"pin retained, shared ID it has", action_named("act-shared", {pin("dpl-a")}), "dpl-a", O::served, "",
       Src::pin, "dpl-a", std::nullopt, S::retained},
      {"pin retired by retention, shared ID: its own reason, the kept holder", action_named("act-shared",
       {pin("dpl-old")}), "dpl-a", O::rerouted, "build_retired", Src::pin, "dpl-old", std::nullopt, S::retired},
      {"header beats the pin, and is overruled itself", action_named("act-a", {pin("dpl-a"), {"x-deployment-id",
       "dpl-b"}}), "dpl-a", O::rerouted, "action_not_in_build", Src::action_manifest, "dpl-a", Src::header,
       S::retained},
      {"pin beats __vdpl", action_named("act-shared", {pin("dpl-a"), {"Cookie", "__vdpl=dpl-b"}}), "dpl-a",
       O::served, "", Src::pin, "dpl-a", std::nullopt, S::retained},
  };
  check_overrules(*shop(), rows, &keyring);
}

// Issue 14 item 7: the `__vdpl` cookie, below header, dpl and pin, names kept
// builds only; documents ignore it.
TEST_CASE("decision table: the __vdpl cookie is a hint to kept builds") {
  const auto snapshot = shop();
  struct Row {
    const char* name;
    RequestKind kind;
    const char* vdpl;
    const char* header;  // x-deployment-id (dpl for assets); "" = none
    const char* target;
    ClientBuildSource source;
  };
  using K = RequestKind;
  using Src = ClientBuildSource;
  const std::vector<Row> rows = {
      {"other, retained", K::other, "dpl-a", "", "dpl-a", Src::vdpl_cookie},
      {"other, current", K::other, "dpl-b", "", "dpl-b", Src::vdpl_cookie},
      {"rsc, retained", K::rsc, "dpl-a", "", "dpl-a", Src::vdpl_cookie},
      {"asset without dpl, retained", K::asset, "dpl-a", "", "dpl-a", Src::vdpl_cookie},
      {"upgrade, retained", K::upgrade, "dpl-a", "", "dpl-a", Src::vdpl_cookie},
      {"action, retained, its own ID", K::action, "dpl-a", "", "dpl-a", Src::vdpl_cookie},
      {"other, unhealthy retained: ignored", K::other, "dpl-sick", "", "dpl-b", Src::current},
      {"other, retired by retention: ignored", K::other, "dpl-old", "", "dpl-b", Src::current},
      {"other, killed: ignored", K::other, "dpl-killed", "", "dpl-b", Src::current},
      {"other, preview: ignored", K::other, "dpl-p", "", "dpl-b", Src::current},
      {"other, unknown: ignored", K::other, "dpl-zz", "", "dpl-b", Src::current},
      {"other, empty: ignored", K::other, "", "", "dpl-b", Src::current},
      {"rsc, preview: ignored", K::rsc, "dpl-p", "", "dpl-b", Src::current},
      {"asset, killed: ignored", K::asset, "dpl-killed", "", "dpl-b", Src::current},
      {"document ignores it", K::document, "dpl-a", "", "dpl-b", Src::current},
      {"header beats it", K::other, "dpl-a", "dpl-b", "dpl-b", Src::header},
      {"dpl beats it", K::asset, "dpl-a", "dpl-b", "dpl-b", Src::query},
      {"an unknown header still beats it", K::other, "dpl-a", "dpl-zz", "dpl-b", Src::header},
  };
  for (const Row& row : rows) {
    const std::string row_name = row.name;
    CAPTURE(row_name);
    const char* action_id = std::string(row.vdpl) == "dpl-a" ? "act-a" : "act-b";
    Request r = request(row.kind, row.header, action_id);
    r.headers.push_back({"Cookie", std::string("a=1; __vdpl=") + row.vdpl + "; b=2"});
    const Verdict v = run(*snapshot, r);
    CHECK(v.classification.kind == row.kind);
    CHECK(v.client_build.source == row.source);
    CHECK_FALSE(v.client_build.overruled.has_value());
    REQUIRE(v.target != nullptr);
    CHECK(v.target->id == row.target);
    CHECK_FALSE(v.answer.has_value());
  }
  // `__vdpl` (and only it, by exact name) is read from any Cookie header.
  Request second = request(RequestKind::other, "", "");
  second.headers.push_back({"Cookie", "a=1"});
  second.headers.push_back({"Cookie", "__vdpl=dpl-a"});
  CHECK(run(*snapshot, second).target->id == "dpl-a");
  Request other_name = request(RequestKind::other, "", "");
  other_name.headers.push_back({"Cookie", "vdpl=dpl-a; __VDPL=dpl-a; x__vdpl=dpl-a"});
  CHECK(run(*snapshot, other_name).target->id == "dpl-b");
}

// Issue 14 item 2: GETs that are no navigation (script, favicons, preflights)
// are `other`: routed by header, dpl or pin like a POST.
TEST_CASE("decision table: a GET that is no navigation follows the build it names") {
  const auto snapshot = shop();
  struct Row {
    const char* name;
    const char* method;
    const char* target;
    std::vector<HeaderField> headers;
    RequestKind kind;
    const char* served;
    Outcome outcome;
    const char* reason;
  };
  const HeaderField fetch_mode{"Sec-Fetch-Mode", "cors"};
  const std::vector<Row> rows = {
      {"fetch, header retained", "GET", "/api/x", {fetch_mode, {"x-deployment-id", "dpl-a"}}, RequestKind::other,
       "dpl-a", Outcome::served, ""},
      {"bare GET, header retained", "GET", "/api/x", {{"x-deployment-id", "dpl-a"}}, RequestKind::other, "dpl-a",
       Outcome::served, ""},
      {"Accept text/html, header retained (script)", "GET", "/api/x",
       {{"Accept", "text/html"}, {"x-deployment-id", "dpl-a"}}, RequestKind::other, "dpl-a", Outcome::served, ""},
      {"HEAD, header retained", "HEAD", "/api/x", {{"x-deployment-id", "dpl-a"}}, RequestKind::other, "dpl-a",
       Outcome::served, ""},
      {"OPTIONS, dpl retained", "OPTIONS", "/api/x?dpl=dpl-a", {}, RequestKind::other, "dpl-a", Outcome::served, ""},
      {"fetch, header retired", "GET", "/api/x", {fetch_mode, {"x-deployment-id", "dpl-old"}}, RequestKind::other,
       "dpl-b", Outcome::rerouted, "build_retired"},
      {"fetch, header unknown", "GET", "/api/x", {fetch_mode, {"x-deployment-id", "dpl-zz"}}, RequestKind::other,
       "dpl-b", Outcome::rerouted, "build_unknown"},
      {"favicon", "GET", "/favicon.ico", {{"Sec-Fetch-Dest", "image"}}, RequestKind::other, "dpl-b",
       Outcome::served, ""},
      {"navigation naming a retained build: current", "GET", "/p",
       {{"Sec-Fetch-Mode", "navigate"}, {"x-deployment-id", "dpl-a"}}, RequestKind::document, "dpl-b",
       Outcome::served, ""},
      {"old browser navigation with dpl: current", "GET", "/p?dpl=dpl-a", {{"Accept", "text/html"}},
       RequestKind::document, "dpl-b", Outcome::served, ""},
  };
  for (const Row& row : rows) {
    const std::string row_name = row.name;
    CAPTURE(row_name);
    Request r;
    r.method = row.method;
    r.target = row.target;
    r.headers = {{"Host", "shop.example.com"}};
    r.headers.insert(r.headers.end(), row.headers.begin(), row.headers.end());
    const Verdict v = run(*snapshot, r);
    CHECK(v.classification.kind == row.kind);
    REQUIRE(v.target != nullptr);
    CHECK(v.target->id == row.served);
    CHECK(v.outcome == row.outcome);
    CHECK(reason_text(v.reason) == row.reason);
  }
}

TEST_CASE("decision table: an unknown action ID goes to current when current has no manifest") {
  Options options;
  options.current_has_manifest = false;
  const auto snapshot = shop(options);
  const Verdict v = run(*snapshot, request(RequestKind::action, "", "act-gone"));
  REQUIRE(v.target != nullptr);
  CHECK(v.target->id == "dpl-b");
  CHECK(v.outcome == Outcome::served);
  CHECK(v.client_build.source == ClientBuildSource::current);
  // An empty action ID can never be looked up either.
  const auto with_manifest = shop();
  const Verdict empty = run(*with_manifest, request(RequestKind::action, "", ""));
  REQUIRE(empty.target != nullptr);
  CHECK(empty.target->id == "dpl-b");
}

TEST_CASE("decision table: answers by client (form post, react-server, JSON)") {
  const auto snapshot = shop();
  // A no-JS form post from a retired build's page: 303 to the same URL.
  Request form;
  form.method = "POST";
  form.target = "/cart?step=2";
  form.headers = {{"Host", "shop.example.com"},
                  {"Content-Type", "multipart/form-data; boundary=----WebKitFormBoundaryQ"},
                  {"Origin", "http://shop.example.com"}};
  form.body = "------WebKitFormBoundaryQ\r\nContent-Disposition: form-data; name=\"$ACTION_ID_act-old\"\r\n\r\n\r\n"
              "------WebKitFormBoundaryQ--\r\n";
  Verdict v = run(*snapshot, form);
  CHECK(v.classification.action_client == sg::routing::ActionClient::form_post);
  CHECK(v.outcome == Outcome::answered);
  CHECK(v.reason == sg::metrics::Reason::build_retired);
  REQUIRE(v.answer.has_value());
  CHECK(v.answer->status == 303);
  CHECK(v.answer->headers == Headers{{"cache-control", "no-store"},
                                     {"location", "/cart?step=2"},
                                     {"x-skewgate-reload", reload_header("build_retired", "dpl-old")}});
  // The same post naming a current action is proxied.
  form.body = "------WebKitFormBoundaryQ\r\nContent-Disposition: form-data; name=\"$ACTION_ID_act-b\"\r\n\r\n\r\n";
  v = run(*snapshot, form);
  REQUIRE(v.target != nullptr);
  CHECK(v.target->id == "dpl-b");
  CHECK(v.classification.kind == RequestKind::action);

  // @lazarv/react-server with a function ID in no build's set: these sets
  // are Next.js manifests, which say nothing about react-server IDs (issue
  // 15), so current answers for itself (answer-side detection decides). With
  // chunk IDs it gets the flight reload answer: react_server_decide_test.cc.
  Request rs;
  rs.method = "POST";
  rs.target = "/todos/rsc.x-component";
  rs.headers = {{"Host", "shop.example.com"}, {"React-Server-Action", "src%2Factions.mjs%23gone"}};
  v = run(*snapshot, rs);
  CHECK(v.outcome == Outcome::served);
  REQUIRE(v.target != nullptr);
  CHECK(v.target->id == "dpl-b");
  // A retired build named by header: the flight reload answer, never JSON.
  rs.headers.push_back({"x-deployment-id", "dpl-old"});
  v = run(*snapshot, rs);
  CHECK(v.outcome == Outcome::answered);
  CHECK(v.reason == sg::metrics::Reason::build_retired);
  REQUIRE(v.answer.has_value());
  CHECK(v.answer->status == 200);
  CHECK(v.answer->body == "1:I[\"/__skewgate/reload.mjs\",[],\"default\",1]\n0:[\"$L1\"]\n");
  // Its navigation POST (no header) always goes to current.
  rs.headers = {{"Host", "shop.example.com"}, {"Content-Type", "application/json"}};
  rs.body = "{}";
  v = run(*snapshot, rs);
  REQUIRE(v.target != nullptr);
  CHECK(v.target->id == "dpl-b");
  CHECK(v.outcome == Outcome::served);

  // A Next.js action that asks for JSON gets the JSON answer.
  Request json = request(RequestKind::action, "dpl-old", "act-old");
  json.headers.push_back({"Accept-Ignored", "x"});
  json.headers[1] = {"Accept", "application/json"};
  v = run(*snapshot, json);
  REQUIRE(v.answer.has_value());
  CHECK(v.answer->status == 409);
  CHECK(nlohmann::json::parse(v.answer->body)["reason"] == "build_retired");
}

TEST_CASE("decision table: an unhealthy current build answers 503, never a hang") {
  Options options;
  options.current_healthy = false;
  const auto snapshot = shop(options);
  const std::vector<std::pair<RequestKind, const char*>> requests = {
      {RequestKind::document, ""},        {RequestKind::action, ""},       {RequestKind::rsc, "dpl-b"},
      {RequestKind::asset, "dpl-old"},    {RequestKind::other, "dpl-zz"},  {RequestKind::upgrade, "dpl-killed"},
  };
  for (const auto& [kind, named] : requests) {
    const std::string kind_name = to_string(kind);
    CAPTURE(kind_name);
    const Verdict v = run(*snapshot, request(kind, named, "act-b"));
    CHECK(v.target == nullptr);
    CHECK(v.outcome == Outcome::error);
    CHECK(v.reason == sg::metrics::Reason::build_unhealthy);
    CHECK_FALSE(v.no_store_on_404);
    REQUIRE(v.answer.has_value());
    CHECK(v.answer->status == 503);
    CHECK(v.answer->headers == Headers{{"content-type", "application/json"}, {"cache-control", "no-store"}});
    CHECK(nlohmann::json::parse(v.answer->body) == nlohmann::json{{"error", "upstream_unavailable"},
                                                                  {"app", "shop"},
                                                                  {"build", "dpl-b"},
                                                                  {"reason", "build_unhealthy"}});
  }
  // Kept, healthy retained builds still serve their clients.
  const Verdict retained = run(*snapshot, request(RequestKind::rsc, "dpl-a", ""));
  REQUIRE(retained.target != nullptr);
  CHECK(retained.target->id == "dpl-a");
  // A stale action whose ID a healthy retained build holds is rerouted there, not 503.
  const Verdict shared = run(*snapshot, request(RequestKind::action, "dpl-old", "act-shared"));
  REQUIRE(shared.target != nullptr);
  CHECK(shared.target->id == "dpl-a");
}

TEST_CASE("decision table: canary cohorts apply to requests that name no build") {
  Options options;
  options.canary = sg::conf::CanaryConfig{"dpl-p", 100};
  auto snapshot = shop(options);
  for (const RequestKind kind : {RequestKind::document, RequestKind::other, RequestKind::asset}) {
    const std::string kind_name = to_string(kind);
    CAPTURE(kind_name);
    const Verdict v = run(*snapshot, request(kind, "", ""));
    REQUIRE(v.target != nullptr);
    CHECK(v.target->id == "dpl-p");
    CHECK(v.outcome == Outcome::served);
    CHECK(v.client_build_state == ClientBuildState::current);
    CHECK(v.client_build.source == ClientBuildSource::current);
  }
  // A request that names its build keeps it.
  Verdict named = run(*snapshot, request(RequestKind::rsc, "dpl-b", ""));
  REQUIRE(named.target != nullptr);
  CHECK(named.target->id == "dpl-b");
  // An action found in a manifest goes to its build.
  named = run(*snapshot, request(RequestKind::action, "", "act-b"));
  REQUIRE(named.target != nullptr);
  CHECK(named.target->id == "dpl-b");

  options.canary = sg::conf::CanaryConfig{"dpl-p", 0};
  snapshot = shop(options);
  Verdict v = run(*snapshot, request(RequestKind::document, "", ""));
  REQUIRE(v.target != nullptr);
  CHECK(v.target->id == "dpl-b");

  // An unhealthy canary sends its cohort to current.
  options.canary = sg::conf::CanaryConfig{"dpl-p", 100};
  options.canary_healthy = false;
  snapshot = shop(options);
  v = run(*snapshot, request(RequestKind::document, "", ""));
  REQUIRE(v.target != nullptr);
  CHECK(v.target->id == "dpl-b");

  // 50%: the same visitor always lands on the same side; both sides are used.
  options.canary = sg::conf::CanaryConfig{"dpl-a", 50};
  options.canary_healthy = true;
  snapshot = shop(options);
  int on_canary = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string address = "198.51.100." + std::to_string(i);
    const Verdict first = run(*snapshot, request(RequestKind::document, "", ""), address);
    const Verdict again = run(*snapshot, request(RequestKind::document, "", ""), address);
    REQUIRE(first.target != nullptr);
    REQUIRE(again.target != nullptr);
    CHECK(first.target == again.target);
    if (first.target->id == "dpl-a") ++on_canary;
  }
  CHECK(on_canary > 50);
  CHECK(on_canary < 150);
}

TEST_CASE("decision table: reload targets keep the path and query, never the scheme and authority") {
  const auto snapshot = shop();
  Request r = request(RequestKind::action, "dpl-old", "act-old");
  r.target = "http://shop.example.com/cart/x?y=1#frag";
  check_action_answer(run(*snapshot, r), ActionPolicy::reload, "build_retired", "dpl-old", "/cart/x?y=1");
  r.target = "/";
  check_action_answer(run(*snapshot, r), ActionPolicy::reload, "build_retired", "dpl-old", "/");
}

TEST_CASE("body_peek_bytes through the snapshot") {
  const auto snapshot = shop();
  std::vector<HeaderField> form = {{"Host", "shop.example.com"}, {"Content-Type", "application/x-www-form-urlencoded"}};
  CHECK(sg::skew::body_peek_bytes(RequestView{"POST", "/", form}, *snapshot) == 64 * 1024);
  CHECK(sg::skew::body_peek_bytes(RequestView{"GET", "/", form}, *snapshot) == 0);
  Config empty;
  std::vector<std::string> errors;
  auto none = Snapshot::create(std::move(empty), errors);
  CHECK(sg::skew::body_peek_bytes(RequestView{"POST", "/", form}, *none) == 0);
}
