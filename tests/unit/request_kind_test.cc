// Classification (design.md section 3) over header sets captured from
// Next.js 15.1.6 / 15.3 and 16.4.6 in Chromium, and @lazarv/react-server.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "routing/request_kind.h"

using sg::conf::ActionsConfig;
using sg::conf::AppConfig;
using sg::routing::ActionClient;
using sg::routing::classify;
using sg::routing::HeaderField;
using sg::routing::needs_body_peek;
using sg::routing::RequestKind;
using sg::routing::RequestView;

namespace {

constexpr const char* kUa =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
constexpr const char* kTree =
    "%5B%22%22%2C%7B%22children%22%3A%5B%22cart%22%2C%7B%22children%22%3A%5B%22__PAGE__%22%2C%7B%7D%2Cnull%2Cnull%5D%"
    "7D%2Cnull%2Cnull%5D%7D%2Cnull%2Cnull%2Ctrue%5D";
constexpr const char* kActionId = "7f8a1c2e9b3d4f5a6e7c8b9a0d1e2f3a4b5c6d7e8f";

struct Row {
  const char* name;
  const char* method;
  const char* target;
  std::vector<HeaderField> headers;
  const char* body;
  RequestKind kind;
  ActionClient client;
  const char* action_id;
  bool prefetch;
  bool wants_json;
};

}  // namespace

TEST_CASE("to_string(RequestKind)") {
  CHECK(std::string(to_string(RequestKind::upgrade)) == "upgrade");
  CHECK(std::string(to_string(RequestKind::action)) == "action");
  CHECK(std::string(to_string(RequestKind::rsc)) == "rsc");
  CHECK(std::string(to_string(RequestKind::asset)) == "asset");
  CHECK(std::string(to_string(RequestKind::document)) == "document");
  CHECK(std::string(to_string(RequestKind::other)) == "other");
}

