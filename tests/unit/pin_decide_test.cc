// skew::decide with signed pins (design.md sections 4 to 7): resolution step 3,
// which pinned builds a document may load, the Set-Cookie a document gets,
// preview links and the origin check for actions.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "skew/decide.h"
#include "skew/pin_cookie.h"

using sg::conf::AppConfig;
using sg::conf::BuildConfig;
using sg::conf::BuildState;
using sg::conf::CanaryConfig;
using sg::conf::Config;
using sg::conf::SocketAddress;
using sg::routing::ClientBuildSource;
using sg::routing::HeaderField;
using sg::routing::RequestView;
using sg::routing::Snapshot;
using sg::skew::decide;
using sg::skew::DecisionInput;
using sg::skew::Outcome;
using sg::skew::Pin;
using sg::skew::PinKeyring;
using sg::skew::PinResult;
using sg::skew::Verdict;

namespace {

constexpr std::int64_t kNowMs = 1'800'000'000'000;  // 2027
constexpr std::int64_t kNowS = kNowMs / 1000;
constexpr std::int64_t kWeek = 7 * 24 * 3600;
const std::string kSecret = "0123456789abcdef0123456789abcdef-current";
const std::string kOldSecret = "0123456789abcdef0123456789abcdef-previous";
const std::string kOtherSecret = "0123456789abcdef0123456789abcdef-attacker";

BuildConfig build(const char* id, const char* address, std::optional<BuildState> state = std::nullopt) {
  return BuildConfig{id, {SocketAddress::parse(address).value()}, "", {}, state};
}

struct Options {
  std::optional<CanaryConfig> canary;
  bool check_origin = true;
  std::vector<std::string> allowed_origins;
};

// dpl-a retained, dpl-b current, dpl-c preview, dpl-0 retired, dpl-k retained
// (the canary when one is configured).
std::shared_ptr<const Snapshot> shop(const Options& options = {}) {
  AppConfig shop;
  shop.name = "shop";
  shop.hosts = {"shop.example.com"};
  shop.current = "dpl-b";
  shop.builds = {build("dpl-a", "127.0.0.1:3001"), build("dpl-k", "127.0.0.1:3006"),
                 build("dpl-b", "127.0.0.1:3002"), build("dpl-c", "127.0.0.1:3004", BuildState::preview),
                 build("dpl-0", "127.0.0.1:3000", BuildState::retired)};
  shop.canary = options.canary;
  shop.security.check_origin = options.check_origin;
  shop.security.allowed_origins = options.allowed_origins;
  AppConfig blog;
  blog.name = "blog";
  blog.hosts = {"blog.example.com"};
  blog.current = "b-1";
  blog.builds = {build("b-1", "127.0.0.1:4001")};
  Config config;
  config.apps = {shop, blog};
  std::vector<std::string> errors;
  auto snapshot = Snapshot::create(std::move(config), errors);
  REQUIRE(errors.empty());
  return snapshot;
}

const PinKeyring& keyring() {
  static const PinKeyring ring({kSecret, kOldSecret});
  return ring;
}

std::string pin_for(const char* build, const char* app = "shop", const PinKeyring& ring = keyring(),
                    std::int64_t issued = kNowS - 60, std::int64_t expires = kNowS + kWeek) {
  return ring.seal(Pin{app, build, issued, expires, Pin::Kind::pin});
}

struct Request {
  const char* method = "GET";
  const char* target = "/";
  std::vector<HeaderField> headers;
  bool secure = false;
  bool trusted = false;
  const char* host = "shop.example.com";
  const PinKeyring* ring = &keyring();
};

Verdict run(const Snapshot& snapshot, Request r) {
  r.headers.insert(r.headers.begin(), HeaderField{"Host", r.host});
  const RequestView view{r.method, r.target, r.headers};
  DecisionInput input{view};
  input.client_address = "203.0.113.9";
  input.now_ms = kNowMs;
  input.keyring = r.ring;
  input.downstream_secure = r.secure;
  input.peer_trusted = r.trusted;
  return decide(input, snapshot);
}

// A browser navigation (design.md section 3): only documents are pinned.
const HeaderField kNavigate{"Sec-Fetch-Mode", "navigate"};

HeaderField cookie(const std::string& value) { return {"Cookie", "theme=dark; skewgate_pin=" + value}; }

// The build a Set-Cookie value pins, or "" when it does not open.
std::string pinned_by(const std::string& set_cookie, const char* app = "shop") {
  const std::size_t eq = set_cookie.find('=');
  const std::size_t semi = set_cookie.find(';');
  if (eq == std::string::npos || semi == std::string::npos) return "";
  const auto opened = keyring().open(set_cookie.substr(eq + 1, semi - eq - 1), app, kNowS);
  return opened.result == PinResult::valid ? opened.pin.build : "";
}

const char* target_of(const Verdict& v) { return v.target ? v.target->id.c_str() : "-"; }

}  // namespace

