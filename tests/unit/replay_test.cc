// skew/replay.h as tables: which answers say "I do not know this action"
// (Next.js 16.4, 15.4 to 16.3, up to 15.3, and everything that must never
// count), which builds an action is replayed on, which builds an asset falls
// back to, and the reload answer when no build is left.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "skew/decide.h"
#include "skew/replay.h"

using sg::conf::AppConfig;
using sg::conf::BuildConfig;
using sg::conf::BuildState;
using sg::conf::Config;
using sg::conf::SocketAddress;
using sg::routing::ActionClient;
using sg::routing::App;
using sg::routing::Build;
using sg::routing::Classification;
using sg::routing::HeaderField;
using sg::routing::RequestKind;
using sg::routing::RequestView;
using sg::routing::Snapshot;
using sg::skew::NotFoundSignal;

namespace {

constexpr const char* kId = "40a1c2e3f4051627384950a6b7c8d9e0f1a2b3c4d5";
constexpr const char* kOtherId = "00ab11cd22ef33aa44bb55cc66dd77ee88ff99a0b1";

BuildConfig build(const char* id, std::vector<std::string> action_ids = {},
                  std::optional<BuildState> state = std::nullopt) {
  return BuildConfig{id, {SocketAddress::parse("127.0.0.1:3000").value()}, "", std::move(action_ids), state};
}

// Builds oldest first, as configs list them; the last is current unless
// `current` says otherwise.
std::shared_ptr<const Snapshot> snapshot_of(std::vector<BuildConfig> builds, std::string current = "",
                                            std::uint64_t fallback_builds = 3) {
  AppConfig shop;
  shop.name = "shop";
  shop.hosts = {"shop.example.com"};
  shop.current = current.empty() ? builds.back().id : current;
  shop.builds = std::move(builds);
  shop.assets.fallback_builds = fallback_builds;
  Config config;
  config.apps = {shop};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors);
  for (const auto& e : errors) MESSAGE(e);
  REQUIRE(snapshot);
  return snapshot;
}

void set_healthy(const Snapshot& snapshot, const char* id, bool healthy) {
  const_cast<Build*>(snapshot.apps()[0].find_build(id))->healthy = healthy;
}

std::string ids(const std::vector<const Build*>& builds) {
  std::string out;
  for (const Build* b : builds) out += (out.empty() ? "" : ",") + b->id;
  return out;
}

Classification action(ActionClient client, std::string id = kId) {
  Classification c;
  c.kind = RequestKind::action;
  c.action_client = client;
  c.action_id = std::move(id);
  return c;
}

}  // namespace

