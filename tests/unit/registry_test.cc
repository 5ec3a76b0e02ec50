#include <doctest/doctest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "routing/registry.h"

using sg::conf::AppConfig;
using sg::conf::BuildState;
using sg::conf::SocketAddress;
using sg::routing::AppRegistry;
using sg::routing::decode_registry;
using sg::routing::encode_registry;
using sg::routing::OpResult;
using sg::routing::RegisteredBuild;
using sg::routing::Registry;

namespace {

SocketAddress upstream(const char* text) { return SocketAddress::parse(text).value(); }

RegisteredBuild build(std::string id, std::vector<SocketAddress> upstreams, std::string manifest = "") {
  RegisteredBuild b;
  b.id = std::move(id);
  b.upstreams = std::move(upstreams);
  b.manifest = std::move(manifest);
  return b;
}

RegisteredBuild build(std::string id, const char* address = "127.0.0.1:3002") {
  return build(std::move(id), {upstream(address)});
}

// RegisteredBuild::operator== needs SocketAddress::operator==, which conf/
// does not declare; compare through the canonical address text instead.
std::vector<std::string> addresses(const RegisteredBuild& b) {
  std::vector<std::string> out;
  for (const auto& address : b.upstreams) out.push_back(address.to_string());
  return out;
}

void check_same(const AppRegistry& actual, const AppRegistry& expected) {
  CHECK(actual.current == expected.current);
  CHECK(actual.previous == expected.previous);
  REQUIRE(actual.builds.size() == expected.builds.size());
  for (std::size_t i = 0; i < actual.builds.size(); ++i) {
    CAPTURE(i);
    CHECK(actual.builds[i].id == expected.builds[i].id);
    CHECK(addresses(actual.builds[i]) == addresses(expected.builds[i]));
    CHECK(actual.builds[i].manifest == expected.builds[i].manifest);
    CHECK(actual.builds[i].state == expected.builds[i].state);
    CHECK(actual.builds[i].registered_at_ms == expected.builds[i].registered_at_ms);
  }
}

void check_same(const Registry& actual, const Registry& expected) {
  REQUIRE(actual.size() == expected.size());
  for (const auto& [name, app] : expected) {
    CAPTURE(name);
    REQUIRE(actual.contains(name));
    check_same(actual.at(name), app);
  }
}

std::optional<BuildState> state_of(const AppRegistry& app, const std::string& id) {
  for (const auto& b : app.builds) {
    if (b.id == id) return b.state;
  }
  return std::nullopt;
}

// ---- the state machine as a table ------------------------------------------
//
// Every fixture has a build "base" and, unless `none`, the target "t"
// (127.0.0.1:3002, no manifest). Both were promoted once, so `previous`
// holds t while t is retained/preview/retired:
//   none:     base current, previous []
//   retained: base current, t retained, previous [t]
//   preview:  as retained, then t made a preview
//   retired:  as retained, then t retired
//   current:  as retained, then t promoted: base retained, previous [base]

enum class From { none, retained, current, preview, retired };

const char* name(From from) {
  switch (from) {
    case From::none: return "none";
    case From::retained: return "retained";
    case From::current: return "current";
    case From::preview: return "preview";
    case From::retired: return "retired";
  }
  return "?";
}

AppRegistry fixture(From from) {
  AppRegistry app;
  REQUIRE(register_build(app, build("base", "127.0.0.1:3001"), 1).status == 201);
  if (from == From::none) {
    REQUIRE(promote(app, "base").status == 200);
    return app;
  }
  REQUIRE(register_build(app, build("t"), 2).status == 201);
  REQUIRE(promote(app, "t").status == 200);
  REQUIRE(promote(app, "base").status == 200);
  switch (from) {
    case From::preview: REQUIRE(make_preview(app, "t").ok()); break;
    case From::retired: REQUIRE(retire(app, "t").ok()); break;
    case From::current: REQUIRE(promote(app, "t").ok()); break;
    default: break;
  }
  REQUIRE(state_of(app, "t") == (from == From::retained  ? std::optional(BuildState::retained)
                                 : from == From::preview ? std::optional(BuildState::preview)
                                 : from == From::retired ? std::optional(BuildState::retired)
                                                         : std::optional(BuildState::current)));
  return app;
}

struct Op {
  const char* name;
  std::function<OpResult(AppRegistry&)> run;
};

const Op kRegisterSame{"register same", [](AppRegistry& a) { return register_build(a, build("t"), 99); }};
const Op kRegisterConflict{"register conflicting",
                           [](AppRegistry& a) { return register_build(a, build("t", "127.0.0.1:3999"), 99); }};
const Op kPromote{"promote", [](AppRegistry& a) { return promote(a, "t"); }};
const Op kRollback{"rollback", [](AppRegistry& a) { return rollback(a); }};
const Op kRetire{"retire", [](AppRegistry& a) { return retire(a, "t"); }};
const Op kPreview{"preview", [](AppRegistry& a) { return make_preview(a, "t"); }};

constexpr auto kAbsent = std::nullopt;
constexpr auto kCurrent = std::optional(BuildState::current);
constexpr auto kRetained = std::optional(BuildState::retained);
constexpr auto kPreviewState = std::optional(BuildState::preview);
constexpr auto kRetired = std::optional(BuildState::retired);

struct Row {
  const Op* op;
  From from;
  int status;
  const char* error;
  bool changed;
  std::optional<BuildState> t_after;
  std::optional<BuildState> base_after;
  const char* current_after;
  std::vector<std::string> previous_after;
};

const std::vector<Row> kTable = {
    // register, same upstreams and manifest
    {&kRegisterSame, From::none, 201, "", true, kRetained, kCurrent, "base", {}},
    {&kRegisterSame, From::retained, 200, "", false, kRetained, kCurrent, "base", {"t"}},
    {&kRegisterSame, From::current, 200, "", false, kCurrent, kRetained, "t", {"base"}},
    {&kRegisterSame, From::preview, 200, "", false, kPreviewState, kCurrent, "base", {"t"}},
    {&kRegisterSame, From::retired, 200, "", false, kRetired, kCurrent, "base", {"t"}},
    // register, other upstreams
    {&kRegisterConflict, From::none, 201, "", true, kRetained, kCurrent, "base", {}},
    {&kRegisterConflict, From::retained, 409, "build_conflict", false, kRetained, kCurrent, "base", {"t"}},
    {&kRegisterConflict, From::current, 409, "build_conflict", false, kCurrent, kRetained, "t", {"base"}},
    {&kRegisterConflict, From::preview, 409, "build_conflict", false, kPreviewState, kCurrent, "base", {"t"}},
    {&kRegisterConflict, From::retired, 409, "build_conflict", false, kRetired, kCurrent, "base", {"t"}},
    // promote t
    {&kPromote, From::none, 404, "build_not_found", false, kAbsent, kCurrent, "base", {}},
    {&kPromote, From::retained, 200, "", true, kCurrent, kRetained, "t", {"base"}},
    {&kPromote, From::current, 200, "", false, kCurrent, kRetained, "t", {"base"}},
    {&kPromote, From::preview, 200, "", true, kCurrent, kRetained, "t", {"base"}},
    {&kPromote, From::retired, 409, "invalid_transition", false, kRetired, kCurrent, "base", {"t"}},
    // rollback (t is the newest entry of previous unless it is current)
    {&kRollback, From::none, 409, "invalid_transition", false, kAbsent, kCurrent, "base", {}},
    {&kRollback, From::retained, 200, "", true, kCurrent, kRetained, "t", {}},
    {&kRollback, From::current, 200, "", true, kRetained, kCurrent, "base", {}},
    {&kRollback, From::preview, 200, "", true, kCurrent, kRetained, "t", {}},
    {&kRollback, From::retired, 409, "invalid_transition", false, kRetired, kCurrent, "base", {"t"}},
    // retire t
    {&kRetire, From::none, 404, "build_not_found", false, kAbsent, kCurrent, "base", {}},
    {&kRetire, From::retained, 200, "", true, kRetired, kCurrent, "base", {"t"}},
    {&kRetire, From::current, 409, "invalid_transition", false, kCurrent, kRetained, "t", {"base"}},
    {&kRetire, From::preview, 200, "", true, kRetired, kCurrent, "base", {"t"}},
    {&kRetire, From::retired, 200, "", false, kRetired, kCurrent, "base", {"t"}},
    // make t a preview
    {&kPreview, From::none, 404, "build_not_found", false, kAbsent, kCurrent, "base", {}},
    {&kPreview, From::retained, 200, "", true, kPreviewState, kCurrent, "base", {"t"}},
    {&kPreview, From::current, 409, "invalid_transition", false, kCurrent, kRetained, "t", {"base"}},
    {&kPreview, From::preview, 200, "", false, kPreviewState, kCurrent, "base", {"t"}},
    {&kPreview, From::retired, 409, "invalid_transition", false, kRetired, kCurrent, "base", {"t"}},
};

}  // namespace

