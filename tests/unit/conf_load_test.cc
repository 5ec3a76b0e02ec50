#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "conf/load.h"
#include "data_dir.h"

namespace sg::conf {
namespace {

// Diagnostics as "file:line:col: key: message" lines, in report order
// (one string so a failing check prints readably).
std::string lines_of(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics) out += d.to_string() + "\n";
  return out;
}

std::string errors_of(std::string_view yaml) { return lines_of(load_string(yaml, "t.yaml").errors); }
std::string warnings_of(std::string_view yaml) { return lines_of(load_string(yaml, "t.yaml").warnings); }

// A valid file; each case below breaks one thing in it.
// kListeners + kApps == kMinimal.
constexpr std::string_view kMinimal = R"(listeners:
  - address: 127.0.0.1:8080
apps:
  - name: shop
    hosts: [shop.example.com]
    current: dpl-a
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001]}
)";

const std::string kApps(kMinimal.substr(kMinimal.find("apps:")));
const std::string kListeners(kMinimal.substr(0, kMinimal.find("apps:")));

// kMinimal with its first `old` replaced by `new_text`.
std::string with(std::string_view old, std::string_view new_text) {
  std::string text(kMinimal);
  text.replace(text.find(old), old.size(), new_text);
  return text;
}

TEST_CASE("the minimal file loads with defaults") {
  const auto result = load_string(kMinimal, "t.yaml");
  REQUIRE(result.errors.empty());
  REQUIRE(result.config.has_value());
  const Config& config = *result.config;
  CHECK(config.source == "t.yaml");
  CHECK(config.workers == 0);
  CHECK(config.limits.header_bytes == 32 * 1024);
  CHECK(config.apps.at(0).asset_prefixes == std::vector<std::string>{"/_next/static/", "/_next/image"});
  CHECK(config.apps.at(0).builds.at(0).upstreams.at(0).to_string() == "127.0.0.1:3001");
  CHECK_FALSE(config.apps.at(0).builds.at(0).state.has_value());
  CHECK(result.warnings.empty());
  // Every phase of a connection has a deadline by default (nginx's values).
  CHECK(config.timeouts.client_body == std::chrono::seconds(60));
  CHECK(config.timeouts.client_send == std::chrono::seconds(60));
  CHECK(config.timeouts.tunnel_idle == std::chrono::hours(1));
}

TEST_CASE("builds: verify defaults to true; verify: false turns the probe off; a typo gets a hint") {
  CHECK(load_string(kMinimal, "t.yaml").config->apps.at(0).builds.at(0).verify);
  const auto off = load_string(with("upstreams: [127.0.0.1:3001]}", "upstreams: [127.0.0.1:3001], verify: false}"),
                               "t.yaml");
  REQUIRE(off.config.has_value());
  CHECK_FALSE(off.config->apps.at(0).builds.at(0).verify);
  CHECK(errors_of(with("upstreams: [127.0.0.1:3001]}", "upstreams: [127.0.0.1:3001], verify: no}")) ==
        "t.yaml:8:58: apps[0].builds[0].verify: expected true or false, got 'no'\n");
  CHECK(errors_of(with("upstreams: [127.0.0.1:3001]}", "upstreams: [127.0.0.1:3001], verfy: false}")) ==
        "t.yaml:8:50: apps[0].builds[0].verfy: unknown key 'verfy'; did you mean 'verify'?\n");
}

TEST_CASE("timeouts: every phase's key is read; a misspelt one gets a hint") {
  const auto result =
      load_string(std::string(kMinimal) + "timeouts: {client_body: 300ms, client_send: 2s, tunnel_idle: 10m}\n", "t.yaml");
  for (const auto& d : result.errors) CAPTURE(d.to_string());
  REQUIRE(result.errors.empty());
  CHECK(result.config->timeouts.client_body == std::chrono::milliseconds(300));
  CHECK(result.config->timeouts.client_send == std::chrono::seconds(2));
  CHECK(result.config->timeouts.tunnel_idle == std::chrono::minutes(10));

  const auto typo = load_string(std::string(kMinimal) + "timeouts: {tunnel_idel: 1h}\n", "t.yaml");
  REQUIRE(typo.errors.size() == 1);
  CHECK(typo.errors[0].to_string() ==
        "t.yaml:9:12: timeouts.tunnel_idel: unknown key 'tunnel_idel'; did you mean 'tunnel_idle'?");
  const auto bad = load_string(std::string(kMinimal) + "timeouts: {client_send: 60}\n", "t.yaml");
  REQUIRE(bad.errors.size() == 1);
  CHECK(bad.errors[0].to_string() ==
        "t.yaml:9:25: timeouts.client_send: expected a duration like 10s (units: ms, s, m, h, d), got '60'");
}

TEST_CASE("the did-you-mean hint skips candidates whose length alone rules them out") {
  // Near misses of every length difference under the threshold still get a hint...
  CHECK(errors_of(std::string(kMinimal) + "workerss: 4\n").find("did you mean 'workers'") != std::string::npos);
  CHECK(errors_of(std::string(kMinimal) + "workerrss: 4\n").find("did you mean 'workers'") != std::string::npos);
  CHECK(errors_of(std::string(kMinimal) + "wrokers: 4\n").find("did you mean 'workers'") != std::string::npos);
  // ...and a long junk key (no table is built for it) gets the plain error.
  const std::string junk(1000, 'q');  // YAML caps implicit keys at 1024 characters
  const std::string errors = errors_of(std::string(kMinimal) + junk + ": 1\n");
  CHECK(errors.find("unknown key '" + junk + "'") != std::string::npos);
  CHECK(errors.find("did you mean") == std::string::npos);
}