TEST_CASE("pins: step 3 sits below header and dpl, above the action manifest and current") {
  auto snapshot = shop();
  const std::string pin_a = pin_for("dpl-a");
  struct Row {
    const char* name;
    Request request;
    const char* target;
    ClientBuildSource source;
  };
  const std::vector<Row> rows = {
      {"header wins over the pin", {"POST", "/api/x", {cookie(pin_a), {"x-deployment-id", "dpl-b"}}}, "dpl-b",
       ClientBuildSource::header},
      {"dpl wins over the pin", {"GET", "/_next/static/a.js?dpl=dpl-b", {cookie(pin_a)}}, "dpl-b",
       ClientBuildSource::query},
      {"pin names the build of an asset without dpl", {"GET", "/_next/static/a.js", {cookie(pin_a)}}, "dpl-a",
       ClientBuildSource::pin},
      {"no-JS form post follows its pin", {"POST", "/form", {cookie(pin_a), {"next-action", "abc123"}}}, "dpl-a",
       ClientBuildSource::pin},
      {"rsc without a header follows its pin", {"GET", "/p?_rsc=1", {cookie(pin_a), {"rsc", "1"}}}, "dpl-a",
       ClientBuildSource::pin},
      {"other follows its pin", {"POST", "/api/hook", {cookie(pin_a)}}, "dpl-a", ClientBuildSource::pin},
      {"an API GET (fetch) follows its pin", {"GET", "/api/x", {cookie(pin_a), {"Sec-Fetch-Mode", "cors"}}}, "dpl-a",
       ClientBuildSource::pin},
      {"a bare GET follows its pin", {"GET", "/api/x", {cookie(pin_a)}}, "dpl-a", ClientBuildSource::pin},
      {"the favicon follows its pin",
       {"GET", "/favicon.ico", {cookie(pin_a), {"Sec-Fetch-Dest", "image"}, {"Accept", "image/*"}}}, "dpl-a",
       ClientBuildSource::pin},
      {"the pin wins over __vdpl", {"POST", "/api/hook", {{"Cookie", "__vdpl=dpl-k; skewgate_pin=" + pin_a}}},
       "dpl-a", ClientBuildSource::pin},
      {"header wins over pin and __vdpl",
       {"POST", "/api/x", {cookie(pin_a), {"Cookie", "__vdpl=dpl-k"}, {"x-deployment-id", "dpl-b"}}}, "dpl-b",
       ClientBuildSource::header},
      {"__vdpl without a pin", {"POST", "/api/hook", {{"Cookie", "__vdpl=dpl-k"}}}, "dpl-k",
       ClientBuildSource::vdpl_cookie},
      {"__vdpl naming the preview build: never", {"POST", "/api/hook", {{"Cookie", "__vdpl=dpl-c"}}}, "dpl-b",
       ClientBuildSource::current},
      {"no pin: current", {"POST", "/api/hook", {}}, "dpl-b", ClientBuildSource::current},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    const Verdict v = run(*snapshot, row.request);
    CHECK(std::string(target_of(v)) == row.target);
    CHECK(v.client_build.source == row.source);
    CHECK(v.set_cookie.empty());  // only documents are pinned
  }
}