TEST_CASE("action_not_found_signal: the answers that say the build did not know the action") {
  struct Row {
    const char* name;
    const char* method;
    Classification classification;
    int status;
    std::vector<HeaderField> headers;
    NotFoundSignal expected;
    const char* accept = "text/x-component";  // what the Next.js client's fetch sends
  };
  const Classification js = action(ActionClient::next_js);
  const Classification form = action(ActionClient::form_post);
  const Classification react = action(ActionClient::react_server, "/src/a.jsx#save");
  Classification document;
  document.kind = RequestKind::document;
  Classification other;
  other.kind = RequestKind::other;
  const std::vector<HeaderField> html = {{"content-type", "text/html; charset=utf-8"}};
  const std::vector<HeaderField> flight = {{"content-type", "text/x-component"}};
  const std::vector<HeaderField> not_found = {{"x-nextjs-action-not-found", "1"}, {"content-type", "text/plain"}};
  const Row rows[] = {
      // Next.js 16.4+: 409 "Server Action unavailable." with the header.
      {"16.4 409 + header", "POST", js, 409, not_found, NotFoundSignal::next_header},
      // Next.js 15.4 to 16.3: 404 with the header.
      {"15.4 404 + header", "POST", js, 404, {{"X-NextJS-Action-Not-Found", " 1 "}}, NotFoundSignal::next_header},
      {"header: any action client (no-JS form)", "POST", form, 404, not_found, NotFoundSignal::next_header},
      {"header: any action client (react-server)", "POST", react, 409, not_found, NotFoundSignal::next_header},
      {"header: action ID unknown to skewgate", "POST", action(ActionClient::next_js, ""), 404, not_found,
       NotFoundSignal::next_header},
      // Next.js <= 15.3: the page, 200 text/html.
      {"15.1 200 text/html", "POST", js, 200, html, NotFoundSignal::next_html_page},
      {"15.1 200 TEXT/HTML, no parameters", "POST", js, 200, {{"Content-Type", "TEXT/HTML"}},
       NotFoundSignal::next_html_page},
      {"15.1, accept among others", "POST", js, 200, html, NotFoundSignal::next_html_page,
       "text/html, Text/X-Component;q=0.9"},
      // A next-action POST the Next.js client did not send (a route handler
      // that answers HTML ran): never replayed on HTML.
      {"HTML answer, no accept", "POST", js, 200, html, NotFoundSignal::none, nullptr},
      {"HTML answer, accept */*", "POST", js, 200, html, NotFoundSignal::none, "*/*"},
      {"HTML answer, accept text/x-componentx", "POST", js, 200, html, NotFoundSignal::none, "text/x-componentx"},
      // The header is Next.js's own word: whatever the request accepts.
      {"header, no accept", "POST", js, 409, not_found, NotFoundSignal::next_header, nullptr},
      // A known action.
      {"known action: flight", "POST", js, 200, flight, NotFoundSignal::none},
      {"known action: x-action-redirect", "POST", js, 200,
       {{"content-type", "text/html"}, {"x-action-redirect", "/next;push"}}, NotFoundSignal::none},
      {"known action: 303", "POST", js, 303, {{"location", "/"}}, NotFoundSignal::none},
      {"known action: app's own 404 page", "POST", js, 404, html, NotFoundSignal::none},
      {"known action: app's own 409", "POST", js, 409, {{"content-type", "text/plain"}}, NotFoundSignal::none},
      {"known action: 500", "POST", js, 500, html, NotFoundSignal::none},
      // The header only counts on the statuses Next.js sends it with.
      {"header on a 200", "POST", js, 200, not_found, NotFoundSignal::none},
      {"header on a 500", "POST", js, 500, not_found, NotFoundSignal::none},
      {"header value 0", "POST", js, 404, {{"x-nextjs-action-not-found", "0"}}, NotFoundSignal::none},
      {"header value 11", "POST", js, 404, {{"x-nextjs-action-not-found", "11"}}, NotFoundSignal::none},
      // HTML never counts for a no-JS form post: a known action answers it
      // with the page too.
      {"no-JS form post answered with the page", "POST", form, 200, html, NotFoundSignal::none},
      // @lazarv/react-server (issue 15): a function it does not have is
      // answered 2xx text/x-component without react-server-data.
      {"react-server flight without react-server-data", "POST", react, 200, flight,
       NotFoundSignal::react_server_no_data},
      {"react-server flight with a charset", "POST", react, 200,
       {{"Content-Type", "Text/X-Component; charset=utf-8"}}, NotFoundSignal::react_server_no_data},
      {"react-server 2xx other than 200", "POST", react, 203, flight, NotFoundSignal::react_server_no_data},
      {"react-server: accept does not matter", "POST", react, 200, flight, NotFoundSignal::react_server_no_data,
       nullptr},
      {"react-server call that ran", "POST", react, 200,
       {{"content-type", "text/x-component"}, {"react-server-data", "rsc"}}, NotFoundSignal::none},
      {"react-server call that ran, header any case", "POST", react, 200,
       {{"content-type", "text/x-component"}, {"React-Server-Data", "rsc"}}, NotFoundSignal::none},
      {"react-server 4xx flight", "POST", react, 404, flight, NotFoundSignal::none},
      {"react-server 5xx flight", "POST", react, 500, flight, NotFoundSignal::none},
      {"react-server 3xx", "POST", react, 303, {{"location", "/"}}, NotFoundSignal::none},
      {"react-server 200 text/html", "POST", react, 200, html, NotFoundSignal::none},
      {"react-server 200 no content-type", "POST", react, 200, {}, NotFoundSignal::none},
      {"react-server 200 text/x-componentx", "POST", react, 200, {{"content-type", "text/x-componentx"}},
       NotFoundSignal::none},
      // The signal is react-server's: a Next.js call or a no-JS form post
      // answered with flight without react-server-data ran.
      {"Next.js call answered flight", "POST", js, 200, flight, NotFoundSignal::none},
      {"no-JS form post answered flight", "POST", form, 200, flight, NotFoundSignal::none},
      {"react-server shape on a GET", "GET", react, 200, flight, NotFoundSignal::none},
      // text/html-ish types that are not text/html.
      {"application/xhtml+xml", "POST", js, 200, {{"content-type", "application/xhtml+xml"}}, NotFoundSignal::none},
      {"text/htmlx", "POST", js, 200, {{"content-type", "text/htmlx"}}, NotFoundSignal::none},
      {"no content-type", "POST", js, 200, {}, NotFoundSignal::none},
      // Only actions, only POST: nothing else is ever replayed.
      {"document answered with the header", "POST", document, 404, not_found, NotFoundSignal::none},
      {"other (API POST) answered with the header", "POST", other, 409, not_found, NotFoundSignal::none},
      {"other (API POST) answered 200 html", "POST", other, 200, html, NotFoundSignal::none},
      {"action classification on a GET", "GET", js, 200, html, NotFoundSignal::none},
      {"action classification on a PUT", "PUT", js, 404, not_found, NotFoundSignal::none},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    std::vector<HeaderField> request_headers = {{"Host", "shop.example.com"}};
    if (row.accept) request_headers.push_back({"Accept", row.accept});
    const RequestView request{row.method, "/cart", request_headers};
    CHECK(sg::skew::action_not_found_signal(request, row.classification, {row.status, row.headers}) ==
          row.expected);
  }
}