TEST_CASE("each mistake gets one exact message at the right place") {
  const struct {
    const char* name;
    std::string yaml;
    const char* error;
  } cases[] = {
      {"unknown key with hint", std::string(kMinimal) + "wokers: 4\n",
       "t.yaml:9:1: wokers: unknown key 'wokers'; did you mean 'workers'?"},
      {"unknown key by prefix", std::string(kMinimal) + "time: {}\n",
       "t.yaml:9:1: time: unknown key 'time'; did you mean 'timeouts'?"},
      {"unknown key without hint", std::string(kMinimal) + "limits: {zzz: 1}\n",
       "t.yaml:9:10: limits.zzz: unknown key 'zzz'; expected one of: header_bytes, headers, uri_bytes, body_bytes"},
      {"nested unknown key", std::string(kMinimal) + "    upstream: x\n",
       "t.yaml:9:5: apps[0].upstream: unknown key 'upstream'; expected one of: name, hosts, default, registry, "
       "framework, current, builds, asset_prefixes, skew, actions, assets, retention, security, health, canary, tls"},
      {"duplicate key", std::string(kMinimal) + "workers: 2\nworkers: 3\n",
       "t.yaml:10:1: workers: duplicate key (first set on line 9)"},
      {"wrong type: list", std::string(kMinimal) + "trusted_proxies: 10.0.0.0/8\n",
       "t.yaml:9:18: trusted_proxies: expected a list, got a scalar"},
      {"wrong type: mapping", std::string(kMinimal) + "timeouts: [1s]\n",
       "t.yaml:9:11: timeouts: expected a mapping with keys client_header, client_body, client_send, client_idle, "
       "tunnel_idle, upstream_connect, upstream_response, upstream_idle, drain, tls_handshake, got a list"},
      {"wrong type: bool", std::string(kMinimal) + "watch: yes\n",
       "t.yaml:9:8: watch: expected true or false, got 'yes'"},
      {"empty value", std::string(kMinimal) + "state_dir:\n", "t.yaml:9:1: state_dir: expected a string, got nothing"},
      {"bad duration", std::string(kMinimal) + "timeouts: {drain: 30}\n",
       "t.yaml:9:19: timeouts.drain: expected a duration like 10s (units: ms, s, m, h, d), got '30'"},
      {"bad size", std::string(kMinimal) + "limits: {body_bytes: 10MB}\n",
       "t.yaml:9:22: limits.body_bytes: expected a size like 64KiB (bytes, KiB, MiB or GiB), got '10MB'"},
      {"bad count", std::string(kMinimal) + "limits: {headers: 64KiB}\n",
       "t.yaml:9:19: limits.headers: expected a whole number of at least 1, got '64KiB'"},
      {"workers out of range", std::string(kMinimal) + "workers: 257\n",
       "t.yaml:9:10: workers: expected 'auto' or a number of workers from 1 to 256, got '257'"},
      {"bad enum", std::string(kMinimal) + "access_log: {format: xml}\n",
       "t.yaml:9:22: access_log.format: expected one of: plain, json; got 'xml'"},
      {"bad cidr", std::string(kMinimal) + "trusted_proxies: [10.0.0.0/8, 10.0.0.0/40]\n",
       "t.yaml:9:31: trusted_proxies[1]: expected a CIDR like 10.0.0.0/8 or an IP address, got '10.0.0.0/40'"},
      {"bad listener address", "listeners: [{address: '8080'}]\n" + kApps,
       "t.yaml:1:23: listeners[0].address: expected host:port, [v6]:port or unix:/path, got '8080'"},
      {"bad host name upstream", with("127.0.0.1:3001", "shop_a:3001"),
       "t.yaml:8:33: apps[0].builds[0].upstreams[0]: expected host:port, name:port, [v6]:port or unix:/path, got "
       "'shop_a:3001' (a host name is letters, digits and '-' in dot-separated labels of at most 63 bytes, 253 in "
       "all; no '_', no empty label; an internationalised name in its xn-- form)"},
      {"host name upstream without port", with("127.0.0.1:3001", "shop-a"),
       "t.yaml:8:33: apps[0].builds[0].upstreams[0]: expected host:port, name:port, [v6]:port or unix:/path, got "
       "'shop-a' (the port is required)"},
      {"host name listener", "listeners: [{address: 'localhost:8080'}]\n" + kApps,
       "t.yaml:1:23: listeners[0].address: expected host:port, [v6]:port or unix:/path, got 'localhost:8080' "
       "(a listener binds an IP address, not a host name)"},
      {"dns refresh below 1s", std::string(kMinimal) + "dns: {refresh: 500ms}\n",
       "t.yaml:9:16: dns.refresh: must be at least 1s"},
      {"dns server by name", std::string(kMinimal) + "dns: {servers: [ns1.example.com]}\n",
       "t.yaml:9:17: dns.servers[0]: expected a numeric name server: 10.0.0.2, 10.0.0.2:53, ::1 or [::1]:53, got "
       "'ns1.example.com'"},
      {"no upstreams", std::string(kMinimal) + "      - {id: dpl-b, upstreams: []}\n",
       "t.yaml:9:32: apps[0].builds[1].upstreams: a build needs at least one upstream"},
      {"missing upstreams", std::string(kMinimal) + "      - {id: dpl-b}\n",
       "t.yaml:9:9: apps[0].builds[1].upstreams: is required"},
      {"empty build id", std::string(kMinimal) + "      - {id: '', upstreams: [127.0.0.1:1]}\n",
       "t.yaml:9:14: apps[0].builds[1].id: must not be empty"},
      {"duplicate build id", std::string(kMinimal) + "      - {id: dpl-a, upstreams: [127.0.0.1:3002]}\n",
       "t.yaml:9:14: apps[0].builds[1].id: duplicate build id 'dpl-a' (also apps[0].builds[0].id)"},
      {"missing current", R"(listeners: [{address: 127.0.0.1:8080}]
apps:
  - name: shop
    builds: [{id: dpl-a, upstreams: [127.0.0.1:3001]}]
)",
       "t.yaml:3:5: apps[0].current: is required: the id of the build new visitors get"},
      {"current names no build", R"(listeners: [{address: 127.0.0.1:8080}]
apps:
  - name: shop
    current: dpl-z
    builds: [{id: dpl-a, upstreams: [127.0.0.1:3001]}, {id: dpl-b, upstreams: [127.0.0.1:3002]}]
)",
       "t.yaml:4:14: apps[0].current: 'dpl-z' names no build of this app (builds: dpl-a, dpl-b)"},
      {"current is retired", R"(listeners: [{address: 127.0.0.1:8080}]
apps:
  - name: shop
    current: dpl-a
    builds: [{id: dpl-a, upstreams: [127.0.0.1:3001], state: retired}]
)",
       "t.yaml:4:14: apps[0].current: build 'dpl-a' has state: retired; the current build cannot be preview or "
       "retired"},
      {"state spelled current",
       std::string(kMinimal) + "      - {id: dpl-b, upstreams: [127.0.0.1:1], state: current}\n",
       "t.yaml:9:54: apps[0].builds[1].state: state may be 'preview' or 'retired'; current comes from the app's "
       "`current`, got 'current'"},
      {"no builds", R"(listeners: [{address: 127.0.0.1:8080}]
apps:
  - name: shop
    current: dpl-a
    builds: []
)",
       "t.yaml:5:13: apps[0].builds: an app needs at least one build"},
      {"no listeners", "listeners: []\n" + kApps, "t.yaml:1:12: listeners: at least one listener is required"},
      {"no apps", "listeners: [{address: 127.0.0.1:8080}]\napps: []\n",
       "t.yaml:2:7: apps: at least one app is required"},
      {"duplicate listener", kListeners + "  - address: 127.0.0.1:8080\n" + kApps,
       "t.yaml:3:14: listeners[1].address: same address as listeners[0]"},
      {"duplicate host across apps", std::string(kMinimal) + R"(  - name: blog
    hosts: [blog.example.com, SHOP.example.com]
    current: b
    builds: [{id: b, upstreams: [127.0.0.1:4000]}]
)",
       "t.yaml:10:31: apps[1].hosts[1]: host 'shop.example.com' is already served by app 'shop' (apps[0].hosts[0])"},
      {"duplicate app name", std::string(kMinimal) + R"(  - name: shop
    current: b
    builds: [{id: b, upstreams: [127.0.0.1:4000]}]
)",
       "t.yaml:9:11: apps[1].name: app name 'shop' is already used by apps[0]"},
      {"two defaults", std::string(kMinimal) + R"(    default: true
  - name: blog
    default: true
    current: b
    builds: [{id: b, upstreams: [127.0.0.1:4000]}]
)",
       "t.yaml:11:14: apps[1].default: only one app may be the default; apps[0] already is"},
      {"bad wildcard", with("[shop.example.com]", "['shop.*.com']"),
       "t.yaml:5:13: apps[0].hosts[0]: a wildcard may only be a leading '*.' as in *.example.com"},
      {"host with port", with("[shop.example.com]", "['shop.example.com:8080']"),
       "t.yaml:5:13: apps[0].hosts[0]: hosts are matched without a port; remove ':port'"},
      {"canary names no build", std::string(kMinimal) + "    canary: {build: dpl-q, percent: 5}\n",
       "t.yaml:9:21: apps[0].canary.build: 'dpl-q' names no build of this app (builds: dpl-a)"},
      {"canary percent", std::string(kMinimal) + "    canary: {build: dpl-a, percent: 101}\n",
       "t.yaml:9:37: apps[0].canary.percent: expected a percentage from 0 to 100, got '101'"},
      {"empty app name",
       std::string(kMinimal) + "  - {name: '', current: b, builds: [{id: b, upstreams: [127.0.0.1:1]}]}\n",
       "t.yaml:9:12: apps[1].name: must not be empty"},
      {"invalid yaml", "listeners: [\n  {address: 1\n", "t.yaml:3:1: invalid YAML: end of map flow not found"},
      {"empty file", "", "t.yaml: the file is empty; expected a mapping with listeners and apps"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    CHECK(errors_of(c.yaml) == std::string(c.error) + "\n");
  }
}