TEST_CASE("pins: which pinned builds a document loads") {
  struct Row {
    const char* name;
    const char* pinned;
    bool canary;
    const char* target;
    const char* new_pin;  // "" = no Set-Cookie
  };
  const std::vector<Row> rows = {
      {"current: stays, no new cookie", "dpl-b", false, "dpl-b", ""},
      {"preview: loads it", "dpl-c", false, "dpl-c", ""},
      {"retained: a reload lands on current, re-pinned", "dpl-a", false, "dpl-b", "dpl-b"},
      {"retired: current, re-pinned", "dpl-0", false, "dpl-b", "dpl-b"},
      {"unknown build: current, re-pinned", "dpl-gone", false, "dpl-b", "dpl-b"},
      {"canary while configured: stays on it", "dpl-k", true, "dpl-k", ""},
      {"canary removed: back to current, re-pinned", "dpl-k", false, "dpl-b", "dpl-b"},
      {"current while a canary runs: stays on current", "dpl-b", true, "dpl-b", ""},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    Options options;
    // percent 0: only a pin keeps a visitor on the canary.
    if (row.canary) options.canary = CanaryConfig{"dpl-k", 0};
    auto snapshot = shop(options);
    const Verdict v = run(*snapshot, {"GET", "/page", {kNavigate, cookie(pin_for(row.pinned))}});
    REQUIRE(v.pin_result.has_value());
    CHECK(*v.pin_result == PinResult::valid);
    CHECK(v.client_build.source == ClientBuildSource::pin);
    CHECK(std::string(target_of(v)) == row.target);
    CHECK(pinned_by(v.set_cookie) == row.new_pin);
    CHECK(!v.answer);
  }
}

TEST_CASE("pins: a new visitor is pinned to the build the document is served by") {
  SUBCASE("current") {
    auto snapshot = shop();
    const Verdict v = run(*snapshot, {"GET", "/", {kNavigate}});
    CHECK(!v.pin_result);
    CHECK(std::string(target_of(v)) == "dpl-b");
    CHECK(pinned_by(v.set_cookie) == "dpl-b");
  }
  SUBCASE("the canary cohort, then sticky by pin") {
    Options options;
    options.canary = CanaryConfig{"dpl-k", 100};
    auto snapshot = shop(options);
    const Verdict first = run(*snapshot, {"GET", "/", {kNavigate}});
    CHECK(std::string(target_of(first)) == "dpl-k");
    CHECK(pinned_by(first.set_cookie) == "dpl-k");
    // The cohort shrinks to nobody: the pinned visitor stays.
    options.canary = CanaryConfig{"dpl-k", 0};
    auto shrunk = shop(options);
    const std::string value = first.set_cookie.substr(13, first.set_cookie.find(';') - 13);
    const Verdict again = run(*shrunk, {"GET", "/", {kNavigate, cookie(value)}});
    CHECK(std::string(target_of(again)) == "dpl-k");
    CHECK(again.set_cookie.empty());
    // Actions and RSC of the canary page follow the pin too.
    const Verdict action = run(*shrunk, {"POST", "/", {cookie(value), {"next-action", "abc"}}});
    CHECK(std::string(target_of(action)) == "dpl-k");
    // A new visitor now gets current.
    CHECK(std::string(target_of(run(*shrunk, {"GET", "/", {kNavigate}}))) == "dpl-b");
  }
  SUBCASE("no keyring: no pins read or set") {
    auto snapshot = shop();
    Request r{"GET", "/page", {kNavigate, cookie(pin_for("dpl-c"))}};
    r.ring = nullptr;
    const Verdict v = run(*snapshot, r);
    CHECK(std::string(target_of(v)) == "dpl-b");
    CHECK(v.set_cookie.empty());
    CHECK(!v.pin_result);
  }
  SUBCASE("an unhealthy current answers 503 without a cookie") {
    auto snapshot = shop();
    const_cast<sg::routing::Build*>(snapshot->apps()[0].current)->healthy = false;
    const Verdict v = run(*snapshot, {"GET", "/", {kNavigate}});
    REQUIRE(v.answer);
    CHECK(v.answer->status == 503);
    CHECK(v.set_cookie.empty());
  }
}

TEST_CASE("pins: Set-Cookie attributes") {
  auto snapshot = shop();
  const Verdict plain = run(*snapshot, {"GET", "/", {kNavigate}});
  const std::string prefix = "skewgate_pin=";
  REQUIRE(plain.set_cookie.starts_with(prefix));
  const std::string value = plain.set_cookie.substr(prefix.size(), plain.set_cookie.find(';') - prefix.size());
  CHECK(plain.set_cookie == sg::skew::pin_set_cookie("skewgate_pin", value, kWeek, false));
  CHECK(plain.set_cookie.find("Path=/") != std::string::npos);
  CHECK(plain.set_cookie.find("HttpOnly") != std::string::npos);
  CHECK(plain.set_cookie.find("SameSite=Lax") != std::string::npos);
  CHECK(plain.set_cookie.find("Max-Age=604800") != std::string::npos);
  CHECK(plain.set_cookie.find("Secure") == std::string::npos);
  const auto opened = keyring().open(value, "shop", kNowS);
  REQUIRE(opened.result == PinResult::valid);
  CHECK(opened.pin.issued_at_s == kNowS);
  CHECK(opened.pin.expires_at_s == kNowS + kWeek);

  Request secure{"GET", "/", {kNavigate}};
  secure.secure = true;
  CHECK(run(*snapshot, secure).set_cookie.ends_with("; Secure"));
}