TEST_CASE("classify: captured requests, first match wins") {
  AppConfig app;  // default asset_prefixes and actions
  const std::string multipart =
      "------WebKitFormBoundaryq8Zt1MrDkR3xWb2Y\r\n"
      "Content-Disposition: form-data; name=\"$ACTION_ID_" + std::string(kActionId) + "\"\r\n\r\n\r\n"
      "------WebKitFormBoundaryq8Zt1MrDkR3xWb2Y\r\n"
      "Content-Disposition: form-data; name=\"quantity\"\r\n\r\n2\r\n"
      "------WebKitFormBoundaryq8Zt1MrDkR3xWb2Y--\r\n";
  const std::vector<Row> rows = {
      {"next 15 document (navigate)",
       "GET",
       "/cart",
       {{"Host", "shop.example.com"},
        {"Connection", "keep-alive"},
        {"Upgrade-Insecure-Requests", "1"},
        {"User-Agent", kUa},
        {"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"},
        {"Sec-Fetch-Site", "none"},
        {"Sec-Fetch-Mode", "navigate"},
        {"Sec-Fetch-Dest", "document"},
        {"Accept-Encoding", "gzip, deflate, br, zstd"}},
       "",
       RequestKind::document,
       ActionClient::none,
       "",
       false,
       false},
      {"HEAD asking for HTML is a document", "HEAD", "/", {{"Host", "shop.example.com"}, {"Accept", "text/html"}}, "",
       RequestKind::document, ActionClient::none, "", false, false},
      {"bare HEAD is other", "HEAD", "/", {{"Host", "shop.example.com"}}, "", RequestKind::other, ActionClient::none,
       "", false, false},
      {"next 15.1 rsc navigation (capitalised names)",
       "GET",
       "/cart?_rsc=1ld7r",
       {{"Host", "shop.example.com"},
        {"Next-Router-State-Tree", kTree},
        {"Next-Url", "/"},
        {"RSC", "1"},
        {"x-deployment-id", "dpl-a"},
        {"User-Agent", kUa},
        {"Accept", "*/*"},
        {"Sec-Fetch-Mode", "cors"},
        {"Sec-Fetch-Dest", "empty"},
        {"Referer", "http://shop.example.com/"}},
       "",
       RequestKind::rsc,
       ActionClient::none,
       "",
       false,
       false},
      {"next 15.1 rsc prefetch",
       "GET",
       "/about?_rsc=acgkz",
       {{"Host", "shop.example.com"},
        {"Next-Router-Prefetch", "1"},
        {"Next-Router-State-Tree", kTree},
        {"RSC", "1"},
        {"x-deployment-id", "dpl-a"},
        {"Accept", "*/*"}},
       "",
       RequestKind::rsc,
       ActionClient::none,
       "",
       true,
       false},
      {"next 16 rsc navigation (lower case)",
       "GET",
       "/cart?_rsc=3lb4g",
       {{"host", "shop.example.com"},
        {"rsc", "1"},
        {"next-router-state-tree", kTree},
        {"next-url", "/"},
        {"x-deployment-id", "dpl-a"},
        {"accept", "*/*"},
        {"sec-fetch-mode", "cors"}},
       "",
       RequestKind::rsc,
       ActionClient::none,
       "",
       false,
       false},
      {"next 16 segment prefetch",
       "GET",
       "/about?_rsc=1q2w3",
       {{"host", "shop.example.com"},
        {"rsc", "1"},
        {"next-router-prefetch", "1"},
        {"next-router-segment-prefetch", "/_tree"},
        {"next-router-state-tree", kTree},
        {"x-deployment-id", "dpl-a"}},
       "",
       RequestKind::rsc,
       ActionClient::none,
       "",
       true,
       false},
      {"rsc: 0 is not rsc", "GET", "/p", {{"rsc", "0"}}, "", RequestKind::other, ActionClient::none, "", false,
       false},
      {"next 15.3 server action (Next-Action)",
       "POST",
       "/cart",
       {{"Host", "shop.example.com"},
        {"Content-Length", "44"},
        {"Accept", "text/x-component"},
        {"Next-Action", kActionId},
        {"Next-Router-State-Tree", kTree},
        {"Content-Type", "text/plain;charset=UTF-8"},
        {"Origin", "http://shop.example.com"},
        {"x-deployment-id", "dpl-a"},
        {"Sec-Fetch-Mode", "cors"}},
       "",
       RequestKind::action,
       ActionClient::next_js,
       kActionId,
       false,
       false},
      {"next 16 server action, multipart body",
       "POST",
       "/cart?step=2",
       {{"host", "shop.example.com"},
        {"accept", "text/x-component"},
        {"next-action", kActionId},
        {"next-router-state-tree", kTree},
        {"content-type", "multipart/form-data; boundary=----WebKitFormBoundaryq8Zt1MrDkR3xWb2Y"},
        {"origin", "http://shop.example.com"},
        {"x-deployment-id", "dpl-a"}},
       "",
       RequestKind::action,
       ActionClient::next_js,
       kActionId,
       false,
       false},
      {"no-JS form post (multipart, body peeked)",
       "POST",
       "/cart",
       {{"Host", "shop.example.com"},
        {"Content-Type", "multipart/form-data; boundary=----WebKitFormBoundaryq8Zt1MrDkR3xWb2Y"},
        {"Origin", "http://shop.example.com"},
        {"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
        {"Sec-Fetch-Mode", "navigate"}},
       multipart.c_str(),
       RequestKind::action,
       ActionClient::form_post,
       kActionId,
       false,
       false},
      {"form post without an action field is other",
       "POST",
       "/contact",
       {{"Content-Type", "application/x-www-form-urlencoded"}},
       "name=a&email=b%40c",
       RequestKind::other,
       ActionClient::none,
       "",
       false,
       false},
      {"react-server function call",
       "POST",
       "/todos/rsc.x-component",
       {{"Host", "shop.example.com"},
        {"React-Server-Action", "src%2Factions.mjs%23addTodo"},
        {"Content-Type", "multipart/form-data; boundary=----WebKitFormBoundaryAb"},
        {"Accept", "text/x-component"}},
       "",
       RequestKind::action,
       ActionClient::react_server,
       "src/actions.mjs#addTodo",
       false,
       false},
      {"react-server navigation is rsc",
       "POST",
       "/todos/rsc.x-component",
       {{"Host", "shop.example.com"}, {"Content-Type", "application/json"}, {"Accept", "text/x-component"}},
       "{}",
       RequestKind::rsc,
       ActionClient::none,
       "",
       false,
       false},
      {"next 15 static chunk",
       "GET",
       "/_next/static/chunks/app/cart/page-4f1c2a9b.js?dpl=dpl-a",
       {{"Host", "shop.example.com"}, {"Accept", "*/*"}, {"Sec-Fetch-Dest", "script"}},
       "",
       RequestKind::asset,
       ActionClient::none,
       "",
       false,
       false},
      {"next 16 image", "GET", "/_next/image?url=%2Fhero.png&w=1080&q=75&dpl=dpl-a",
       {{"Accept", "image/avif,image/webp,*/*"}}, "", RequestKind::asset, ActionClient::none, "", false, false},
      {"websocket (Chromium)",
       "GET",
       "/_next/webpack-hmr",
       {{"Host", "shop.example.com"},
        {"Connection", "Upgrade"},
        {"Upgrade", "websocket"},
        {"Sec-WebSocket-Version", "13"},
        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}},
       "",
       RequestKind::upgrade,
       ActionClient::none,
       "",
       false,
       false},
      {"websocket (Firefox token list)",
       "GET",
       "/ws",
       {{"connection", "keep-alive, Upgrade"}, {"upgrade", "WebSocket"}},
       "",
       RequestKind::upgrade,
       ActionClient::none,
       "",
       false,
       false},
      {"upgrade to h2c is not a websocket", "GET", "/", {{"Connection", "Upgrade, HTTP2-Settings"}, {"Upgrade", "h2c"}},
       "", RequestKind::other, ActionClient::none, "", false, false},
      {"upgrade header without connection token", "GET", "/", {{"Upgrade", "websocket"}, {"Accept", "text/html"}}, "",
       RequestKind::document, ActionClient::none, "", false, false},
      {"api route with JSON", "POST", "/api/orders", {{"Content-Type", "application/json"}, {"Accept", "application/json"}},
       "{}", RequestKind::other, ActionClient::none, "", false, true},
      {"OPTIONS is other", "OPTIONS", "/api/orders", {}, "", RequestKind::other, ActionClient::none, "", false, false},
      {"action wanting JSON",
       "POST",
       "/p",
       {{"next-action", "abc"}, {"Accept", "Application/JSON"}},
       "",
       RequestKind::action,
       ActionClient::next_js,
       "abc",
       false,
       true},
      {"x-component wins over json", "POST", "/p", {{"next-action", "abc"}, {"Accept", "text/x-component, application/json"}},
       "", RequestKind::action, ActionClient::next_js, "abc", false, false},
      // wants_json: a case-insensitive substring anywhere in Accept
      {"json last in a long Accept", "POST", "/p",
       {{"next-action", "abc"}, {"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,APPLICATION/Json"}},
       "", RequestKind::action, ActionClient::next_js, "abc", false, true},
      {"json cut short is not json", "POST", "/p", {{"next-action", "abc"}, {"Accept", "aapplication/jso"}}, "",
       RequestKind::action, ActionClient::next_js, "abc", false, false},
      {"json after a near miss", "POST", "/p", {{"next-action", "abc"}, {"Accept", "application/jsoapplication/json"}},
       "", RequestKind::action, ActionClient::next_js, "abc", false, true},
      {"X-Component in any case wins over json", "POST", "/p",
       {{"next-action", "abc"}, {"Accept", "application/json;q=0.1, TEXT/X-COMPONENT"}}, "", RequestKind::action,
       ActionClient::next_js, "abc", false, false},
      {"action beats rsc", "POST", "/p", {{"rsc", "1"}, {"next-action", "abc"}}, "", RequestKind::action,
       ActionClient::next_js, "abc", false, false},
      {"upgrade beats action", "GET", "/p", {{"Connection", "upgrade"}, {"Upgrade", "websocket"}, {"next-action", "x"}},
       "", RequestKind::upgrade, ActionClient::none, "", false, false},
      {"rsc beats asset", "GET", "/_next/static/x?_rsc=1", {{"rsc", "1"}}, "", RequestKind::rsc, ActionClient::none, "",
       false, false},
  };
  for (const Row& row : rows) {
    const std::string row_name = row.name;
    CAPTURE(row_name);
    RequestView view{row.method, row.target, row.headers};
    const std::string_view body = row.body;
    const auto peek = needs_body_peek(view, app.actions) ? body : std::string_view{};
    const auto got = classify(view, app, peek);
    CHECK(to_string(got.kind) == std::string(to_string(row.kind)));
    CHECK(static_cast<int>(got.action_client) == static_cast<int>(row.client));
    CHECK(got.action_id == row.action_id);
    CHECK(got.prefetch == row.prefetch);
    CHECK(got.wants_json == row.wants_json);
  }
}