TEST_CASE("all errors are reported at once, in file order, with line and column") {
  constexpr std::string_view yaml = R"(listeners:
  - address: 0.0.0.0:80
    tsl: {cert: a, key: b}
workers: many
timeouts: {client_idle: 1x}
apps:
  - name: shop
    current: dpl-c
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001]}
      - {id: dpl-b, upstreams: ["[::1]:3002", nope]}
)";
  CHECK(errors_of(yaml) ==
        "t.yaml:3:5: listeners[0].tsl: unknown key 'tsl'; did you mean 'tls'?\n"
        "t.yaml:4:10: workers: expected 'auto' or a number of workers from 1 to 256, got 'many'\n"
        "t.yaml:5:25: timeouts.client_idle: expected a duration like 10s (units: ms, s, m, h, d), got '1x'\n"
        "t.yaml:8:14: apps[0].current: 'dpl-c' names no build of this app (builds: dpl-a, dpl-b)\n"
        "t.yaml:11:47: apps[0].builds[1].upstreams[1]: expected host:port, name:port, [v6]:port or unix:/path, got "
        "'nope' (the port is required)\n");
  const auto result = load_string(yaml, "t.yaml");
  CHECK_FALSE(result.config.has_value());
  CHECK(result.errors.at(0).line == 3);
  CHECK(result.errors.at(0).column == 5);
  CHECK(result.errors.at(0).key == "listeners[0].tsl");
}

TEST_CASE("tls on a listener: cert and key paths, with where they were written") {
  const std::string yaml = "listeners:\n  - address: 127.0.0.1:8080\n    redirect_https: true\n"
                           "  - address: 127.0.0.1:8443\n    tls:\n      cert: /c.pem\n      key: /k.pem\n" +
                           kApps;
  const auto result = load_string(yaml, "t.yaml");
  REQUIRE(result.errors.empty());
  const Config& c = *result.config;
  REQUIRE(c.listeners.size() == 2);
  CHECK_FALSE(c.listeners[0].tls.has_value());
  CHECK(c.listeners[0].redirect_https);
  REQUIRE(c.listeners[1].tls.has_value());
  CHECK(c.listeners[1].tls->cert == "/c.pem");
  CHECK(c.listeners[1].tls->key == "/k.pem");
  CHECK(c.listeners[1].tls->where == "t.yaml:6:7: listeners[1].tls");
  CHECK_FALSE(c.listeners[1].redirect_https);
  // The defaults (design.md section 8).
  CHECK(c.timeouts.tls_handshake == std::chrono::seconds(10));
  CHECK(c.tls.ticket_rotation == std::chrono::hours(12));
  CHECK(c.tls.ciphersuites.empty());
  CHECK(c.tls.ciphers.find("ECDHE-RSA-AES128-GCM-SHA256") != std::string::npos);
  CHECK(c.tls.ciphers.find("CBC") == std::string::npos);
}