TEST_CASE("pins: forged, tampered, expired, foreign and unknown-key pins are ignored and counted") {
  Options options;
  auto snapshot = shop(options);
  std::string tampered = pin_for("dpl-a");
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  const PinKeyring attacker({kOtherSecret});
  const PinKeyring old_only({kOldSecret});
  struct Row {
    const char* name;
    std::string value;
    std::optional<PinResult> result;
  };
  const std::vector<Row> rows = {
      {"forged for the preview build (unknown key)", pin_for("dpl-c", "shop", attacker), PinResult::unknown_key},
      {"tampered", tampered, PinResult::tampered},
      {"expired", pin_for("dpl-c", "shop", keyring(), kNowS - 2 * kWeek, kNowS - 1), PinResult::expired},
      {"other app's pin", pin_for("dpl-c", "blog"), PinResult::foreign_app},
      {"garbage", "not-a-pin", PinResult::malformed},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    const Verdict doc = run(*snapshot, {"GET", "/", {kNavigate, cookie(row.value)}});
    REQUIRE(doc.pin_result.has_value());
    CHECK(*doc.pin_result == *row.result);
    CHECK(!doc.answer);  // never a 4xx
    CHECK(std::string(target_of(doc)) == "dpl-b");
    CHECK(doc.client_build.source == ClientBuildSource::current);
    CHECK(pinned_by(doc.set_cookie) == "dpl-b");
    // Nor can a non-document reach the preview build with it.
    const Verdict asset = run(*snapshot, {"GET", "/_next/static/x.js", {cookie(row.value)}});
    CHECK(std::string(target_of(asset)) == "dpl-b");
  }
  SUBCASE("a pin sealed by a previous secret still verifies") {
    const Verdict v = run(*snapshot, {"GET", "/", {kNavigate, cookie(pin_for("dpl-c", "shop", old_only))}});
    CHECK(*v.pin_result == PinResult::valid);
    CHECK(std::string(target_of(v)) == "dpl-c");
  }
  SUBCASE("a preview link token is no pin") {
    const std::string token = keyring().seal(Pin{"shop", "dpl-c", kNowS, kNowS + 3600, Pin::Kind::preview});
    const Verdict v = run(*snapshot, {"GET", "/", {kNavigate, cookie(token)}});
    CHECK(*v.pin_result == PinResult::tampered);
    CHECK(std::string(target_of(v)) == "dpl-b");
  }
  SUBCASE("preview builds: never by header or dpl, by pin for every kind") {
    const Verdict header = run(*snapshot, {"POST", "/api", {{"x-deployment-id", "dpl-c"}}});
    CHECK(header.reason == sg::metrics::Reason::build_unknown);
    const Verdict pinned = run(*snapshot, {"POST", "/api", {cookie(pin_for("dpl-c"))}});
    CHECK(std::string(target_of(pinned)) == "dpl-c");
    CHECK(pinned.outcome == Outcome::served);
  }
}

TEST_CASE("pins: the cookie name comes from the config and may be in any Cookie header") {
  auto snapshot = shop();
  const Verdict v = run(*snapshot, {"GET", "/", {kNavigate, {"Cookie", "a=1"}, {"Cookie", "skewgate_pin=" + pin_for("dpl-c")}}});
  CHECK(std::string(target_of(v)) == "dpl-c");
}