TEST_CASE("registry: state machine table, every operation from every state") {
  CHECK(kTable.size() == 30);
  for (const auto& row : kTable) {
    CAPTURE(row.op->name);
    CAPTURE(name(row.from));
    AppRegistry app = fixture(row.from);
    const AppRegistry before = app;
    const OpResult result = row.op->run(app);
    CHECK(result.status == row.status);
    CHECK(result.error == row.error);
    CHECK(result.changed == row.changed);
    CHECK(result.ok() == (std::string(row.error).empty()));
    if (!result.ok()) CHECK_FALSE(result.message.empty());
    CHECK(state_of(app, "t") == row.t_after);
    CHECK(state_of(app, "base") == row.base_after);
    CHECK(app.current == row.current_after);
    CHECK(app.previous == row.previous_after);
    // Failures and idempotent repeats leave the registry exactly as it was,
    // so the control plane has nothing to persist.
    if (!result.changed) check_same(app, before);
  }
}

TEST_CASE("registry: exactly one build is current after any successful operation") {
  for (const auto& row : kTable) {
    CAPTURE(row.op->name);
    CAPTURE(name(row.from));
    AppRegistry app = fixture(row.from);
    row.op->run(app);
    int current = 0;
    for (const auto& b : app.builds) {
      if (b.state == BuildState::current) {
        ++current;
        CHECK(b.id == app.current);
      }
    }
    CHECK(current == 1);
    for (const auto& id : app.previous) CHECK(id != app.current);
  }
}