TEST_CASE("tls shapes that are refused, each named where it is written") {
  const struct {
    const char* listener;
    const char* errors;
  } cases[] = {
      {"  - {address: 127.0.0.1:8443, tls: {}}\n",
       "t.yaml:2:36: listeners[0].tls.cert: is required\nt.yaml:2:36: listeners[0].tls.key: is required\n"},
      {"  - {address: 127.0.0.1:8443, tls: true}\n",
       "t.yaml:2:36: listeners[0].tls: expected a mapping with keys cert, key, got a scalar\n"},
      {"  - {address: 127.0.0.1:8443, tls: {cert: /c.pem, key: ''}}\n",
       "t.yaml:2:56: listeners[0].tls.key: must not be empty\n"},
      {"  - {address: 127.0.0.1:8443, tls: {cert: /c.pem, key: /k.pem, chain: /x}}\n",
       "t.yaml:2:64: listeners[0].tls.chain: unknown key 'chain'; expected one of: cert, key\n"},
      {"  - {address: 127.0.0.1:8443, tls: {cert: /c.pem, key: /k.pem}, redirect_https: true}\n",
       "t.yaml:2:81: listeners[0].redirect_https: redirect_https is for a plain listener; this one has tls\n"},
      {"  - {address: 127.0.0.1:8443, redirect_https: maybe}\n",
       "t.yaml:2:47: listeners[0].redirect_https: expected true or false, got 'maybe'\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.listener);
    const auto result = load_string("listeners:\n" + std::string(c.listener) + kApps, "t.yaml");
    CHECK_FALSE(result.config.has_value());
    CHECK(lines_of(result.errors) == c.errors);
  }
}

TEST_CASE("top-level tls settings and timeouts.tls_handshake") {
  const auto ok = load_string(std::string(kMinimal) +
                                  "tls: {ciphers: 'ECDHE-RSA-AES256-GCM-SHA384', ciphersuites: "
                                  "'TLS_AES_256_GCM_SHA384', ticket_rotation: 2s}\ntimeouts: {tls_handshake: 500ms}\n",
                              "t.yaml");
  REQUIRE(ok.errors.empty());
  CHECK(ok.config->tls.ciphers == "ECDHE-RSA-AES256-GCM-SHA384");
  CHECK(ok.config->tls.ciphersuites == "TLS_AES_256_GCM_SHA384");
  CHECK(ok.config->tls.ticket_rotation == std::chrono::seconds(2));
  CHECK(ok.config->tls.where == "t.yaml:9:6: tls");
  CHECK(ok.config->timeouts.tls_handshake == std::chrono::milliseconds(500));
  CHECK(errors_of(std::string(kMinimal) + "tls: {ticket_rotation: 500ms}\n") ==
        "t.yaml:9:24: tls.ticket_rotation: expected a duration of at least 1s, got '500ms'\n");
  CHECK(errors_of(std::string(kMinimal) + "tls: {ciphers: ''}\n") == "t.yaml:9:16: tls.ciphers: must not be empty\n");
  CHECK(errors_of(std::string(kMinimal) + "tls: {cipher: x}\n") ==
        "t.yaml:9:7: tls.cipher: unknown key 'cipher'; did you mean 'ciphers'?\n");
  CHECK(errors_of(std::string(kMinimal) + "timeouts: {tls_handshake: 0s}\n") ==
        "t.yaml:9:27: timeouts.tls_handshake: expected a duration of at least 1ms, got 0\n");
}

TEST_CASE("an app certificate needs a TLS listener") {
  const std::string app_tls = "    tls: {cert: /shop.pem, key: /shop.key}\n";
  const auto plain = load_string(std::string(kMinimal) + app_tls, "t.yaml");
  CHECK(lines_of(plain.errors) == "t.yaml:9:10: apps[0].tls: an app certificate needs a listener with tls (none has)\n");
  const std::string yaml = "listeners:\n  - {address: 127.0.0.1:8443, tls: {cert: /c.pem, key: /k.pem}}\n" + kApps +
                           app_tls;
  const auto result = load_string(yaml, "t.yaml");
  REQUIRE(result.errors.empty());
  REQUIRE(result.config->apps[0].tls.has_value());
  CHECK(result.config->apps[0].tls->cert == "/shop.pem");
  CHECK(result.config->apps[0].tls->where == "t.yaml:9:10: apps[0].tls");
  CHECK(result.warnings.empty());
  // An app without hosts is never chosen by SNI: said, not refused.
  std::string hostless = yaml;
  hostless.erase(hostless.find("    hosts: [shop.example.com]\n"), std::string("    hosts: [shop.example.com]\n").size());
  const auto warned = load_string(hostless, "t.yaml");
  CHECK(warned.errors.empty());
  CHECK(lines_of(warned.warnings) == "t.yaml:8:10: apps[0].tls: the app has no hosts: SNI never selects this certificate\n");
}

TEST_CASE("dns: refresh (default 5s, at least 1s) and numeric servers (port 53 unless written); a typo gets a hint") {
  // Every design.md section 8 key is implemented since issue 17 (dns:).
  const auto defaults = load_string(kMinimal, "t.yaml");
  REQUIRE(defaults.config.has_value());
  CHECK(defaults.config->dns.refresh == std::chrono::seconds(5));
  CHECK(defaults.config->dns.servers.empty());
  const auto set = load_string(std::string(kMinimal) + "dns: {refresh: 2s, servers: [\"127.0.0.1:5353\", 10.0.0.2, \"::1\", \"[::1]:5300\"]}\n",
                               "t.yaml");
  REQUIRE(set.errors.empty());
  REQUIRE(set.config.has_value());
  CHECK(set.config->dns.refresh == std::chrono::seconds(2));
  REQUIRE(set.config->dns.servers.size() == 4);
  CHECK(set.config->dns.servers[0].to_string() == "127.0.0.1:5353");
  CHECK(set.config->dns.servers[1].to_string() == "10.0.0.2:53");
  CHECK(set.config->dns.servers[2].to_string() == "[::1]:53");
  CHECK(set.config->dns.servers[3].to_string() == "[::1]:5300");
  CHECK(errors_of(std::string(kMinimal) + "dns: {refesh: 5s}\n") ==
        "t.yaml:9:7: dns.refesh: unknown key 'refesh'; did you mean 'refresh'?\n");
  for (const char* bad : {"unix:/run/dns.sock", "127.0.0.1:0", "127.0.0.1:99999", "10.0.0.300"}) {
    CAPTURE(bad);
    CHECK(errors_of(std::string(kMinimal) + "dns: {servers: [\"" + bad + "\"]}\n").find("dns.servers[0]: expected a numeric name server") !=
          std::string::npos);
  }
}

TEST_CASE("upstreams: name:port is read as written (lower case), beside numeric and unix ones; never resolved") {
  const auto result = load_string(
      with("upstreams: [127.0.0.1:3001]", "upstreams: [127.0.0.1:3001, Shop-A.Internal:3000, \"[::1]:3002\", shop-b.:80]"),
      "t.yaml");
  REQUIRE(result.errors.empty());
  REQUIRE(result.config.has_value());
  const auto& upstreams = result.config->apps.at(0).builds.at(0).upstreams;
  REQUIRE(upstreams.size() == 4);
  CHECK(upstreams[0].family == SocketAddress::Family::ipv4);
  CHECK(upstreams[1].family == SocketAddress::Family::name);
  CHECK(upstreams[1].to_string() == "shop-a.internal:3000");
  CHECK(upstreams[2].family == SocketAddress::Family::ipv6);
  CHECK(upstreams[3].to_string() == "shop-b:80");
  // A name that cannot exist loads just as well: --check never asks a resolver.
  CHECK(load_string(with("127.0.0.1:3001", "no-such-host.invalid:3001"), "t.yaml").config.has_value());
}

TEST_CASE("secrets never appear in diagnostics") {
  const std::string secret = "hunter2-SECRET-value";
  const std::string previous = "old-SECRET-value";
  const std::string yaml = std::string(kMinimal) + "pins:\n  secret: " + secret + "\n  previous_secrets: [" + previous +
                           ", {x: " + previous + "}]\n  secret_file: /etc/x\n";
  const auto result = load_string(yaml, "t.yaml");
  REQUIRE(result.errors.size() == 3);
  CHECK(result.errors[0].to_string() ==
        "t.yaml:10:11: pins.secret: a secret must be at least 32 bytes (e.g. `openssl rand -base64 32`)");
  CHECK(result.errors[2].to_string() == "t.yaml:11:40: pins.previous_secrets[1]: expected a string, got a mapping");
  for (const auto& list : {result.errors, result.warnings}) {
    for (const auto& d : list) {
      CAPTURE(d.to_string());
      CHECK(d.to_string().find("SECRET") == std::string::npos);
    }
  }
}

TEST_CASE("an admin address beyond loopback needs a token") {
  unsetenv("SKEWGATE_ADMIN_TOKEN");
  const std::string open_admin = std::string(kMinimal) + "admin: {address: 0.0.0.0:9901}\n";
  CHECK(errors_of(open_admin) ==
        "t.yaml:9:18: admin.address: the admin API would be reachable from other hosts without a token; set "
        "admin.token_file (or SKEWGATE_ADMIN_TOKEN), or listen on a loopback address\n");
  const std::string with_token = std::string(kMinimal) + "admin: {address: 0.0.0.0:9901, token_file: /etc/t}\n";
  CHECK(load_string(with_token, "t.yaml").config.has_value());
  setenv("SKEWGATE_ADMIN_TOKEN", "from-the-environment", 1);
  CHECK(load_string(open_admin, "t.yaml").config.has_value());
  unsetenv("SKEWGATE_ADMIN_TOKEN");
}

TEST_CASE("admin.allowed_hosts: plain names, no port, no wildcard") {
  unsetenv("SKEWGATE_ADMIN_TOKEN");
  CHECK(load_string(std::string(kMinimal), "t.yaml").config->admin.allowed_hosts.empty());
  CHECK(errors_of(std::string(kMinimal) + "admin: {allowed_hosts: [admin.example:9901]}\n") ==
        "t.yaml:9:25: admin.allowed_hosts[0]: expected a host name without a port (IP literals and localhost are "
        "always allowed)\n");
  CHECK(errors_of(std::string(kMinimal) + "admin: {allowed_hosts: [ok.example, \"*.example\"]}\n") ==
        "t.yaml:9:37: admin.allowed_hosts[1]: expected a host name like admin.internal.example, no wildcard\n");
  CHECK(errors_of(std::string(kMinimal) + "admin: {allowed_host: [a.example]}\n").find("did you mean 'allowed_hosts'") !=
        std::string::npos);
}

TEST_CASE("actions.manifest_max_bytes: a size, default 16 MiB, never 0") {
  CHECK(load_string(std::string(kMinimal), "t.yaml").config->apps.at(0).actions.manifest_max_bytes ==
        16 * 1024 * 1024);
  const std::string zero = std::string(kMinimal) + "    actions: {manifest_max_bytes: 0}\n";
  CHECK(errors_of(zero).find("actions.manifest_max_bytes: expected a size of at least 1 byte, got 0") !=
        std::string::npos);
  const std::string word = std::string(kMinimal) + "    actions: {manifest_max_bytes: lots}\n";
  CHECK(errors_of(word).find("actions.manifest_max_bytes: expected a size like 64KiB") != std::string::npos);
}

TEST_CASE("actions.replay_bytes: a size, default 64 KiB, 0 = never replay, at most 16 MiB") {
  CHECK(load_string(std::string(kMinimal), "t.yaml").config->apps.at(0).actions.replay_bytes == 64 * 1024);
  struct Row {
    const char* yaml;
    std::uint64_t value;  // when it loads
    const char* error;    // "" when it loads
  };
  const Row rows[] = {
      {"    actions: {replay_bytes: 0}\n", 0, ""},
      {"    actions: {replay_bytes: 1MiB}\n", 1024 * 1024, ""},
      {"    actions: {replay_bytes: 16MiB}\n", 16 * 1024 * 1024, ""},
      {"    actions: {replay_bytes: 17MiB}\n", 0,
       "apps[0].actions.replay_bytes: expected a size of at most 16MiB (held per in-flight action), got '17MiB'"},
      {"    actions: {replay_bytes: lots}\n", 0, "apps[0].actions.replay_bytes: expected a size like 64KiB"},
      {"    actions: {replay_byte: 1KiB}\n", 0, "unknown key 'replay_byte'; did you mean 'replay_bytes'?"},
  };
  for (const Row& row : rows) {
    const std::string yaml = std::string(kMinimal) + row.yaml;
    CAPTURE(yaml);
    if (*row.error == '\0') {
      const auto result = load_string(yaml, "t.yaml");
      REQUIRE(result.config);
      CHECK(result.config->apps.at(0).actions.replay_bytes == row.value);
    } else {
      const std::string errors = errors_of(yaml);
      CHECK_MESSAGE(errors.find(row.error) != std::string::npos, errors);
      CHECK(errors.starts_with("t.yaml:"));
    }
  }
}

TEST_CASE("assets.fallback_builds: a whole number, default 3, 0 = off, per app") {
  CHECK(load_string(std::string(kMinimal), "t.yaml").config->apps.at(0).assets.fallback_builds == 3);
  struct Row {
    const char* yaml;
    std::uint64_t value;
    const char* error;
  };
  const Row rows[] = {
      {"    assets: {fallback_builds: 0}\n", 0, ""},
      {"    assets: {fallback_builds: 10}\n", 10, ""},
      {"    assets: {fallback_builds: -1}\n", 0, "apps[0].assets.fallback_builds: expected a whole number, got '-1'"},
      {"    assets: {fallback_builds: 2.5}\n", 0, "apps[0].assets.fallback_builds: expected a whole number, got '2.5'"},
      {"    assets: {fallback_build: 1}\n", 0, "unknown key 'fallback_build'; did you mean 'fallback_builds'?"},
      {"    asset: {fallback_builds: 1}\n", 0, "unknown key 'asset'; did you mean 'assets'?"},
      {"    assets: 3\n", 0, "apps[0].assets: expected a mapping"},
  };
  for (const Row& row : rows) {
    const std::string yaml = std::string(kMinimal) + row.yaml;
    CAPTURE(yaml);
    if (*row.error == '\0') {
      const auto result = load_string(yaml, "t.yaml");
      REQUIRE(result.config);
      CHECK(result.config->apps.at(0).assets.fallback_builds == row.value);
    } else {
      const std::string errors = errors_of(yaml);
      CHECK_MESSAGE(errors.find(row.error) != std::string::npos, errors);
      CHECK(errors.starts_with("t.yaml:"));
    }
  }
}

TEST_CASE("framework: auto (default), next or react-server, per app; a bad value gets a hint") {
  CHECK(load_string(kMinimal, "t.yaml").config->apps.at(0).framework == Framework::auto_detect);
  const std::vector<std::pair<std::string, Framework>> good{
      {"auto", Framework::auto_detect}, {"next", Framework::next}, {"react-server", Framework::react_server}};
  for (const auto& [text, value] : good) {
    CAPTURE(text);
    const auto result = load_string(with("    current: dpl-a", "    framework: " + text + "\n    current: dpl-a"), "t.yaml");
    REQUIRE(result.errors.empty());
    CHECK(result.config->apps.at(0).framework == value);
  }
  CHECK(errors_of(with("    current: dpl-a", "    framework: react_server\n    current: dpl-a")) ==
        "t.yaml:6:16: apps[0].framework: expected one of: auto, next, react-server; got 'react_server'; did you "
        "mean 'react-server'?\n");
  CHECK(errors_of(with("    current: dpl-a", "    framework: nxt\n    current: dpl-a")).find("did you mean 'next'") !=
        std::string::npos);
  CHECK(errors_of(with("    current: dpl-a", "    framework: Next\n    current: dpl-a")).find("did you mean 'next'") !=
        std::string::npos);
  CHECK(errors_of(with("    current: dpl-a", "    framework: [next]\n    current: dpl-a")) ==
        "t.yaml:6:16: apps[0].framework: expected one of: auto, next, react-server, got a list\n");
  CHECK(errors_of(with("    current: dpl-a", "    framwork: next\n    current: dpl-a"))
            .find("unknown key 'framwork'; did you mean 'framework'?") != std::string::npos);
}

TEST_CASE("skew.reload_module_path: a plain same-origin path, default /__skewgate/reload.mjs") {
  CHECK(load_string(kMinimal, "t.yaml").config->apps.at(0).skew.reload_module_path == "/__skewgate/reload.mjs");
  auto load_path = [](std::string_view value) {
    return load_string(with("    current: dpl-a", "    skew: {reload_module_path: " + std::string(value) +
                                                     "}\n    current: dpl-a"),
                       "t.yaml");
  };
  for (const std::string_view ok : {"/r.mjs", "/_sg/reload-1.2.mjs", "/a%20b.mjs", "/"}) {
    CAPTURE(ok);
    const auto result = load_path(ok);
    REQUIRE(lines_of(result.errors) == "");
    CHECK(result.config->apps.at(0).skew.reload_module_path == ok);
  }
  const std::string long_path = "/" + std::string(256, 'a');
  const std::vector<std::pair<std::string, std::string>> bad{
      {"r.mjs", "expected a path starting with a single / (same origin), got 'r.mjs'"},
      {"'//evil.example/x.mjs'", "expected a path starting with a single / (same origin), got '//evil.example/x.mjs'"},
      {"'https://evil.example/x.mjs'", "expected a path starting with a single /"},
      {"'/r.mjs?v=1'", "must be printable ASCII without spaces"},
      {"'/r.mjs#x'", "must be printable ASCII without spaces"},
      {"'/a b.mjs'", "must be printable ASCII without spaces"},
      {"'/a\"b.mjs'", "must be printable ASCII without spaces"},
      {"\"/a'b.mjs\"", "must be printable ASCII without spaces"},
      {"'/a\\b.mjs'", "must be printable ASCII without spaces"},
      {"\"/a\\tb.mjs\"", "must be printable ASCII without spaces"},
      {"\"/a\\u00e9.mjs\"", "must be printable ASCII without spaces"},
      {"\"/a\\x01.mjs\"", "must be printable ASCII without spaces"},
      {long_path, "must be at most 256 bytes, got 257"},
      {"''", "expected a path starting with a single /"},
      {"[/a]", "expected a path starting with /, got a list"},
  };
  for (const auto& [value, message] : bad) {
    CAPTURE(value);
    const std::string errors = lines_of(load_path(value).errors);
    CHECK(errors.find("t.yaml:6:") == 0);
    CHECK(errors.find("apps[0].skew.reload_module_path: " + message) != std::string::npos);
  }
  CHECK(load_path("/" + std::string(255, 'a')).errors.empty());
}

TEST_CASE("warnings do not block loading") {
  const std::string yaml = std::string(kMinimal) +
                           "pins: {secret: 0123456789abcdef0123456789abcdef, secret_file: /etc/x}\n";
  CHECK(warnings_of(yaml) == "t.yaml:9:63: pins.secret_file: pins.secret is also set and wins; secret_file is ignored\n");
  CHECK(load_string(yaml, "t.yaml").config.has_value());
}

TEST_CASE("registry: api apps may start with no builds") {
  const auto result = load_string(R"(listeners: [{address: 127.0.0.1:8080}]
apps: [{name: shop, registry: api}]
)",
                                  "t.yaml");
  CHECK(result.errors.empty());
  REQUIRE(result.config.has_value());
  CHECK(result.config->apps.at(0).registry == RegistrySource::api);
}