TEST_CASE("preview link: 302 to the clean URL with a pin for the preview build") {
  auto snapshot = shop();
  const std::string token = keyring().seal(Pin{"shop", "dpl-c", kNowS, kNowS + 3600, Pin::Kind::preview});
  struct Row {
    std::string target;
    const char* location;
  };
  const std::vector<Row> rows = {
      {"/?skewgate_preview=" + token, "/"},
      {"/shop/item?a=1&skewgate_preview=" + token + "&b=2", "/shop/item?a=1&b=2"},
      {"/x?skewgate_preview=" + token, "/x"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.target);
    const Verdict v = run(*snapshot, {"GET", row.target.c_str(), {kNavigate}});
    REQUIRE(v.answer);
    CHECK(v.answer->status == 302);
    CHECK(v.outcome == Outcome::answered);
    CHECK(v.reason == sg::metrics::Reason::preview_link);
    const auto& h = v.answer->headers;
    CHECK(std::find(h.begin(), h.end(), std::pair<std::string, std::string>{"location", row.location}) != h.end());
    CHECK(std::find(h.begin(), h.end(), std::pair<std::string, std::string>{"cache-control", "no-store"}) != h.end());
    CHECK(pinned_by(v.set_cookie) == "dpl-c");
  }
  SUBCASE("invalid, expired, pin-kind or other-app tokens are ignored") {
    const std::vector<std::string> bad = {
        "junk",
        keyring().seal(Pin{"shop", "dpl-c", kNowS - 7200, kNowS - 1, Pin::Kind::preview}),
        pin_for("dpl-c"),
        keyring().seal(Pin{"blog", "b-1", kNowS, kNowS + 3600, Pin::Kind::preview}),
        PinKeyring({kOtherSecret}).seal(Pin{"shop", "dpl-c", kNowS, kNowS + 3600, Pin::Kind::preview}),
    };
    for (const std::string& t : bad) {
      const std::string target = "/?skewgate_preview=" + t;
      const Verdict v = run(*snapshot, {"GET", target.c_str(), {kNavigate}});
      CHECK(!v.answer);
      CHECK(std::string(target_of(v)) == "dpl-b");
    }
  }
  SUBCASE("only GET documents") {
    const std::string target = "/?skewgate_preview=" + token;
    CHECK(!run(*snapshot, {"POST", target.c_str()}).answer);
    // Nor a GET that is no navigation (script, an image tag).
    CHECK(!run(*snapshot, {"GET", target.c_str(), {{"Sec-Fetch-Mode", "cors"}}}).answer);
    CHECK(!run(*snapshot, {"GET", target.c_str()}).answer);
  }
}

TEST_CASE("origin check for actions") {
  struct Row {
    const char* name;
    std::vector<HeaderField> headers;
    bool trusted;
    bool rejected;
  };
  const std::vector<Row> rows = {
      {"no Origin", {}, false, false},
      {"same host", {{"Origin", "https://shop.example.com"}}, false, false},
      {"same host, any case", {{"Origin", "https://SHOP.example.com"}}, false, false},
      {"other host", {{"Origin", "https://evil.example"}}, false, true},
      {"opaque null origin", {{"Origin", "null"}}, false, false},
      {"other port", {{"Origin", "https://shop.example.com:8443"}}, false, true},
      {"default port written", {{"Origin", "https://shop.example.com:443"}}, false, false},
      {"allowed origin", {{"Origin", "https://partner.example"}}, false, false},
      {"X-Forwarded-Host of a trusted proxy",
       {{"Origin", "https://www.shop.test"}, {"X-Forwarded-Host", "www.shop.test"}}, true, false},
      {"X-Forwarded-Host of an untrusted peer",
       {{"Origin", "https://www.shop.test"}, {"X-Forwarded-Host", "www.shop.test"}}, false, true},
  };
  Options options;
  options.allowed_origins = {"https://partner.example"};
  auto snapshot = shop(options);
  for (const Row& row : rows) {
    CAPTURE(row.name);
    Request r{"POST", "/form", row.headers};
    r.headers.push_back({"next-action", "abc123"});
    r.trusted = row.trusted;
    const Verdict v = run(*snapshot, r);
    if (row.rejected) {
      REQUIRE(v.answer);
      CHECK(v.answer->status == 403);
      CHECK(v.outcome == Outcome::error);
      CHECK(v.reason == sg::metrics::Reason::origin_mismatch);
      CHECK(nlohmann::json::parse(v.answer->body)["error"] == "origin_mismatch");
      CHECK(!v.target);
    } else {
      CHECK(!v.answer);
    }
  }
  SUBCASE("only actions are checked") {
    const Verdict v = run(*snapshot, {"POST", "/api/hook", {{"Origin", "https://evil.example"}}});
    CHECK(!v.answer);
  }
  SUBCASE("check_origin: false") {
    Options off;
    off.check_origin = false;
    auto open = shop(off);
    const Verdict v =
        run(*open, {"POST", "/form", {{"Origin", "https://evil.example"}, {"next-action", "abc123"}}});
    CHECK(!v.answer);
  }
}