TEST_CASE("needs_body_peek: POST form bodies without an action header, when enabled") {
  ActionsConfig on;
  ActionsConfig off;
  off.inspect_form_posts = false;
  ActionsConfig zero;
  zero.inspect_bytes = 0;
  struct Case {
    const char* method;
    std::vector<HeaderField> headers;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"POST", {{"Content-Type", "multipart/form-data; boundary=x"}}, true},
      {"POST", {{"content-type", "Multipart/Form-Data;boundary=x"}}, true},
      {"POST", {{"Content-Type", "application/x-www-form-urlencoded"}}, true},
      {"POST", {{"Content-Type", "application/x-www-form-urlencoded; charset=UTF-8"}}, true},
      {"POST", {{"Content-Type", "text/plain;charset=UTF-8"}}, false},
      {"POST", {{"Content-Type", "application/json"}}, false},
      {"POST", {}, false},
      {"PUT", {{"Content-Type", "multipart/form-data; boundary=x"}}, false},
      {"POST", {{"Content-Type", "multipart/form-data; boundary=x"}, {"Next-Action", "abc"}}, false},
      // React-Server-Action counts only on a flight path (see the profile
      // table): on "/" the form is peeked as if it were absent.
      {"POST", {{"Content-Type", "multipart/form-data; boundary=x"}, {"React-Server-Action", "a%23b"}}, true},
  };
  for (const Case& c : cases) {
    RequestView view{c.method, "/", c.headers};
    CAPTURE(c.method);
    CAPTURE(view.header("content-type"));
    CHECK(needs_body_peek(view, on) == c.expected);
    CHECK_FALSE(needs_body_peek(view, off));
    CHECK_FALSE(needs_body_peek(view, zero));
  }
}