TEST_CASE("a missing file is one diagnostic without a position") {
  const auto result = load_file("/nonexistent/skewgate.yaml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].line == 0);
  CHECK(result.errors[0].to_string() == "/nonexistent/skewgate.yaml: cannot read: No such file or directory");
  CHECK_FALSE(result.config.has_value());
}

TEST_CASE("load_file reads a file and names it in the config") {
  const std::string path = "/tmp/conf_load_test_" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << kMinimal;
  const auto result = load_file(path);
  std::remove(path.c_str());
  REQUIRE(result.config.has_value());
  CHECK(result.config->source == path);
}

TEST_CASE("the design.md section 8 example loads with every value") {
  // The example's manifest path, pointed at a fixture (manifests are read at load).
  const std::string manifest = sg::test::unit_data("server-reference-manifest.next15.json");
  std::string yaml = R"(listeners:
  - address: 0.0.0.0:8080                 # [::]:8080, unix:/path
  - address: 0.0.0.0:8443
    tls: {cert: /etc/skewgate/tls.crt, key: /etc/skewgate/tls.key}   # SNI picks per-app certs
admin: {address: 127.0.0.1:9901, token_file: /etc/skewgate/admin-token}
workers: auto                               # one event loop per core
state_dir: /var/lib/skewgate
limits: {header_bytes: 32KiB, headers: 100, uri_bytes: 8KiB, body_bytes: 0}   # 0 = unlimited
timeouts: {client_header: 10s, client_idle: 60s, upstream_connect: 2s,
           upstream_response: 60s, upstream_idle: 4s, tls_handshake: 10s, drain: 30s}
pins: {cookie: skewgate_pin, secret_file: /etc/skewgate/pin-secret, previous_secrets: []}
apps:
  - name: shop
    hosts: [shop.example.com, "*.shop.example.com"]
    registry: config
    tls: {cert: /etc/skewgate/shop.crt, key: /etc/skewgate/shop.key}   # chosen by SNI
    skew: {action_policy: reload, message: "This page is out of date. Reload to continue."}
    actions: {inspect_bytes: 64KiB, replay_bytes: 64KiB}
    assets: {fallback_builds: 3}
    retention: {max_age: 7d, max_builds: 10, min_retained: 1}
    security: {check_origin: true, allowed_origins: []}
    health: {path: /api/health, interval: 5s}
    current: dpl-b
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001], manifest: /srv/shop/a/.next/server/server-reference-manifest.json}
      - {id: dpl-b, upstreams: [127.0.0.1:3002, 127.0.0.1:3003]}
      - {id: dpl-c, upstreams: [127.0.0.1:3004], state: preview}
      - {id: dpl-0, upstreams: [127.0.0.1:3000], state: retired}   # kill switch in config mode
)";
  const std::string example_path = "/srv/shop/a/.next/server/server-reference-manifest.json";
  yaml.replace(yaml.find(example_path), example_path.size(), manifest);
  const auto result = load_string(yaml, "skewgate.yaml");
  for (const auto& d : result.errors) CAPTURE(d.to_string());
  REQUIRE(result.errors.empty());
  CHECK(result.warnings.empty());
  const Config& c = *result.config;
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[1].address.to_string() == "0.0.0.0:8443");
  CHECK_FALSE(c.listeners[0].tls.has_value());
  REQUIRE(c.listeners[1].tls.has_value());
  CHECK(c.listeners[1].tls->cert == "/etc/skewgate/tls.crt");
  CHECK(c.listeners[1].tls->key == "/etc/skewgate/tls.key");
  CHECK(c.timeouts.tls_handshake == std::chrono::seconds(10));
  CHECK(c.admin.token_file == "/etc/skewgate/admin-token");
  CHECK(c.workers == 0);
  CHECK(c.limits.uri_bytes == 8192);
  CHECK(c.limits.body_bytes == 0);
  CHECK(c.timeouts.upstream_idle == std::chrono::seconds(4));
  CHECK(c.pins.secret_file == "/etc/skewgate/pin-secret");
  REQUIRE(c.apps.size() == 1);
  const AppConfig& app = c.apps[0];
  CHECK(app.hosts == std::vector<std::string>{"shop.example.com", "*.shop.example.com"});
  CHECK(app.retention.max_age == std::chrono::hours(24 * 7));
  CHECK(app.health.path == "/api/health");
  CHECK(app.actions.replay_bytes == 64 * 1024);
  CHECK(app.assets.fallback_builds == 3);
  CHECK(app.current == "dpl-b");
  REQUIRE(app.builds.size() == 4);
  CHECK(app.builds[0].manifest == manifest);
  CHECK(app.builds[0].action_ids.size() == 3);
  CHECK(app.builds[1].action_ids.empty());
  CHECK(app.builds[1].upstreams.size() == 2);
  CHECK(app.builds[2].state == BuildState::preview);
  CHECK(app.builds[3].state == BuildState::retired);
}