TEST_CASE("replay_candidates: kept builds newest first, minus tried, minus manifests that lack the ID") {
  struct Row {
    const char* name;
    std::vector<BuildConfig> builds;  // oldest first; the last is current
    std::vector<const char*> tried;
    std::vector<const char*> unhealthy;
    const char* action_id;
    const char* expected;
  };
  const Row rows[] = {
      {"no manifests: every kept build, newest first", {build("a"), build("b"), build("c")}, {"c"}, {}, kId, "b,a"},
      {"current not tried yet comes first", {build("a"), build("b"), build("c")}, {"a"}, {}, kId, "c,b"},
      {"manifest lacks the ID: skipped", {build("a"), build("b", {kOtherId}), build("c")}, {"c"}, {}, kId, "a"},
      {"manifest has the ID: kept", {build("a", {kId}), build("b", {kOtherId}), build("c")}, {"c"}, {}, kId, "a"},
      {"empty action ID: manifests cannot exclude", {build("a"), build("b", {kOtherId}), build("c")}, {"c"}, {}, "",
       "b,a"},
      {"retired, preview and unhealthy builds never",
       {build("a", {}, BuildState::retired), build("p", {}, BuildState::preview), build("s"), build("b"), build("c")},
       {"c"}, {"s"}, kId, "b"},
      {"everything tried: none", {build("a"), build("b")}, {"b", "a"}, {}, kId, ""},
      {"single build: none", {build("a")}, {"a"}, {}, kId, ""},
      {"unhealthy current is not replayed on", {build("a"), build("b"), build("c")}, {"a"}, {"c"}, kId, "b"},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    auto snapshot = snapshot_of(row.builds);
    for (const char* id : row.unhealthy) set_healthy(*snapshot, id, false);
    const App& app = snapshot->apps()[0];
    std::vector<const Build*> tried;
    for (const char* id : row.tried) tried.push_back(app.find_build(id));
    CHECK(ids(sg::skew::replay_candidates(app, sg::routing::ActionClient::next_js, row.action_id, tried)) == row.expected);
  }
}

TEST_CASE("replay_candidates: at most kMaxActionReplays, however many builds are kept") {
  std::vector<BuildConfig> builds;
  for (const char* id : {"a", "b", "c", "d", "e", "f", "g"}) builds.push_back(build(id));
  auto snapshot = snapshot_of(builds);
  const App& app = snapshot->apps()[0];
  const std::vector<const Build*> tried = {app.find_build("g")};
  CHECK(sg::skew::kMaxActionReplays == 4);
  CHECK(ids(sg::skew::replay_candidates(app, sg::routing::ActionClient::next_js, kId, tried)) == "f,e,d,c");
}

