#include <doctest/doctest.h>

#include <deque>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/cli/cli.h"

using namespace sg::gateway::cli;
using sg::gateway::is_cli_command;

namespace {

struct Parsed {
  bool ok = false;
  Args args;
  std::string error;
};

Parsed parse(std::vector<const char*> words, Environment env = {}) {
  std::vector<const char*> argv{"skewgate"};
  argv.insert(argv.end(), words.begin(), words.end());
  Parsed p;
  p.ok = parse_args(static_cast<int>(argv.size()), argv.data(), env, p.args, p.error);
  return p;
}

ParseStatus parse_raw(std::string_view raw, bool at_eof, HttpResponse& r) {
  std::string error;
  return parse_http_response(raw, at_eof, r, error);
}

}  // namespace

TEST_CASE("cli: the command words") {
  for (const char* word : {"builds", "deploy", "promote", "rollback", "retire", "preview", "reload"})
    CHECK(is_cli_command(word));
  for (const char* word : {"-c", "--check", "--version", "build", "", "Deploy"}) CHECK_FALSE(is_cli_command(word));
}

TEST_CASE("cli: every command parses with its required flags") {
  struct Row {
    std::vector<const char*> argv;
    Command command;
  };
  const Row rows[] = {
      {{"builds", "--app", "shop"}, Command::builds},
      {{"deploy", "--app", "shop", "--build", "dpl-c", "--upstream", "127.0.0.1:3004"}, Command::deploy},
      {{"promote", "--app", "shop", "--build", "dpl-c"}, Command::promote},
      {{"rollback", "--app", "shop"}, Command::rollback},
      {{"retire", "--app", "shop", "--build", "dpl-a"}, Command::retire},
      {{"preview", "--app", "shop", "--build", "dpl-c"}, Command::preview},
      {{"reload"}, Command::reload},
  };
  for (const auto& row : rows) {
    CAPTURE(row.argv[0]);
    const Parsed p = parse(row.argv);
    REQUIRE_MESSAGE(p.ok, p.error);
    CHECK(p.args.command == row.command);
    CHECK(p.args.admin == "http://127.0.0.1:9901");
    CHECK_FALSE(p.args.json);
  }
}

TEST_CASE("cli: deploy takes repeated upstreams, a manifest, a health timeout, --flag=value") {
  const Parsed p = parse({"deploy", "--admin=http://10.0.0.5:9000/gw", "--app", "shop", "--build=dpl-c", "--upstream",
                          "127.0.0.1:3004", "--upstream", "127.0.0.1:3005", "--manifest", "/srv/m.json",
                          "--health-timeout", "90s", "--json", "--token-file", "/etc/tok"});
  REQUIRE_MESSAGE(p.ok, p.error);
  CHECK(p.args.admin == "http://10.0.0.5:9000/gw");
  CHECK(p.args.app == "shop");
  CHECK(p.args.build == "dpl-c");
  CHECK(p.args.upstreams == std::vector<std::string>{"127.0.0.1:3004", "127.0.0.1:3005"});
  CHECK(p.args.manifest == "/srv/m.json");
  CHECK(p.args.health_timeout == std::chrono::seconds(90));
  CHECK(p.args.token_file == "/etc/tok");
  CHECK(p.args.json);
  CHECK(parse({"deploy", "--app", "a", "--build", "b", "--upstream", "u"}).args.health_timeout ==
        std::chrono::seconds(60));
}

TEST_CASE("cli: --admin defaults to $SKEWGATE_ADMIN, the flag wins") {
  CHECK(parse({"reload"}, {"http://127.0.0.1:7000", ""}).args.admin == "http://127.0.0.1:7000");
  CHECK(parse({"reload", "--admin", "http://[::1]:1"}, {"http://127.0.0.1:7000", ""}).args.admin == "http://[::1]:1");
}