TEST_CASE("registry: register validates the body") {
  AppRegistry app;
  struct Case {
    RegisteredBuild build;
    int status;
  };
  const std::vector<Case> cases = {
      {build(""), 400},
      {build("has space"), 400},
      {build("slash/id"), 400},
      {build("semi;colon"), 400},
      {build(std::string("nul\0x", 5)), 400},
      {build(std::string(129, 'a')), 400},
      {build("no-upstreams", std::vector<SocketAddress>{}), 400},
      {build("bad-manifest", {upstream("127.0.0.1:1")}, std::string("\xff\xfe")), 400},
      {build(std::string(128, 'a')), 201},
      {build("dpl_A.1-b"), 201},
      {build("unix", {upstream("unix:/run/app.sock"), upstream("[::1]:3003")}, "/srv/b/manifest.json"), 201},
  };
  for (const auto& c : cases) {
    CAPTURE(c.build.id);
    const auto result = register_build(app, c.build, 5);
    CHECK(result.status == c.status);
    CHECK(result.error == (c.status == 400 ? "invalid_body" : ""));
  }
  CHECK(app.builds.size() == 3);
  CHECK(app.current.empty());  // registering never makes a build current
  for (const auto& b : app.builds) {
    CHECK(b.state == BuildState::retained);
    CHECK(b.registered_at_ms == 5);
  }
}

TEST_CASE("registry: register ignores the caller's state and keeps the first registration time") {
  AppRegistry app;
  auto b = build("dpl-a");
  b.state = BuildState::current;
  b.registered_at_ms = 1234;
  CHECK(register_build(app, b, 10).status == 201);
  CHECK(app.builds[0].state == BuildState::retained);
  CHECK(app.builds[0].registered_at_ms == 10);
  CHECK(app.current.empty());
  CHECK(register_build(app, build("dpl-a"), 20).status == 200);
  CHECK(app.builds[0].registered_at_ms == 10);
}