TEST_CASE("classify: body peek is ignored when inspection is off or the body is not a form") {
  AppConfig app;
  app.actions.inspect_form_posts = false;
  std::vector<HeaderField> headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  RequestView view{"POST", "/cart", headers};
  CHECK(classify(view, app, "%24ACTION_ID_abc=&q=1").kind == RequestKind::other);
  app.actions.inspect_form_posts = true;
  CHECK(classify(view, app, "%24ACTION_ID_abc=&q=1").kind == RequestKind::action);
  std::vector<HeaderField> json = {{"Content-Type", "application/json"}};
  CHECK(classify(RequestView{"POST", "/cart", json}, app, "$ACTION_ID_abc=").kind == RequestKind::other);
}

TEST_CASE("classify: asset prefixes come from the app") {
  AppConfig app;
  app.asset_prefixes = {"/assets/"};
  std::vector<HeaderField> none;
  CHECK(classify(RequestView{"GET", "/assets/a.css", none}, app, "").kind == RequestKind::asset);
  CHECK(classify(RequestView{"GET", "/_next/static/a.js", none}, app, "").kind == RequestKind::other);
  CHECK(classify(RequestView{"POST", "/assets/a.css", none}, app, "").kind == RequestKind::asset);
  // The query is not part of the path.
  CHECK(classify(RequestView{"GET", "/x?/assets/", none}, app, "").kind == RequestKind::other);
}