TEST_CASE("cli: usage errors") {
  struct Row {
    std::vector<const char*> argv;
    const char* error;
  };
  const Row rows[] = {
      {{}, "missing command"},
      {{"frobnicate"}, "unknown command 'frobnicate'"},
      {{"builds"}, "missing --app"},
      {{"rollback"}, "missing --app"},
      {{"promote", "--app", "shop"}, "missing --build"},
      {{"retire", "--app", "shop"}, "missing --build"},
      {{"preview", "--app", "shop"}, "missing --build"},
      {{"deploy", "--app", "shop", "--build", "b"}, "missing --upstream (at least one)"},
      {{"deploy", "--app", "shop", "--upstream", "u"}, "missing --build"},
      {{"builds", "--app", "shop", "--colour"}, "unknown option '--colour'"},
      {{"builds", "--app", "shop", "--json=yes"}, "unknown option '--json'"},
      {{"builds", "--app", "shop", "extra"}, "unexpected argument 'extra'"},
      {{"builds", "--app"}, "option '--app' needs a value"},
      {{"builds", "--app="}, "option '--app' needs a non-empty value"},
      {{"builds", "--app", "a", "--app", "b"}, "option '--app' given twice"},
      {{"reload", "--app", "shop"}, "option '--app' does not apply to 'reload'"},
      {{"rollback", "--app", "shop", "--build", "x"}, "option '--build' does not apply to 'rollback'"},
      {{"promote", "--app", "s", "--build", "b", "--upstream", "u"}, "option '--upstream' does not apply to 'promote'"},
      {{"deploy", "--app", "s", "--build", "b", "--upstream", "u", "--health-timeout", "60"},
       "--health-timeout: expected a duration like 500ms, 60s, 5m; got '60'"},
  };
  for (const auto& row : rows) {
    const Parsed p = parse(row.argv);
    CAPTURE(row.error);
    CHECK_FALSE(p.ok);
    CHECK(p.error == row.error);
  }
}

TEST_CASE("cli: --help skips required flags; usage names the command and its flags") {
  const Parsed p = parse({"deploy", "--help"});
  CHECK(p.ok);
  CHECK(p.args.help);
  const std::string deploy = usage_for("deploy");
  CHECK(deploy.find("usage: skewgate deploy   --app APP --build ID --upstream ADDR") == 0);
  CHECK(deploy.find("--health-timeout") != std::string::npos);
  CHECK(deploy.find("--token-file FILE") != std::string::npos);
  CHECK(deploy.find("exit status: 0 ok, 1 refused by the server, 2 usage or connection error") != std::string::npos);
  const std::string all = usage_for("nope");
  for (const char* word : {"builds", "deploy", "promote", "rollback", "retire", "preview", "reload"})
    CHECK(all.find(std::string("\n  ") + word) != std::string::npos);
}

TEST_CASE("cli: admin URLs") {
  struct Row {
    const char* text;
    const char* ip;
    bool ipv6;
    int port;
    const char* authority;
    const char* base;
  };
  const Row ok[] = {
      {"http://127.0.0.1:9901", "127.0.0.1", false, 9901, "127.0.0.1:9901", ""},
      {"http://127.0.0.1", "127.0.0.1", false, 80, "127.0.0.1", ""},
      {"HTTP://localhost:9901/", "127.0.0.1", false, 9901, "localhost:9901", ""},
      {"http://LocalHost", "127.0.0.1", false, 80, "LocalHost", ""},
      {"http://10.1.2.3:8000/skewgate/admin/", "10.1.2.3", false, 8000, "10.1.2.3:8000", "/skewgate/admin"},
      {"http://[::1]:9901", "::1", true, 9901, "[::1]:9901", ""},
      {"http://[fd00::5]/x", "fd00::5", true, 80, "[fd00::5]", "/x"},
  };
  for (const auto& row : ok) {
    CAPTURE(row.text);
    AdminUrl url;
    std::string error;
    REQUIRE_MESSAGE(parse_admin_url(row.text, url, error), error);
    CHECK(url.ip == row.ip);
    CHECK(url.ipv6 == row.ipv6);
    CHECK(url.port == row.port);
    CHECK(url.authority == row.authority);
    CHECK(url.base_path == row.base);
  }
  struct Bad {
    const char* text;
    const char* says;
  };
  const Bad bad[] = {
      {"https://127.0.0.1:9901", "https is not supported"},
      {"127.0.0.1:9901", "expected http://"},
      {"ftp://127.0.0.1", "expected http://"},
      {"http://", "missing host"},
      {"http://example.com:9901", "'example.com' is not an IP address or localhost"},
      {"http://127.1:9901", "'127.1' is not an IP address"},
      {"http://127.0.0.1:", "empty port"},
      {"http://127.0.0.1:0", "port '0'"},
      {"http://127.0.0.1:65536", "port '65536'"},
      {"http://127.0.0.1:99x", "port '99x'"},
      {"http://user:pw@127.0.0.1", "user information"},
      {"http://127.0.0.1/a?b", "query or fragment"},
      {"http://[::1", "unterminated"},
      {"http://[::1]x", "expected ':PORT'"},
      {"http://[nope]:1", "not an IPv6 address"},
      {"http://127.0.0.1/a b", "spaces"},
  };
  for (const auto& row : bad) {
    CAPTURE(row.text);
    AdminUrl url;
    std::string error;
    CHECK_FALSE(parse_admin_url(row.text, url, error));
    CHECK(error.find(row.says) != std::string::npos);
  }
}