TEST_CASE("replay_candidates: after a rollback current still comes first, then the others newest first") {
  auto snapshot = snapshot_of({build("a"), build("b"), build("c")}, "b");
  const App& app = snapshot->apps()[0];
  CHECK(ids(sg::skew::replay_candidates(app, sg::routing::ActionClient::next_js, kId, {})) == "b,c,a");
}

TEST_CASE("asset_fallback_candidates: kept builds newest first, current excluded, at most fallback_builds") {
  struct Row {
    const char* name;
    std::vector<BuildConfig> builds;
    std::uint64_t fallback_builds;
    std::vector<const char*> unhealthy;
    const char* expected;
  };
  const Row rows[] = {
      {"default 3 of 4 older builds", {build("a"), build("b"), build("c"), build("d"), build("e")}, 3, {}, "d,c,b"},
      {"fewer builds than the limit", {build("a"), build("b")}, 3, {}, "a"},
      {"0 = off", {build("a"), build("b")}, 0, {}, ""},
      {"limit 1", {build("a"), build("b"), build("c")}, 1, {}, "b"},
      {"retired, preview, unhealthy skipped (and not counted)",
       {build("a"), build("r", {}, BuildState::retired), build("p", {}, BuildState::preview), build("s"), build("c")},
       2, {"s"}, "a"},
      {"only current", {build("a")}, 3, {}, ""},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    auto snapshot = snapshot_of(row.builds, "", row.fallback_builds);
    for (const char* id : row.unhealthy) set_healthy(*snapshot, id, false);
    CHECK(ids(sg::skew::asset_fallback_candidates(snapshot->apps()[0])) == row.expected);
  }
}

TEST_CASE("asset_fallback_applies: an asset without dpl, GET or HEAD, sent to current") {
  auto snapshot = snapshot_of({build("a"), build("b")});
  auto off = snapshot_of({build("a"), build("b")}, "", 0);
  struct Row {
    const char* name;
    const Snapshot* snapshot;
    const char* method;
    const char* target;
    std::vector<HeaderField> headers;
    bool expected;
  };
  const Row rows[] = {
      {"immutable chunk GET", snapshot.get(), "GET", "/_next/static/immutable/x.js", {}, true},
      {"chunk HEAD", snapshot.get(), "HEAD", "/_next/static/chunks/x.js", {}, true},
      {"image GET with a query", snapshot.get(), "GET", "/_next/image?url=%2Fa.png&w=64", {}, true},
      {"empty dpl names nothing", snapshot.get(), "GET", "/_next/static/chunks/x.js?dpl=", {}, true},
      {"dpl of current", snapshot.get(), "GET", "/_next/static/chunks/x.js?dpl=b", {}, false},
      {"dpl of an unknown build (routed to current by decide)", snapshot.get(), "GET",
       "/_next/static/chunks/x.js?dpl=zzz", {}, false},
      {"POST", snapshot.get(), "POST", "/_next/static/chunks/x.js", {}, false},
      {"OPTIONS", snapshot.get(), "OPTIONS", "/_next/static/chunks/x.js", {}, false},
      {"not an asset", snapshot.get(), "GET", "/api/x", {}, false},
      {"routed to a retained build (header)", snapshot.get(), "GET", "/_next/static/chunks/x.js",
       {{"x-deployment-id", "a"}}, false},
      {"assets.fallback_builds: 0", off.get(), "GET", "/_next/static/immutable/x.js", {}, false},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    std::vector<HeaderField> headers = row.headers;
    headers.insert(headers.begin(), HeaderField{"Host", "shop.example.com"});
    const RequestView view{row.method, row.target, headers};
    const sg::skew::Verdict verdict = sg::skew::decide(sg::skew::DecisionInput{view}, *row.snapshot);
    CHECK(sg::skew::asset_fallback_applies(view, verdict) == row.expected);
  }
}