TEST_CASE("registry: register conflict covers upstream order, count and manifest") {
  AppRegistry app;
  REQUIRE(register_build(app, build("b", {upstream("127.0.0.1:1"), upstream("127.0.0.1:2")}, "/m.json"), 1).status ==
          201);
  CHECK(register_build(app, build("b", {upstream("127.0.0.1:1"), upstream("127.0.0.1:2")}, "/m.json"), 2).status ==
        200);
  // Canonical address text: [::0001] and [::1] are the same upstream.
  REQUIRE(register_build(app, build("v6", {upstream("[::0001]:3")}), 1).status == 201);
  CHECK(register_build(app, build("v6", {upstream("[::1]:3")}), 2).status == 200);
  CHECK(register_build(app, build("b", {upstream("127.0.0.1:2"), upstream("127.0.0.1:1")}, "/m.json"), 2).error ==
        "build_conflict");
  CHECK(register_build(app, build("b", {upstream("127.0.0.1:1")}, "/m.json"), 2).error == "build_conflict");
  CHECK(register_build(app, build("b", {upstream("127.0.0.1:1"), upstream("127.0.0.1:2")}, ""), 2).error ==
        "build_conflict");
}

TEST_CASE("registry: error messages name the build and the way out") {
  AppRegistry app;
  register_build(app, build("a"), 1);
  register_build(app, build("b"), 1);
  promote(app, "a");
  retire(app, "b");
  CHECK(promote(app, "b").message == "build 'b' is retired; register a new build id");
  CHECK(retire(app, "a").message.find("promote another build first") != std::string::npos);
  CHECK(promote(app, "zz").message.find("'zz'") != std::string::npos);
  AppRegistry empty;
  CHECK(rollback(empty).message == "nothing to roll back to");
}

TEST_CASE("registry: rollback chains walk back through history") {
  AppRegistry app;
  for (const char* id : {"a", "b", "c"}) {
    REQUIRE(register_build(app, build(id), 1).status == 201);
    REQUIRE(promote(app, id).changed);
  }
  CHECK(app.previous == std::vector<std::string>{"a", "b"});

  auto r = rollback(app);
  CHECK(r.status == 200);
  CHECK(r.changed);
  CHECK(app.current == "b");
  CHECK(state_of(app, "c") == BuildState::retained);
  CHECK(app.previous == std::vector<std::string>{"a"});  // c is not pushed: no toggling

  r = rollback(app);
  CHECK(r.status == 200);
  CHECK(app.current == "a");
  CHECK(state_of(app, "b") == BuildState::retained);
  CHECK(state_of(app, "c") == BuildState::retained);
  CHECK(app.previous.empty());

  r = rollback(app);
  CHECK(r.status == 409);
  CHECK(r.error == "invalid_transition");
  CHECK(app.current == "a");
}

TEST_CASE("registry: rollback skips retired and unknown entries, and a failed rollback changes nothing") {
  AppRegistry app;
  for (const char* id : {"a", "b", "c", "d"}) {
    register_build(app, build(id), 1);
    promote(app, id);
  }
  app.previous.insert(app.previous.begin() + 1, "gone");  // e.g. a hand-edited file
  CHECK(app.previous == std::vector<std::string>{"a", "gone", "b", "c"});
  retire(app, "c");
  retire(app, "b");
  CHECK(rollback(app).status == 200);
  CHECK(app.current == "a");
  CHECK(app.previous.empty());

  AppRegistry stale;
  register_build(stale, build("x"), 1);
  register_build(stale, build("y"), 1);
  promote(stale, "x");
  promote(stale, "y");
  retire(stale, "x");
  stale.previous.push_back("gone");
  const AppRegistry before = stale;
  CHECK(rollback(stale).status == 409);
  check_same(stale, before);
}

TEST_CASE("registry: previous never holds duplicates or the current build") {
  AppRegistry app;
  register_build(app, build("a"), 1);
  register_build(app, build("b"), 1);
  for (int i = 0; i < 50; ++i) {
    promote(app, "a");
    promote(app, "b");
  }
  CHECK(app.current == "b");
  CHECK(app.previous == std::vector<std::string>{"a"});

  register_build(app, build("c"), 1);
  promote(app, "c");
  CHECK(app.previous == std::vector<std::string>{"a", "b"});
  promote(app, "a");  // a leaves previous: it is current now
  CHECK(app.previous == std::vector<std::string>{"b", "c"});
  CHECK(rollback(app).status == 200);
  CHECK(app.current == "c");
}

TEST_CASE("registry: promoting from no current build pushes nothing onto previous") {
  AppRegistry app;
  register_build(app, build("a"), 1);
  CHECK(rollback(app).status == 409);
  CHECK(promote(app, "a").status == 200);
  CHECK(app.previous.empty());
  CHECK(rollback(app).status == 409);
}