TEST_CASE("cli: request bytes") {
  AdminUrl url;
  std::string error;
  REQUIRE(parse_admin_url("http://localhost:9901/gw", url, error));
  const std::string get = build_request(url, "GET", "/api/v1/apps/shop", "", "");
  CHECK(get ==
        "GET /gw/api/v1/apps/shop HTTP/1.1\r\nHost: localhost:9901\r\nUser-Agent: skewgate-cli\r\n"
        "Accept: application/json\r\nConnection: close\r\n\r\n");
  const std::string post = build_request(url, "POST", "/api/v1/reload", "s3cret", "{}");
  CHECK(post.rfind("POST /gw/api/v1/reload HTTP/1.1\r\n", 0) == 0);
  CHECK(post.find("\r\nAuthorization: Bearer s3cret\r\n") != std::string::npos);
  CHECK(post.find("\r\nContent-Type: application/json\r\n") != std::string::npos);
  CHECK(post.find("\r\nContent-Length: 2\r\n") != std::string::npos);
  CHECK(post.find("\r\nConnection: close\r\n\r\n{}") != std::string::npos);
  CHECK(get.find("Authorization") == std::string::npos);
  CHECK(encode_path_segment("dpl-a_1.2~x") == "dpl-a_1.2~x");
  CHECK(encode_path_segment("a/b c?%") == "a%2Fb%20c%3F%25");
}

TEST_CASE("cli: the token comes from --token-file, else the environment, never into errors") {
  Args args;
  std::string token, error;
  CHECK(resolve_token(args, {"", "envtok\n"}, token, error));
  CHECK(token == "envtok");
  CHECK(resolve_token(args, {}, token, error));
  CHECK(token.empty());
  CHECK_FALSE(resolve_token(args, {"", "bad\r\nX-Injected: 1"}, token, error));
  CHECK(error.find("bad") == std::string::npos);
  CHECK(token.empty());

  const std::string path = "/tmp/skewgate_cli_test_token";
  {
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f);
    std::fputs("filetok\n", f);
    std::fclose(f);
  }
  args.token_file = path;
  CHECK(resolve_token(args, {"", "envtok"}, token, error));
  CHECK(token == "filetok");
  args.token_file = "/nonexistent/skewgate/token";
  CHECK_FALSE(resolve_token(args, {}, token, error));
  CHECK(error.find("/nonexistent/skewgate/token") != std::string::npos);
  std::remove(path.c_str());
}

TEST_CASE("cli: responses framed by Content-Length") {
  HttpResponse r;
  const std::string raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":true}\n";
  CHECK(parse_raw(raw, false, r) == ParseStatus::complete);
  CHECK(r.status == 200);
  CHECK(r.reason == "OK");
  CHECK(r.headers.at("content-type") == "application/json");
  CHECK(r.body == "{\"a\":true}\n");
  // Every prefix is incomplete before EOF and invalid at EOF.
  for (std::size_t n = 0; n < raw.size(); ++n) {
    CAPTURE(n);
    CHECK(parse_raw(std::string_view(raw).substr(0, n), false, r) == ParseStatus::incomplete);
    CHECK(parse_raw(std::string_view(raw).substr(0, n), true, r) == ParseStatus::invalid);
  }
  // Bytes after the body are ignored.
  CHECK(parse_raw("HTTP/1.1 409 Conflict\r\nContent-Length: 2\r\n\r\n{}garbage", true, r) == ParseStatus::complete);
  CHECK(r.status == 409);
  CHECK(r.body == "{}");
  CHECK(parse_raw("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x", true, r) ==
        ParseStatus::invalid);
  CHECK(parse_raw("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", true, r) == ParseStatus::invalid);
}