TEST_CASE("every key of the schema is accepted") {
  const std::string yaml = std::string(kMinimal) + R"(    default: true
    registry: config
    asset_prefixes: [/assets/]
    skew: {action_policy: error, message: stale}
    actions: {inspect_form_posts: false, inspect_bytes: 16KiB, manifest_max_bytes: 2MiB, replay_bytes: 8KiB}
    assets: {fallback_builds: 5}
    retention: {max_age: 1d, max_builds: 3, min_retained: 2, keep_while_active: true, active_window: 5m, hard_max_age: 2d}
    security: {check_origin: false, allowed_origins: ["https://a.example.com", "http://localhost:3000"]}
    health: {path: /h, interval: 500ms, timeout: 1s, rise: 1, fall: 2}
    canary: {build: dpl-b, percent: 2.5}
      - {id: dpl-b, upstreams: ["[::1]:3002", "unix:/run/b.sock"], state: preview}
watch: true
workers: 4
access_log: {path: /var/log/skewgate.log, format: json}
trusted_proxies: [10.0.0.0/8, "::1"]
pins: {cookie: pin, secret: 0123456789abcdef0123456789abcdef, previous_secrets: [abcdefghijabcdefghijabcdefghij12]}
admin: {address: "unix:/run/skewgate-admin.sock", allowed_hosts: [Admin.Internal.Example, skewgate-admin]}
)";
  // The build line above belongs to `builds`: move it there.
  std::string fixed = yaml;
  const std::string build_line =
      "      - {id: dpl-b, upstreams: [\"[::1]:3002\", \"unix:/run/b.sock\"], state: preview}\n";
  fixed.erase(fixed.find(build_line), build_line.size());
  fixed.insert(fixed.find("    default: true"), build_line);
  const auto result = load_string(fixed, "t.yaml");
  for (const auto& d : result.errors) CAPTURE(d.to_string());
  REQUIRE(result.errors.empty());
  const Config& c = *result.config;
  CHECK(c.workers == 4);
  CHECK(c.watch);
  CHECK(c.access_log.format == LogFormat::json);
  CHECK(c.trusted_proxies.size() == 2);
  CHECK(c.pins.previous_secrets.size() == 1);
  const AppConfig& app = c.apps.at(0);
  CHECK(app.is_default);
  CHECK(app.asset_prefixes == std::vector<std::string>{"/assets/"});
  CHECK(app.skew.action_policy == ActionPolicy::error);
  CHECK(app.actions.inspect_bytes == 16 * 1024);
  CHECK(app.actions.manifest_max_bytes == 2 * 1024 * 1024);
  CHECK(app.actions.replay_bytes == 8 * 1024);
  CHECK(app.assets.fallback_builds == 5);
  CHECK(c.admin.allowed_hosts == std::vector<std::string>{"admin.internal.example", "skewgate-admin"});
  CHECK(app.retention.keep_while_active);
  CHECK(app.health.interval == std::chrono::milliseconds(500));
  REQUIRE(app.canary.has_value());
  CHECK(app.canary->percent == doctest::Approx(2.5));
  CHECK(app.builds.at(1).upstreams.at(1).family == SocketAddress::Family::unix_path);
}