TEST_CASE("registry: apply_registry replaces the app's builds and current") {
  AppRegistry registry;
  register_build(registry, build("old", {upstream("127.0.0.1:1")}, "/old/m.json"), 1);
  register_build(registry, build("cur", {upstream("127.0.0.1:2"), upstream("unix:/run/c.sock")}), 2);
  register_build(registry, build("pre"), 3);
  register_build(registry, build("dead"), 4);
  register_build(registry, build("kept"), 5);
  promote(registry, "old");
  promote(registry, "cur");
  make_preview(registry, "pre");
  retire(registry, "dead");

  AppConfig app;
  app.name = "shop";
  app.current = "yaml-build";
  app.builds = {sg::conf::BuildConfig{"yaml-build", {upstream("127.0.0.1:9")}, "", {}, std::nullopt}};
  sg::routing::apply_registry(registry, app);

  CHECK(app.name == "shop");
  CHECK(app.current == "cur");
  REQUIRE(app.builds.size() == 5);
  CHECK(app.builds[0].id == "old");
  CHECK(app.builds[0].manifest == "/old/m.json");
  CHECK(app.builds[0].state == std::nullopt);  // retained
  CHECK(app.builds[1].id == "cur");
  CHECK(app.builds[1].upstreams.size() == 2);
  CHECK(app.builds[1].upstreams[1].to_string() == "unix:/run/c.sock");
  CHECK(app.builds[1].state == std::nullopt);  // current comes from app.current
  CHECK(app.builds[2].state == BuildState::preview);
  CHECK(app.builds[3].state == BuildState::retired);
  CHECK(app.builds[4].state == std::nullopt);
  for (const auto& b : app.builds) CHECK(b.action_ids.empty());

  AppRegistry fresh;  // nothing promoted yet: no current, the caller copes
  register_build(fresh, build("a"), 1);
  sg::routing::apply_registry(fresh, app);
  CHECK(app.current.empty());
  REQUIRE(app.builds.size() == 1);
  CHECK(app.builds[0].state == std::nullopt);
}

// ---- persistence ------------------------------------------------------------

namespace {

Registry sample_registry() {
  Registry registry;
  AppRegistry& shop = registry["shop"];
  register_build(shop, build("dpl-a", {upstream("127.0.0.1:3001")}, "/srv/a/server-reference-manifest.json"),
                 1700000000000);
  register_build(shop, build("dpl-b", {upstream("[::1]:3002"), upstream("unix:/run/b.sock")}), 1700000001000);
  register_build(shop, build("dpl-c"), 1700000002000);
  register_build(shop, build("dpl-d"), 1700000003000);
  register_build(shop, build("dpl-e", {upstream("10.0.0.5:80")}, "/p/\xc3\xa9t\xc3\xa9.json"), 1700000004000);
  promote(shop, "dpl-a");
  promote(shop, "dpl-b");
  promote(shop, "dpl-c");
  make_preview(shop, "dpl-d");
  retire(shop, "dpl-a");
  registry["fresh"];  // registered nothing yet
  AppRegistry& blog = registry["blog"];
  register_build(blog, build("v1"), 0);  // retained, no current
  return registry;
}

std::optional<Registry> decode(const std::string& text) {
  std::string error;
  auto registry = decode_registry(text, error);
  CHECK(registry.has_value() == error.empty());
  return registry;
}

std::string decode_error(const std::string& text) {
  std::string error;
  auto registry = decode_registry(text, error);
  CHECK_FALSE(registry.has_value());
  CHECK_FALSE(error.empty());
  return error;
}

// A one-build registry as text, with `build_fields` spliced into its build
// and `app_fields` into the app, so each corruption case is one line.
std::string one_build(const std::string& build_fields, const std::string& app_fields = R"("current":"a","previous":[])") {
  return R"({"version":1,"apps":{"shop":{)" + app_fields + R"(,"builds":[{)" + build_fields + "}]}}}";
}

const std::string kGoodBuild =
    R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":"","state":"current","registered_at_ms":5)";

}  // namespace