TEST_CASE("classify: react-server IDs are URL-decoded; a malformed escape keeps the raw value") {
  AppConfig app;
  std::vector<HeaderField> encoded = {{"React-Server-Action", "%2Fsrc%2Fapp%2Factions.ts%23submit"}};
  CHECK(classify(RequestView{"POST", "/rsc.x-component", encoded}, app, "").action_id == "/src/app/actions.ts#submit");
  std::vector<HeaderField> token = {{"react-server-action", "eyJ0eXAi.ab+cd"}};
  CHECK(classify(RequestView{"POST", "/rsc.x-component", token}, app, "").action_id == "eyJ0eXAi.ab+cd");
  std::vector<HeaderField> malformed = {{"React-Server-Action", "a%zzb"}};
  CHECK(classify(RequestView{"POST", "/rsc.x-component", malformed}, app, "").action_id == "a%zzb");
}

// Issue 14: a document is a navigation and nothing else (design.md section 3).
// Header sets as Chromium 131 / Firefox 133 / Safari 18 send them, and as
// script, crawlers and old clients do.
TEST_CASE("classify: documents are navigations, every other GET/HEAD/OPTIONS is other") {
  AppConfig app;
  struct Case {
    const char* name;
    const char* method;
    std::vector<HeaderField> headers;
    RequestKind kind;
  };
  const char* html_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
  const std::vector<Case> cases = {
      // Fetch Metadata decides when present.
      {"top-level navigation (Chromium)", "GET",
       {{"Accept", html_accept}, {"Sec-Fetch-Site", "none"}, {"Sec-Fetch-Mode", "navigate"},
        {"Sec-Fetch-User", "?1"}, {"Sec-Fetch-Dest", "document"}},
       RequestKind::document},
      {"navigate without a dest", "GET", {{"Sec-Fetch-Mode", "navigate"}}, RequestKind::document},
      {"navigate in any case", "GET", {{"sec-fetch-mode", "Navigate"}}, RequestKind::document},
      {"navigate without Accept", "GET", {{"Sec-Fetch-Mode", "navigate"}, {"Sec-Fetch-Dest", "document"}},
       RequestKind::document},
      {"iframe (mode navigate)", "GET", {{"Sec-Fetch-Mode", "navigate"}, {"Sec-Fetch-Dest", "iframe"}},
       RequestKind::document},
      {"dest iframe alone", "GET", {{"Sec-Fetch-Dest", "iframe"}}, RequestKind::document},
      {"dest frame alone", "GET", {{"Sec-Fetch-Dest", "frame"}}, RequestKind::document},
      {"dest document alone", "GET", {{"Sec-Fetch-Dest", "document"}}, RequestKind::document},
      {"HEAD navigation", "HEAD", {{"Sec-Fetch-Mode", "navigate"}}, RequestKind::document},
      {"navigation naming a build by header (never from a browser): still a document", "GET",
       {{"Sec-Fetch-Mode", "navigate"}, {"x-deployment-id", "dpl-a"}}, RequestKind::document},
      {"fetch() of a page (cors, empty)", "GET",
       {{"Accept", "*/*"}, {"Sec-Fetch-Mode", "cors"}, {"Sec-Fetch-Dest", "empty"}, {"Sec-Fetch-Site", "same-origin"}},
       RequestKind::other},
      {"fetch() asking for HTML is still script", "GET",
       {{"Accept", "text/html"}, {"Sec-Fetch-Mode", "cors"}, {"Sec-Fetch-Dest", "empty"}}, RequestKind::other},
      {"fetch() with x-deployment-id", "GET",
       {{"Accept", "*/*"}, {"Sec-Fetch-Mode", "cors"}, {"x-deployment-id", "dpl-a"}}, RequestKind::other},
      {"favicon (Chromium)", "GET",
       {{"Accept", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"}, {"Sec-Fetch-Mode", "no-cors"},
        {"Sec-Fetch-Dest", "image"}},
       RequestKind::other},
      {"script tag", "GET", {{"Accept", "*/*"}, {"Sec-Fetch-Mode", "no-cors"}, {"Sec-Fetch-Dest", "script"}},
       RequestKind::other},
      {"stylesheet", "GET", {{"Accept", "text/css,*/*;q=0.1"}, {"Sec-Fetch-Dest", "style"}}, RequestKind::other},
      {"service worker script", "GET", {{"Sec-Fetch-Mode", "same-origin"}, {"Sec-Fetch-Dest", "serviceworker"}},
       RequestKind::other},
      {"a Sec-Fetch-Site alone means a browser that did not say navigate", "GET",
       {{"Accept", "text/html"}, {"Sec-Fetch-Site", "same-origin"}}, RequestKind::other},
      {"websocket-less dest 'empty' with text/html", "GET", {{"Accept", "text/html"}, {"Sec-Fetch-Dest", "empty"}},
       RequestKind::other},
      {"unknown Sec-Fetch-* header counts as Fetch Metadata", "GET",
       {{"Accept", "text/html"}, {"Sec-Fetch-Storage-Access", "none"}}, RequestKind::other},
      {"a header merely starting like it does not", "GET", {{"Accept", "text/html"}, {"Sec-Fetch", "navigate"}},
       RequestKind::document},
      {"dest 'documents' is not document", "GET", {{"Sec-Fetch-Dest", "documents"}}, RequestKind::other},
      {"mode 'navigate2' is not navigate", "GET", {{"Sec-Fetch-Mode", "navigate2"}}, RequestKind::other},
      // Without Fetch Metadata: Accept names text/html and no x-deployment-id.
      {"old browser navigation", "GET", {{"Accept", html_accept}}, RequestKind::document},
      {"Accept text/html alone", "GET", {{"Accept", "text/html"}}, RequestKind::document},
      {"Accept TEXT/HTML with parameters", "GET", {{"Accept", "TEXT/HTML ;level=1;q=0.5"}}, RequestKind::document},
      {"Accept in a second field", "GET", {{"Accept", "application/xml"}, {"Accept", "text/html"}},
       RequestKind::document},
      {"text/html refused with q=0", "GET", {{"Accept", "text/html;q=0, */*"}}, RequestKind::other},
      {"text/html refused with q=0.000", "GET", {{"Accept", "text/html; q=0.000"}}, RequestKind::other},
      {"text/html with q=0.001 is accepted", "GET", {{"Accept", "text/html;q=0.001"}}, RequestKind::document},
      {"text/html with Q=1", "GET", {{"Accept", "text/html;Q=1"}}, RequestKind::document},
      {"Accept text/html with x-deployment-id: script", "GET", {{"Accept", "text/html"}, {"x-deployment-id", "dpl-a"}},
       RequestKind::other},
      {"Accept text/html with an empty x-deployment-id: script", "GET",
       {{"Accept", "text/html"}, {"x-deployment-id", ""}}, RequestKind::other},
      {"Accept text/html with x_deployment_id (not the header)", "GET",
       {{"Accept", "text/html"}, {"x_deployment_id", "dpl-a"}}, RequestKind::document},
      {"bare GET (curl, favicon of an old client)", "GET", {}, RequestKind::other},
      {"Accept */*", "GET", {{"Accept", "*/*"}}, RequestKind::other},
      {"Accept text/*", "GET", {{"Accept", "text/*"}}, RequestKind::other},
      {"Accept application/xhtml+xml alone", "GET", {{"Accept", "application/xhtml+xml"}}, RequestKind::other},
      {"Accept text/htmlx", "GET", {{"Accept", "text/htmlx"}}, RequestKind::other},
      {"Accept application/json (API GET)", "GET", {{"Accept", "application/json"}}, RequestKind::other},
      {"HEAD asking for HTML", "HEAD", {{"Accept", "text/html"}}, RequestKind::document},
      // Only GET and HEAD load documents.
      {"OPTIONS preflight", "OPTIONS",
       {{"Access-Control-Request-Method", "POST"}, {"Sec-Fetch-Mode", "cors"}, {"Accept", "*/*"}},
       RequestKind::other},
      {"OPTIONS asking for HTML", "OPTIONS", {{"Accept", "text/html"}}, RequestKind::other},
      {"POST form navigation without an action field", "POST",
       {{"Accept", html_accept}, {"Sec-Fetch-Mode", "navigate"}, {"Content-Type", "text/plain"}}, RequestKind::other},
      {"PUT asking for HTML", "PUT", {{"Accept", "text/html"}}, RequestKind::other},
      {"lower-case get is no GET", "get", {{"Accept", "text/html"}}, RequestKind::other},
  };
  for (const Case& c : cases) {
    const std::string case_name = c.name;
    CAPTURE(case_name);
    const auto got = classify(RequestView{c.method, "/page", c.headers}, app, "");
    CHECK(std::string(to_string(got.kind)) == to_string(c.kind));
  }
}

// Issue 15: the app's framework profile decides which shapes count. One row
// per shape, its classification under next / react-server / auto.
TEST_CASE("classify: framework profiles x request shapes") {
  using sg::conf::Framework;
  using sg::routing::RequestFramework;
  struct Expect {
    RequestKind kind;
    RequestFramework framework;
    ActionClient client;
    const char* action_id;
  };
  struct Shape {
    const char* name;
    const char* method;
    const char* target;
    std::vector<HeaderField> headers;
    const char* body;
    Expect next, react_server, auto_detect;
  };
  const Expect other{RequestKind::other, RequestFramework::none, ActionClient::none, ""};
  const Expect document{RequestKind::document, RequestFramework::none, ActionClient::none, ""};
  const Expect next_action{RequestKind::action, RequestFramework::next, ActionClient::next_js, "abc"};
  const Expect next_rsc{RequestKind::rsc, RequestFramework::next, ActionClient::none, ""};
  const Expect rs_action{RequestKind::action, RequestFramework::react_server, ActionClient::react_server,
                         "/app/src/actions.mjs#add"};
  const Expect rs_nav{RequestKind::rsc, RequestFramework::react_server, ActionClient::none, ""};
  const Expect form_next{RequestKind::action, RequestFramework::next, ActionClient::form_post, "/app/src/a.mjs#f"};
  const Expect form_rs{RequestKind::action, RequestFramework::react_server, ActionClient::form_post,
                       "/app/src/a.mjs#f"};
  const Expect form_auto{RequestKind::action, RequestFramework::none, ActionClient::form_post, "/app/src/a.mjs#f"};
  const std::vector<HeaderField> rs_call = {{"React-Server-Action", "%2Fapp%2Fsrc%2Factions.mjs%23add"},
                                            {"Accept", "text/x-component"},
                                            {"Content-Type", "text/plain;charset=UTF-8"}};
  const std::string form_body = "------b\r\nContent-Disposition: form-data; name=\"$ACTION_ID_/app/src/a.mjs#f\"\r\n\r\n"
                                "\r\n------b--\r\n";
  const std::vector<Shape> shapes = {
      {"next-action", "POST", "/cart", {{"next-action", "abc"}, {"Accept", "text/x-component"}}, "", next_action,
       other, next_action},
      {"rsc: 1 GET", "GET", "/cart?_rsc=x", {{"rsc", "1"}}, "", next_rsc, other, next_rsc},
      {"react-server call", "POST", "/todos/rsc.x-component", rs_call, "", other, rs_action, rs_action},
      {"react-server call on an outlet", "POST", "/todos/@side.rsc.x-component", rs_call, "", other, rs_action,
       rs_action},
      {"react-server call at the root", "POST", "/rsc.x-component", rs_call, "", other, rs_action, rs_action},
      {"react-server call with a query", "POST", "/todos/rsc.x-component?x=1", rs_call, "", other, rs_action,
       rs_action},
      {"react-server navigation", "POST", "/todos/rsc.x-component",
       {{"Accept", "text/x-component"}, {"Content-Type", "application/json"}}, "{}", other, rs_nav, rs_nav},
      // A header alone never makes an action: not on a page, an API path, a
      // GET of the flight path, or a path that only contains the suffix.
      {"header on a page path", "POST", "/todos", rs_call, "", other, other, other},
      {"header on an API path", "POST", "/api/pay", rs_call, "", other, other, other},
      {"header on a GET of the flight path", "GET", "/todos/rsc.x-component", rs_call, "", other, other, other},
      {"header on a document GET", "GET", "/todos",
       {{"React-Server-Action", "x"}, {"Sec-Fetch-Mode", "navigate"}, {"Sec-Fetch-Dest", "document"}}, "", document,
       document, document},
      {"suffix in the query only", "POST", "/todos?p=rsc.x-component", rs_call, "", other, other, other},
      {"suffix not at the end", "POST", "/todos/rsc.x-component/x", rs_call, "", other, other, other},
      {"GET of the flight path", "GET", "/todos/rsc.x-component", {{"Accept", "text/x-component"}}, "", other, other,
       other},
      {"no-JS form post", "POST", "/todos",
       {{"Content-Type", "multipart/form-data; boundary=----b"}}, form_body.c_str(), form_next, form_rs, form_auto},
      // The react-server header on a page path hides nothing: the form is
      // still peeked and its `$ACTION_ID_` decides.
      {"no-JS form post with the header on a page path", "POST", "/todos",
       {{"Content-Type", "multipart/form-data; boundary=----b"}, {"React-Server-Action", "other%23id"}},
       form_body.c_str(), form_next, form_rs, form_auto},
      // Under react-server, next-action is nothing: the form decides.
      {"no-JS form post with next-action", "POST", "/todos",
       {{"Content-Type", "multipart/form-data; boundary=----b"}, {"next-action", "abc"}}, form_body.c_str(),
       next_action, form_rs, next_action},
  };
  for (const Shape& shape : shapes) {
    for (const auto& [framework, expect] : std::vector<std::pair<Framework, Expect>>{
             {Framework::next, shape.next}, {Framework::react_server, shape.react_server},
             {Framework::auto_detect, shape.auto_detect}}) {
      CAPTURE(shape.name);
      CAPTURE(sg::conf::to_string(framework));
      AppConfig app;
      app.framework = framework;
      RequestView view{shape.method, shape.target, shape.headers};
      const std::string_view body = shape.body;
      const auto peek = needs_body_peek(view, app) ? body : std::string_view{};
      const auto got = classify(view, app, peek);
      CHECK(to_string(got.kind) == std::string(to_string(expect.kind)));
      CHECK(std::string(to_string(got.framework)) == to_string(expect.framework));
      CHECK(static_cast<int>(got.action_client) == static_cast<int>(expect.client));
      CHECK(got.action_id == expect.action_id);
    }
  }
}

TEST_CASE("to_string(RequestFramework) and is_react_server_flight_path") {
  using sg::routing::RequestFramework;
  CHECK(std::string(to_string(RequestFramework::none)) == "none");
  CHECK(std::string(to_string(RequestFramework::next)) == "next");
  CHECK(std::string(to_string(RequestFramework::react_server)) == "react-server");
  CHECK(sg::routing::is_react_server_flight_path("/rsc.x-component"));
  CHECK(sg::routing::is_react_server_flight_path("/a/b/@out.rsc.x-component"));
  CHECK_FALSE(sg::routing::is_react_server_flight_path("/a/rsc.x-component/"));
  CHECK_FALSE(sg::routing::is_react_server_flight_path("/a/RSC.X-COMPONENT"));
  CHECK_FALSE(sg::routing::is_react_server_flight_path("/a/rsc%2Ex-component"));
}