TEST_CASE("the embedded default loads") {
  const auto result = load_string(embedded_default_yaml(), "<embedded default>");
  for (const auto& d : result.errors) CAPTURE(d.to_string());
  REQUIRE(result.errors.empty());
  CHECK(result.warnings.empty());
  const Config& c = *result.config;
  CHECK(c.source == "<embedded default>");
  CHECK(c.listeners.at(0).address.to_string() == "127.0.0.1:8080");
  CHECK(c.admin.address.to_string() == "127.0.0.1:9901");
  CHECK(c.workers == 0);
  CHECK(c.state_dir == "/tmp/skewgate-demo");
  CHECK(c.access_log.path == "stdout");
  REQUIRE(c.apps.size() == 1);
  CHECK(c.apps[0].name == "demo");
  CHECK(c.apps[0].hosts == std::vector<std::string>{"localhost", "127.0.0.1"});
  // Builds come from the admin API / CLI (scripts/demo.sh deploys them), none from YAML.
  CHECK(c.apps[0].registry == RegistrySource::api);
  CHECK(c.apps[0].current.empty());
  CHECK(c.apps[0].builds.empty());
}

TEST_CASE("no input makes load_string throw") {
  for (std::string_view yaml : {"[", "{a: b", "a: &x [*x]", "? [a]\n: b\n", "- 1\n- 2\n", "\t", "\xff\xfe",
                                "apps: [[[[[[[[[[[[]]]]]]]]]]]]", "listeners: {address: 1}"}) {
    CAPTURE(yaml);
    const auto result = load_string(yaml, "t.yaml");
    CHECK_FALSE(result.errors.empty());
  }
}