TEST_CASE("registry: encode/decode round trip") {
  const Registry registry = sample_registry();
  const std::string text = encode_registry(registry);
  CHECK(text.find("\"version\": 1") != std::string::npos);
  CHECK(text.find("\"[::1]:3002\"") != std::string::npos);
  CHECK(text.find("\"unix:/run/b.sock\"") != std::string::npos);
  CHECK(text.find("\"preview\"") != std::string::npos);
  auto decoded = decode(text);
  REQUIRE(decoded.has_value());
  check_same(*decoded, registry);
  CHECK(encode_registry(*decoded) == text);

  auto empty = decode(encode_registry(Registry{}));
  REQUIRE(empty.has_value());
  CHECK(empty->empty());

  // Operations keep working on a decoded registry.
  AppRegistry& shop = decoded->at("shop");
  CHECK(shop.current == "dpl-c");
  CHECK(rollback(shop).status == 200);
  CHECK(shop.current == "dpl-b");
  CHECK(rollback(shop).status == 409);  // dpl-a is retired
}

TEST_CASE("registry: decode accepts hand-written JSON in any key order and spacing") {
  auto decoded = decode(one_build(kGoodBuild));
  REQUIRE(decoded.has_value());
  CHECK(decoded->at("shop").builds.at(0).upstreams.at(0).to_string() == "127.0.0.1:1");
  CHECK(decode(R"( { "apps" : { } , "version" : 1 } )").has_value());
}

TEST_CASE("registry: decode rejects every truncation of a valid encoding") {
  const std::string text = encode_registry(sample_registry());
  // The encoding ends "}\n": the prefix without the newline is the whole
  // document; every shorter prefix must be refused, never partially read.
  REQUIRE(text.size() > 2);
  REQUIRE(text.substr(text.size() - 2) == "}\n");
  std::size_t rejected = 0;
  for (std::size_t length = 0; length + 1 < text.size(); ++length) {
    std::string error;
    const auto registry = decode_registry(std::string_view(text).substr(0, length), error);
    if (!registry) {
      CHECK_FALSE(error.empty());
      ++rejected;
    } else {
      FAIL("prefix of length " << length << " decoded");
    }
  }
  CHECK(rejected == text.size() - 1);
  CHECK(decode(text.substr(0, text.size() - 1)).has_value());
}