TEST_CASE("cli: chunked responses") {
  HttpResponse r;
  const std::string raw =
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Length: 999\r\n\r\n"
      "5;ext=1\r\n{\"app\r\nA\r\n\":\"shop\"} \r\n0\r\nX-Trailer: t\r\n\r\n";
  CHECK(parse_raw(raw, false, r) == ParseStatus::complete);
  CHECK(r.status == 201);
  CHECK(r.body == "{\"app\":\"shop\"} ");
  for (std::size_t n = 0; n < raw.size(); ++n) {
    CAPTURE(n);
    CHECK(parse_raw(std::string_view(raw).substr(0, n), false, r) == ParseStatus::incomplete);
    CHECK(parse_raw(std::string_view(raw).substr(0, n), true, r) == ParseStatus::invalid);
  }
  CHECK(parse_raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", true, r) == ParseStatus::invalid);
  CHECK(parse_raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", true, r) ==
        ParseStatus::invalid);
}

TEST_CASE("cli: read-until-close bodies, interim responses, garbage") {
  HttpResponse r;
  CHECK(parse_raw("HTTP/1.0 200 OK\r\n\r\n{\"x\":1}", false, r) == ParseStatus::incomplete);
  CHECK(parse_raw("HTTP/1.0 200 OK\r\n\r\n{\"x\":1}", true, r) == ParseStatus::complete);
  CHECK(r.body == "{\"x\":1}");
  CHECK(parse_raw("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", false, r) == ParseStatus::complete);
  CHECK(r.status == 204);
  CHECK(r.body.empty());
  CHECK(parse_raw("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, r) == ParseStatus::complete);
  CHECK(r.reason.empty());
  CHECK(parse_raw("SSH-2.0-OpenSSH\r\n\r\n", true, r) == ParseStatus::invalid);
  CHECK(parse_raw("HTTP/1.1 2x0 OK\r\n\r\n", true, r) == ParseStatus::invalid);
  CHECK(parse_raw("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", true, r) == ParseStatus::invalid);
}

TEST_CASE("cli: refusals print the server's message") {
  HttpResponse r;
  r.status = 409;
  r.body = R"({"error":"build_conflict","message":"build dpl-c exists with other upstreams"})";
  CHECK(describe_refusal(r) == "build dpl-c exists with other upstreams (build_conflict, HTTP 409)");
  r.status = 401;
  r.body = R"({"error":"unauthorized"})";
  CHECK(describe_refusal(r) == "unauthorized (unauthorized, HTTP 401)");
  r.status = 400;
  r.body = R"({"error":"invalid_config","message":"configuration has 2 errors",)"
           R"("errors":["a.yaml:3:5: apps[0].name: expected a string","a.yaml:9:1: listners: unknown key"]})";
  CHECK(describe_refusal(r) ==
        "configuration has 2 errors (invalid_config, HTTP 400)\n"
        "  a.yaml:3:5: apps[0].name: expected a string\n"
        "  a.yaml:9:1: listners: unknown key");
  r.status = 502;
  r.reason = "Bad Gateway";
  r.body = "<html>\nbad\n</html>";
  CHECK(describe_refusal(r) == "the server answered HTTP 502 Bad Gateway: <html> bad </html>");
}

TEST_CASE("cli: tables are aligned without trailing blanks") {
  CHECK(render_table({{"ID", "STATE", "X"}, {"dpl-long", "current", ""}, {"a", "retained", "yes"}}) ==
        "ID        STATE     X\n"
        "dpl-long  current\n"
        "a         retained  yes\n");
  CHECK(format_age(0) == "0s");
  CHECK(format_age(59) == "59s");
  CHECK(format_age(60) == "1m");
  CHECK(format_age(200) == "3m20s");
  CHECK(format_age(7500) == "2h5m");
  CHECK(format_age(3 * 86400 + 4 * 3600 + 59) == "3d4h");
  CHECK(format_age(-5) == "0s");
}

TEST_CASE("cli: builds JSON to table") {
  const auto app = nlohmann::json::parse(R"({
    "name":"shop","registry":"api","current":"dpl-b",
    "builds":[
      {"id":"dpl-b","state":"current","healthy":true,"upstreams":["127.0.0.1:3001","127.0.0.1:3002"],
       "superseded_at":null,"age_seconds":null,"last_request_at":"2026-11-25T12:00:00Z","retired_by":null,
       "has_manifest":false},
      {"id":"dpl-a","state":"retained","healthy":false,"upstreams":["127.0.0.1:3000"],
       "superseded_at":"2026-11-25T11:00:00Z","age_seconds":3725,"last_request_at":null,"retired_by":null},
      {"id":"dpl-0","state":"retired","upstreams":[],"age_seconds":700000,"retired_by":"kill_switch"}
    ]})");
  std::string out, error;
  REQUIRE(render_builds(app, out, error));
  CHECK(out ==
        "app shop (registry: api), current: dpl-b\n"
        "ID     STATE                  HEALTHY  UPSTREAMS                      AGE   LAST REQUEST\n"
        "dpl-b  current                yes      127.0.0.1:3001,127.0.0.1:3002  -     2026-11-25T12:00:00Z\n"
        "dpl-a  retained               no       127.0.0.1:3000                 1h2m  -\n"
        "dpl-0  retired (kill_switch)  -        -                              8d2h  -\n");

  REQUIRE(render_builds(nlohmann::json::parse(R"({"name":"x","current":null,"builds":[]})"), out, error));
  CHECK(out == "app x, current: none\nno builds\n");
  CHECK_FALSE(render_builds(nlohmann::json::parse(R"({"apps":[]})"), out, error));
  CHECK_FALSE(render_builds(nlohmann::json::parse("[1]"), out, error));
}

// ---- command flows over a scripted transport ----

namespace {

struct Exchange {
  std::string method, path, body;
};

struct Script {
  std::deque<HttpResponse> responses;  // status 0: a connection error
  std::vector<Exchange> seen;
  std::string out, err;
  std::chrono::steady_clock::time_point clock{};
  std::vector<std::chrono::milliseconds> sleeps;

  void add(int status, std::string body) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    responses.push_back(std::move(r));
  }

  Io io() {
    Io io;
    io.exchange = [this](std::string_view method, std::string_view path, std::string_view body, HttpResponse& response,
                         std::string& error) {
      seen.push_back({std::string(method), std::string(path), std::string(body)});
      REQUIRE_FALSE(responses.empty());
      response = responses.front();
      responses.pop_front();
      if (response.status == 0) {
        error = "cannot connect to http://127.0.0.1:9901: Connection refused";
        return false;
      }
      return true;
    };
    io.out = [this](std::string_view s) { out += s; };
    io.err = [this](std::string_view s) { err += s; };
    io.now = [this] { return clock; };
    io.sleep = [this](std::chrono::milliseconds d) {
      sleeps.push_back(d);
      clock += d;
    };
    return io;
  }

  int run(std::vector<const char*> words) {
    const Parsed p = parse(std::move(words));
    REQUIRE_MESSAGE(p.ok, p.error);
    Io io_ = io();
    return run_command(p.args, io_);
  }
};

std::string app_with(const char* healthy, const char* state = "preview") {
  return std::string(R"({"name":"shop","registry":"api","current":"dpl-b","builds":[)") +
         R"({"id":"dpl-b","state":"current","healthy":true,"upstreams":["127.0.0.1:3001"]},)" +
         R"({"id":"dpl-c","state":")" + state + R"(","healthy":)" + healthy + R"(,"upstreams":["127.0.0.1:3004"]}]})";
}

}  // namespace

TEST_CASE("cli flow: deploy registers, waits for health, promotes") {
  Script s;
  s.add(201, R"({"app":"shop","build":{"id":"dpl-c","healthy":false}})");
  s.add(200, app_with("false"));
  s.add(200, app_with("false"));
  s.add(200, app_with("true"));
  s.add(200, R"({"app":"shop","current":"dpl-c","previous":"dpl-b"})");
  CHECK(s.run({"deploy", "--app", "shop", "--build", "dpl-c", "--upstream", "127.0.0.1:3004", "--manifest",
               "/srv/x.json"}) == 0);
  REQUIRE(s.seen.size() == 5);
  CHECK(s.seen[0].method == "POST");
  CHECK(s.seen[0].path == "/api/v1/apps/shop/builds");
  CHECK(nlohmann::json::parse(s.seen[0].body) ==
        nlohmann::json::parse(R"({"id":"dpl-c","upstreams":["127.0.0.1:3004"],"manifest":"/srv/x.json"})"));
  CHECK(s.seen[1].method == "GET");
  CHECK(s.seen[1].path == "/api/v1/apps/shop");
  CHECK(s.seen[4].method == "POST");
  CHECK(s.seen[4].path == "/api/v1/apps/shop/builds/dpl-c/promote");
  CHECK(s.sleeps == std::vector<std::chrono::milliseconds>(2, std::chrono::milliseconds(250)));
  CHECK(s.out ==
        "registered shop/dpl-c (upstreams 127.0.0.1:3004)\n"
        "waiting up to 60s for dpl-c to become healthy\n"
        "dpl-c is healthy (after 0.5s)\n"
        "shop: dpl-c is now current (previous: dpl-b)\n");
  CHECK(s.err.empty());
}

TEST_CASE("cli: --no-verify applies to deploy and promote only") {
  CHECK(parse({"deploy", "--app", "shop", "--build", "c", "--upstream", "u"}).args.verify);
  CHECK_FALSE(parse({"deploy", "--app", "shop", "--build", "c", "--upstream", "u", "--no-verify"}).args.verify);
  CHECK_FALSE(parse({"promote", "--app", "shop", "--build", "c", "--no-verify"}).args.verify);
  for (const char* command : {"builds", "rollback", "retire", "preview", "reload"}) {
    CAPTURE(command);
    std::vector<const char*> words{command, "--no-verify"};
    if (std::string_view(command) != "reload") words.insert(words.end(), {"--app", "shop"});
    if (std::string_view(command) == "retire" || std::string_view(command) == "preview")
      words.insert(words.end(), {"--build", "c"});
    const Parsed p = parse(words);
    CHECK_FALSE(p.ok);
    CHECK(p.error == "option '--no-verify' does not apply to '" + std::string(command) + "'");
  }
  CHECK(usage_for("promote").find("[--no-verify]") != std::string::npos);
  CHECK(usage_for("deploy").find("[--no-verify]") != std::string::npos);
}

TEST_CASE("cli flow: --no-verify sends \"verify\": false to register and promote") {
  Script s;
  s.add(201, R"({"app":"shop","build":{"id":"dpl-c"}})");
  s.add(200, app_with("true"));
  s.add(200, R"({"app":"shop","current":"dpl-c","previous":"dpl-b"})");
  CHECK(s.run({"deploy", "--app", "shop", "--build", "dpl-c", "--upstream", "127.0.0.1:3004", "--no-verify"}) == 0);
  REQUIRE(s.seen.size() == 3);
  CHECK(nlohmann::json::parse(s.seen[0].body) ==
        nlohmann::json::parse(R"({"id":"dpl-c","upstreams":["127.0.0.1:3004"],"verify":false})"));
  CHECK(nlohmann::json::parse(s.seen[2].body) == nlohmann::json::parse(R"({"verify":false})"));
  Script p;
  p.add(200, R"({"app":"shop","current":"dpl-c","previous":"dpl-b"})");
  CHECK(p.run({"promote", "--app", "shop", "--build", "dpl-c", "--no-verify"}) == 0);
  REQUIRE(p.seen.size() == 1);
  CHECK(p.seen[0].body == R"({"verify":false})");
  Script plain;
  plain.add(200, R"({"app":"shop","current":"dpl-c","previous":"dpl-b"})");
  CHECK(plain.run({"promote", "--app", "shop", "--build", "dpl-c"}) == 0);
  CHECK(plain.seen[0].body == "{}");
}

TEST_CASE("cli flow: a deployment_id_mismatch refusal prints the message, exit 1") {
  Script s;
  s.add(409, R"({"error":"deployment_id_mismatch","message":"build 'dpl-c' of app 'shop' reports deployment ID 'dpl-b' (x-nextjs-deployment-id header from 127.0.0.1:3004), not 'dpl-c'","app":"shop","build":"dpl-c","registered":"dpl-c","reported":"dpl-b","source":"header","upstream":"127.0.0.1:3004"})");
  CHECK(s.run({"promote", "--app", "shop", "--build", "dpl-c"}) == 1);
  CHECK(s.err.find("reports deployment ID 'dpl-b'") != std::string::npos);
  CHECK(s.err.find("(deployment_id_mismatch, HTTP 409)") != std::string::npos);
  CHECK(s.out.empty());
}

TEST_CASE("cli flow: deploy --json prints only the promote response on stdout") {
  Script s;
  s.add(200, R"({"app":"shop","build":{"id":"dpl-c"}})");
  s.add(200, app_with("true"));
  s.add(200, R"({"app":"shop","current":"dpl-c","previous":"dpl-b"})");
  CHECK(s.run({"deploy", "--app", "shop", "--build", "dpl-c", "--upstream", "u", "--json"}) == 0);
  CHECK(s.out == "{\"app\":\"shop\",\"current\":\"dpl-c\",\"previous\":\"dpl-b\"}\n");
  CHECK(s.err.find("already registered shop/dpl-c") != std::string::npos);
  CHECK(s.sleeps.empty());
}

TEST_CASE("cli flow: deploy gives up after --health-timeout and does not promote") {
  Script s;
  s.add(201, R"({"app":"shop","build":{}})");
  for (int i = 0; i < 5; ++i) s.add(200, app_with("false"));  // at 0, 250, 500, 750, 1000 ms
  CHECK(s.run({"deploy", "--app", "shop", "--build", "dpl-c", "--upstream", "u", "--health-timeout", "1s"}) == 1);
  CHECK(s.responses.empty());
  CHECK(s.sleeps.size() == 4);
  for (const auto& e : s.seen) CHECK(e.path.find("promote") == std::string::npos);
  CHECK(s.err == "skewgate: dpl-c did not become healthy within 1s; it stays registered, not promoted\n");
}

TEST_CASE("cli flow: deploy stops when the build is retired while waiting") {
  Script s;
  s.add(201, R"({"app":"shop","build":{}})");
  s.add(200, app_with("false", "retired"));
  CHECK(s.run({"deploy", "--app", "shop", "--build", "dpl-c", "--upstream", "u"}) == 1);
  CHECK(s.err.find("was retired") != std::string::npos);
}

TEST_CASE("cli flow: deploy refused at registration prints the message, exit 1") {
  Script s;
  s.add(409, R"({"error":"registry_is_config","message":"app shop takes its builds from the config file"})");
  CHECK(s.run({"deploy", "--app", "shop", "--build", "dpl-c", "--upstream", "u"}) == 1);
  CHECK(s.seen.size() == 1);
  CHECK(s.err == "skewgate: app shop takes its builds from the config file (registry_is_config, HTTP 409)\n");
  CHECK(s.out.empty());
}

TEST_CASE("cli flow: one request per simple command, its path and output") {
  struct Row {
    std::vector<const char*> argv;
    const char* method;
    const char* path;
    int status;
    const char* response;
    const char* out;
  };
  const Row rows[] = {
      {{"promote", "--app", "shop", "--build", "dpl-c"}, "POST", "/api/v1/apps/shop/builds/dpl-c/promote", 200,
       R"({"app":"shop","current":"dpl-c","previous":null})", "shop: dpl-c is now current (previous: none)\n"},
      {{"rollback", "--app", "shop"}, "POST", "/api/v1/apps/shop/rollback", 200,
       R"({"app":"shop","current":"dpl-b","previous":"dpl-c"})", "shop: rolled back to dpl-b (previous: dpl-c)\n"},
      {{"retire", "--app", "shop", "--build", "dpl a"}, "POST", "/api/v1/apps/shop/builds/dpl%20a/retire", 200,
       R"({"app":"shop","build":"dpl a","state":"retired"})",
       "shop: dpl a is retired; skewgate no longer routes to it (stopping its upstream processes is up to you)\n"},
      {{"preview", "--app", "shop", "--build", "dpl-c"}, "POST", "/api/v1/apps/shop/builds/dpl-c/preview", 200,
       R"({"app":"shop","build":"dpl-c","state":"preview","url":"http://shop/_skewgate/preview?t=x"})",
       "shop: dpl-c is preview\npreview link: http://shop/_skewgate/preview?t=x\n"},
      {{"reload"}, "POST", "/api/v1/reload", 200, R"({"reloaded":true,"generation":7})",
       "configuration reloaded (generation 7)\n"},
      {{"reload", "--json"}, "POST", "/api/v1/reload", 200, R"({"reloaded":true,"generation":7})",
       "{\"reloaded\":true,\"generation\":7}\n"},
      {{"builds", "--app", "shop", "--json"}, "GET", "/api/v1/apps/shop", 200, R"({"name":"shop","builds":[]})",
       "{\"name\":\"shop\",\"builds\":[]}\n"},
      {{"builds", "--app", "shop"}, "GET", "/api/v1/apps/shop", 200, R"({"name":"shop","builds":[]})",
       "app shop, current: none\nno builds\n"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.path);
    Script s;
    s.add(row.status, row.response);
    CHECK(s.run(row.argv) == 0);
    REQUIRE(s.seen.size() == 1);
    CHECK(s.seen[0].method == row.method);
    CHECK(s.seen[0].path == row.path);
    if (s.seen[0].method == std::string("POST")) CHECK(s.seen[0].body == "{}");
    CHECK(s.out == row.out);
    CHECK(s.err.empty());
  }
}

TEST_CASE("cli flow: exit codes for refusals, connection errors and non-JSON answers") {
  {
    Script s;
    s.add(404, R"({"error":"app_not_found","message":"no app 'shop'"})");
    CHECK(s.run({"builds", "--app", "shop"}) == 1);
    CHECK(s.err == "skewgate: no app 'shop' (app_not_found, HTTP 404)\n");
  }
  {
    Script s;
    s.add(400, R"({"error":"invalid_config","message":"reload refused","errors":["c.yaml:1:1: x: bad"]})");
    CHECK(s.run({"reload", "--json"}) == 1);
    CHECK(s.out.find("invalid_config") != std::string::npos);
    CHECK(s.err == "skewgate: reload refused (invalid_config, HTTP 400)\n  c.yaml:1:1: x: bad\n");
  }
  {
    Script s;
    s.add(0, "");
    CHECK(s.run({"rollback", "--app", "shop"}) == 2);
    CHECK(s.err == "skewgate: cannot connect to http://127.0.0.1:9901: Connection refused\n");
  }
  {
    Script s;
    s.add(200, "<html>");
    CHECK(s.run({"rollback", "--app", "shop"}) == 2);
  }
}

// ---- health: the container image's HEALTHCHECK (docker/Dockerfile) ----

TEST_CASE("cli: health parses with --admin and --timeout only") {
  CHECK(is_cli_command("health"));
  const Parsed plain = parse({"health"});
  REQUIRE_MESSAGE(plain.ok, plain.error);
  CHECK(plain.args.command == Command::health);
  CHECK(plain.args.admin == "http://127.0.0.1:9901");
  CHECK(plain.args.io_timeout == kIoTimeout);
  const Parsed p = parse({"health", "--timeout", "2s", "--admin", "http://[::1]:9902"}, {"http://10.0.0.1:1", "tok"});
  REQUIRE_MESSAGE(p.ok, p.error);
  CHECK(p.args.io_timeout == std::chrono::seconds(2));
  CHECK(p.args.admin == "http://[::1]:9902");
  CHECK(parse({"health"}, {"http://10.0.0.1:1", ""}).args.admin == "http://10.0.0.1:1");
  CHECK(parse({"builds", "--app", "shop"}).args.io_timeout == kIoTimeout);

  struct Row {
    std::vector<const char*> argv;
    const char* error;
  };
  const Row rows[] = {
      {{"health", "--json"}, "option '--json' does not apply to 'health'"},
      {{"health", "--token-file", "/t"}, "option '--token-file' does not apply to 'health'"},
      {{"health", "--app", "shop"}, "option '--app' does not apply to 'health'"},
      {{"health", "--timeout", "2"}, "--timeout: expected a duration from 1ms to 60s like 500ms, 2s; got '2'"},
      {{"health", "--timeout", "0s"}, "--timeout: expected a duration from 1ms to 60s like 500ms, 2s; got '0s'"},
      {{"health", "--timeout", "2m"}, "--timeout: expected a duration from 1ms to 60s like 500ms, 2s; got '2m'"},
      {{"health", "--timeout", "1s", "--timeout", "2s"}, "option '--timeout' given twice"},
      {{"builds", "--app", "shop", "--timeout", "2s"}, "option '--timeout' does not apply to 'builds'"},
  };
  for (const auto& row : rows) {
    const Parsed bad = parse(row.argv);
    CAPTURE(row.error);
    CHECK_FALSE(bad.ok);
    CHECK(bad.error == row.error);
  }
  const std::string usage = usage_for("health");
  CHECK(usage.find("usage: skewgate health   [--timeout 5s] [--admin URL]\n") == 0);
  CHECK(usage.find("exit status: 0 healthy, 1 unhealthy or no answer (one line says why), 2 usage error") !=
        std::string::npos);
  CHECK(usage.find("--token-file") == std::string::npos);
  CHECK(usage_for("nope").find("\n  health") != std::string::npos);
}

TEST_CASE("cli flow: health is 0 on 200, 1 on anything else, one line each") {
  {
    Script s;
    s.add(200, R"({"status":"ok"})");
    CHECK(s.run({"health"}) == 0);
    REQUIRE(s.seen.size() == 1);
    CHECK(s.seen[0].method == "GET");
    CHECK(s.seen[0].path == "/healthz");
    CHECK(s.out == "healthy: /healthz answered 200\n");
    CHECK(s.err.empty());
  }
  {
    Script s;
    s.add(0, "");
    CHECK(s.run({"health"}) == 1);  // no answer is unhealthy, not a usage error
    CHECK(s.err == "skewgate: unhealthy: cannot connect to http://127.0.0.1:9901: Connection refused\n");
    CHECK(s.out.empty());
  }
  {
    Script s;
    s.add(503, R"({"error":"x","message":"not now","errors":["first","second"]})");
    CHECK(s.run({"health"}) == 1);
    CHECK(s.err == "skewgate: unhealthy: /healthz: not now (x, HTTP 503)\n");
  }
  {
    Script s;
    s.add(204, "");  // a 2xx that is not 200 is not what /healthz says when healthy
    CHECK(s.run({"health"}) == 1);
    CHECK(s.err == "skewgate: unhealthy: /healthz: the server answered HTTP 204\n");
  }
  {
    Script s;
    s.add(404, "<html>\nnot found\n</html>");
    CHECK(s.run({"health"}) == 1);
    CHECK(s.err == "skewgate: unhealthy: /healthz: the server answered HTTP 404: <html> not found </html>\n");
  }
}