TEST_CASE("answer_action_not_found: the app's reload answer for this client, reason action_not_found") {
  auto snapshot = snapshot_of({build("a"), build("b")});
  struct Row {
    const char* name;
    std::vector<HeaderField> headers;
    const char* body;
    int status;
    const char* header_name;
    const char* header_value;
  };
  const Row rows[] = {
      {"Next.js client: 200 + x-action-redirect",
       {{"next-action", kId}, {"accept", "text/x-component"}, {"content-type", "text/plain;charset=UTF-8"}},
       "", 200, "x-action-redirect", "/cart?x=1"},
      {"no-JS form post: 303 to the page",
       {{"content-type", "application/x-www-form-urlencoded"}},
       "%24ACTION_ID_40a1c2e3f4051627384950a6b7c8d9e0f1a2b3c4d5=&q=1", 303, "location", "/cart?x=1"},
      {"JSON client: 409 JSON", {{"next-action", kId}, {"accept", "application/json"}}, "", 409, "content-type",
       "application/json"},
  };
  for (const Row& row : rows) {
    INFO(row.name);
    std::vector<HeaderField> headers = row.headers;
    headers.insert(headers.begin(), HeaderField{"Host", "shop.example.com"});
    const RequestView view{"POST", "/cart?x=1", headers};
    sg::skew::Verdict verdict = sg::skew::decide(sg::skew::DecisionInput{view, row.body}, *snapshot);
    REQUIRE(verdict.target != nullptr);
    sg::skew::answer_action_not_found(verdict, view);
    REQUIRE(verdict.answer);
    CHECK(verdict.target == nullptr);
    CHECK(verdict.outcome == sg::skew::Outcome::answered);
    CHECK(verdict.reason == sg::metrics::Reason::action_not_found);
    CHECK(verdict.answer->status == row.status);
    bool found = false, reload = false, no_store = false;
    for (const auto& [name, value] : verdict.answer->headers) {
      if (name == row.header_name && value == row.header_value) found = true;
      if (name == "x-skewgate-reload" && value == "required; reason=action_not_found; build=unknown") reload = true;
      if (name == "cache-control" && value == "no-store") no_store = true;
    }
    CHECK(found);
    CHECK(reload);
    CHECK(no_store);
  }
}

// Issue 15: a set of the other framework never removes a build.
TEST_CASE("replay_candidates: only ID sets of the call's framework count") {
  using sg::conf::ActionIdSource;
  sg::conf::AppConfig shop;
  shop.name = "shop";
  shop.hosts = {"shop.example.com"};
  shop.current = "c";
  const auto address = sg::conf::SocketAddress::parse("127.0.0.1:3001").value();
  sg::conf::BuildConfig a{"a", {address}, "", {"f"}, std::nullopt};
  a.action_id_source = ActionIdSource::react_server_chunks;
  sg::conf::BuildConfig b{"b", {address}, "", {"n"}, std::nullopt};
  b.action_id_source = ActionIdSource::next_manifest;
  sg::conf::BuildConfig c{"c", {address}, "", {"g"}, std::nullopt};
  c.action_id_source = ActionIdSource::react_server_chunks;
  sg::conf::BuildConfig d{"d", {address}, "", {}, std::nullopt};
  shop.builds = {a, b, d, c};
  sg::conf::Config config;
  config.apps = {shop};
  std::vector<std::string> errors;
  const auto snapshot = sg::routing::Snapshot::create(std::move(config), errors);
  REQUIRE(errors.empty());
  const auto& app = snapshot->apps()[0];
  using sg::skew::replay_candidates;
  // newest first: c, d, b, a
  CHECK(ids(replay_candidates(app, ActionClient::react_server, "f", {})) == "d,b,a");
  CHECK(ids(replay_candidates(app, ActionClient::react_server, "g", {})) == "c,d,b");
  CHECK(ids(replay_candidates(app, ActionClient::next_js, "f", {})) == "c,d,a");
  CHECK(ids(replay_candidates(app, ActionClient::form_post, "f", {})) == "d,a");
  CHECK(ids(replay_candidates(app, ActionClient::react_server, "", {})) == "c,d,b,a");
}