TEST_CASE("registry: decode rejects corrupt documents with a precise error") {
  struct Case {
    const char* what;
    std::string text;
    const char* error_contains;
  };
  const std::vector<Case> cases = {
      {"empty", "", "not valid JSON"},
      {"garbage", std::string("\x00\x01\x02", 3), "not valid JSON"},
      {"trailing garbage", R"({"version":1,"apps":{}} x)", "not valid JSON"},
      {"array", "[]", "expected an object"},
      {"no version", R"({"apps":{}})", "missing field 'version'"},
      {"version 2", R"({"version":2,"apps":{}})", "registry.version"},
      {"version string", R"({"version":"1","apps":{}})", "registry.version"},
      {"version float", R"({"version":1.5,"apps":{}})", "registry.version"},
      {"unknown top-level", R"({"version":1,"apps":{},"extra":0})", "unknown field 'extra'"},
      {"apps array", R"({"version":1,"apps":[]})", "registry.apps"},
      {"empty app name", R"({"version":1,"apps":{"":{"current":"","builds":[],"previous":[]}}})", "empty app name"},
      {"app not object", R"({"version":1,"apps":{"shop":[]}})", "registry.apps['shop']: expected an object"},
      {"app missing builds", R"({"version":1,"apps":{"shop":{"current":"","previous":[]}}})",
       "missing field 'builds'"},
      {"current not string", one_build(kGoodBuild, R"("current":1,"previous":[])"), ".current: expected a string"},
      {"current names no build",
       one_build(R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":"","state":"retained","registered_at_ms":5)",
                 R"("current":"zz","previous":[])"),
       "names no registered build ('zz')"},
      {"current build not in state current",
       one_build(R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":"","state":"retained","registered_at_ms":5)"),
       "the current build must be in state current"},
      {"state current without being current",
       one_build(kGoodBuild, R"("current":"","previous":[])"), "only the build named by current"},
      {"builds not array", R"({"version":1,"apps":{"shop":{"current":"","builds":{},"previous":[]}}})",
       ".builds: expected an array"},
      {"build not object", R"({"version":1,"apps":{"shop":{"current":"","builds":[1],"previous":[]}}})",
       ".builds[0]: expected an object"},
      {"unknown build field", one_build(kGoodBuild + R"(,"color":"red")"), "unknown field 'color'"},
      {"missing state",
       one_build(R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":"","registered_at_ms":5)"),
       "missing field 'state'"},
      {"id number", one_build(R"("id":7,"upstreams":["127.0.0.1:1"],"manifest":"","state":"current","registered_at_ms":5)"),
       ".id: expected a build id"},
      {"id invalid", one_build(R"("id":"a b","upstreams":["127.0.0.1:1"],"manifest":"","state":"current","registered_at_ms":5)"),
       ".id: expected a build id"},
      {"upstreams empty", one_build(R"("id":"a","upstreams":[],"manifest":"","state":"current","registered_at_ms":5)"),
       ".upstreams: expected a non-empty array"},
      {"upstreams string", one_build(R"("id":"a","upstreams":"127.0.0.1:1","manifest":"","state":"current","registered_at_ms":5)"),
       ".upstreams: expected a non-empty array"},
      {"bad address",
       one_build(R"("id":"a","upstreams":["127.0.0.1:1","local_host:80"],"manifest":"","state":"current","registered_at_ms":5)"),
       ".upstreams[1]: expected an address"},
      {"address number", one_build(R"("id":"a","upstreams":[3000],"manifest":"","state":"current","registered_at_ms":5)"),
       ".upstreams[0]: expected an address"},
      {"port out of range",
       one_build(R"("id":"a","upstreams":["127.0.0.1:70000"],"manifest":"","state":"current","registered_at_ms":5)"),
       ".upstreams[0]"},
      {"manifest null", one_build(R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":null,"state":"current","registered_at_ms":5)"),
       ".manifest: expected a string"},
      {"unknown state", one_build(R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":"","state":"zombie","registered_at_ms":5)"),
       ".state: expected one of"},
      {"state number", one_build(R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":"","state":0,"registered_at_ms":5)"),
       ".state: expected one of"},
      {"time string", one_build(R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":"","state":"current","registered_at_ms":"5")"),
       ".registered_at_ms"},
      {"time negative", one_build(R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":"","state":"current","registered_at_ms":-1)"),
       ".registered_at_ms"},
      {"time float", one_build(R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":"","state":"current","registered_at_ms":1.5)"),
       ".registered_at_ms"},
      {"time too large",
       one_build(R"("id":"a","upstreams":["127.0.0.1:1"],"manifest":"","state":"current","registered_at_ms":9223372036854775808)"),
       ".registered_at_ms"},
      {"previous not array", one_build(kGoodBuild, R"("current":"a","previous":"a")"), ".previous: expected an array"},
      {"previous entry number", one_build(kGoodBuild, R"("current":"a","previous":[1])"), ".previous[0]"},
      {"duplicate ids",
       R"({"version":1,"apps":{"shop":{"current":"a","previous":[],"builds":[)"
       R"({"id":"a","upstreams":["127.0.0.1:1"],"manifest":"","state":"current","registered_at_ms":5},)"
       R"({"id":"a","upstreams":["127.0.0.1:2"],"manifest":"","state":"retained","registered_at_ms":6}]}}})",
       "duplicate build id 'a'"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    const std::string error = decode_error(c.text);
    CAPTURE(error);
    CHECK(error.find(c.error_contains) != std::string::npos);
  }
}

namespace sg::routing {
namespace {

TEST_CASE("registry: upstream host names round-trip as written, never as addresses") {
  Registry registry;
  RegisteredBuild build;
  build.id = "a";
  build.upstreams = {conf::SocketAddress::parse_upstream("shop-a.prod.svc.cluster.local:3000").value(),
                     conf::SocketAddress::parse_upstream("127.0.0.1:3001").value()};
  build.state = conf::BuildState::current;
  registry["shop"].current = "a";
  registry["shop"].builds.push_back(build);
  const std::string text = encode_registry(registry);
  CHECK(text.find("\"shop-a.prod.svc.cluster.local:3000\"") != std::string::npos);
  std::string error;
  const auto decoded = decode_registry(text, error);
  REQUIRE(decoded.has_value());
  CHECK(decoded->at("shop").builds.at(0).upstreams == build.upstreams);
  CHECK(decoded->at("shop").builds.at(0).upstreams.at(0).is_name());
}

}  // namespace
}  // namespace sg::routing