TEST_CASE("http2: listener switches and the process-wide settings, with their defaults") {
  const std::string yaml =
      "listeners:\n  - {address: 127.0.0.1:8080, h2c: true}\n"
      "  - {address: 127.0.0.1:8443, tls: {cert: /c.pem, key: /k.pem}, http2: false}\n"
      "  - {address: 127.0.0.1:8444, tls: {cert: /c.pem, key: /k.pem}}\n" +
      std::string(kApps) +
      "http2: {max_concurrent_streams: 64, initial_window: 1MiB, connection_window: 4MiB, max_frame_size: 32KiB,"
      " max_requests: 5, reset_budget: {burst: 10, per_second: 2}, control_budget: {burst: 20}}\n";
  const auto result = load_string(yaml, "t.yaml");
  REQUIRE(lines_of(result.errors).empty());
  const Config& c = *result.config;
  CHECK(c.listeners[0].h2c);
  CHECK_FALSE(c.listeners[1].http2);
  CHECK(c.listeners[2].http2);
  CHECK_FALSE(c.listeners[2].h2c);
  CHECK(c.http2.max_concurrent_streams == 64);
  CHECK(c.http2.initial_window == 1024 * 1024);
  CHECK(c.http2.connection_window == 4 * 1024 * 1024);
  CHECK(c.http2.max_frame_size == 32 * 1024);
  CHECK(c.http2.max_requests == 5);
  CHECK(c.http2.reset_budget.burst == 10);
  CHECK(c.http2.reset_budget.per_second == 2);
  CHECK(c.http2.control_budget.burst == 20);
  CHECK(c.http2.control_budget.per_second == 10);
  const Http2Settings defaults;
  CHECK(defaults.max_concurrent_streams == 128);
  CHECK(defaults.initial_window == 65535);
  CHECK(defaults.max_frame_size == 16384);
}

TEST_CASE("http2 shapes that are refused, each named where it is written") {
  const struct {
    const char* text;
    const char* errors;
  } cases[] = {
      {"listeners:\n  - {address: 127.0.0.1:8443, tls: {cert: /c.pem, key: /k.pem}, h2c: true}\n",
       "t.yaml:2:70: listeners[0].h2c: h2c is for a plain listener; this one has tls (ALPN offers h2: see http2)\n"},
      {"listeners:\n  - {address: 127.0.0.1:8080, h2c: yes}\n",
       "t.yaml:2:36: listeners[0].h2c: expected true or false, got 'yes'\n"},
      {"listeners:\n  - {address: 127.0.0.1:8080}\nhttp2: {max_frame_size: 1KiB}\n",
       "t.yaml:3:25: http2.max_frame_size: must be between 16384 and 16777215 bytes\n"},
      {"listeners:\n  - {address: 127.0.0.1:8080}\nhttp2: {max_concurrent_streams: 0}\n",
       "t.yaml:3:33: http2.max_concurrent_streams: expected a whole number of at least 1, got '0'\n"},
      {"listeners:\n  - {address: 127.0.0.1:8080}\nhttp2: {reset_budget: {burst: 10, rate: 1}}\n",
       "t.yaml:3:35: http2.reset_budget.rate: unknown key 'rate'; expected one of: burst, per_second\n"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    const auto result = load_string(std::string(c.text) + kApps, "t.yaml");
    CHECK_FALSE(result.config.has_value());
    CHECK(lines_of(result.errors) == c.errors);
  }
}

}  // namespace
}  // namespace sg::conf
