// The validated configuration: plain values, no I/O, no YAML types.
// conf/load.h turns YAML into this; routing/ builds lookup tables from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "conf/address.h"

namespace sg::conf {

using Duration = std::chrono::milliseconds;

enum class BuildState { current, retained, preview, retired };
const char* to_string(BuildState state);

enum class ActionPolicy { reload, error };
enum class RegistrySource { config, api };
enum class LogFormat { plain, json };

// Which framework's request shapes an app speaks (issue 15): `auto`, the
// default, recognises each request by its shape (a Next.js `next-action` /
// `rsc: 1`, a react-server `React-Server-Action` / `…/rsc.x-component`), so
// one app never needs both.
enum class Framework { auto_detect, next, react_server };
const char* to_string(Framework framework);

// Where a build's known action IDs came from. Absence from a known set is
// evidence against a build only for calls of the same framework: a Next.js
// manifest says nothing about react-server function IDs, and back.
enum class ActionIdSource {
  none,                // nothing known: the build answers for itself
  next_manifest,       // `manifest:` (server-reference-manifest.json)
  react_server_chunks, // `functions_from:` (createServerReference ids in the client chunks)
};
const char* to_string(ActionIdSource source);

// A certificate and its private key, both PEM files. The files are read and
// checked when the config is turned into TLS contexts
// (gateway/net/tls_context.h), never here; the key's content is never kept
// in a Config, printed or logged.
struct TlsConfig {
  std::string cert;  // the certificate, then its chain (intermediates), PEM
  std::string key;   // the private key, PEM
  // "file:line:col: listeners[1].tls": where it was written, so the errors
  // found when the files are read name the config line too.
  std::string where;
};

struct ListenerConfig {
  SocketAddress address;
  std::optional<TlsConfig> tls;  // set: TLS is terminated on this listener
  // A plain listener answers every request with 308 to https://<host><target>
  // (refused with `tls`).
  bool redirect_https = false;
  // ALPN offers h2 (then http/1.1) on a TLS listener; false: http/1.1 only.
  bool http2 = true;
  // A plain listener serves HTTP/2 to clients that start with its preface
  // (prior knowledge, RFC 9113 section 3.3); never through `Upgrade: h2c`.
  // Refused with `tls`.
  bool h2c = false;
};

// A token bucket: `burst` events at once, refilled at `per_second`.
struct EventBudget {
  std::uint64_t burst = 100;
  std::uint64_t per_second = 10;
};

// HTTP/2 to clients (`http2:` at the top level), in the spirit of nginx's
// and Envoy's defaults. Header list limits are `limits` (as for HTTP/1).
struct Http2Settings {
  std::uint64_t max_concurrent_streams = 128;  // SETTINGS_MAX_CONCURRENT_STREAMS
  std::uint64_t initial_window = 65535;        // SETTINGS_INITIAL_WINDOW_SIZE we advertise
  std::uint64_t connection_window = 1024 * 1024;  // our connection receive window
  std::uint64_t max_frame_size = 16384;           // SETTINGS_MAX_FRAME_SIZE we accept
  std::uint64_t max_requests = 10000;  // streams per connection, then a graceful GOAWAY
  // RST_STREAM of streams still in progress (CVE-2023-44487, rapid reset).
  EventBudget reset_budget;
  // PING and SETTINGS frames, each its own bucket (floods of either).
  EventBudget control_budget;
};

// Process-wide TLS settings (`tls:` at the top level).
struct TlsSettings {
  // TLS 1.2 cipher list (OpenSSL syntax): Mozilla's "intermediate" choice,
  // ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 only.
  std::string ciphers =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
      "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  // TLS 1.3 suites; empty: OpenSSL's defaults (all AEAD).
  std::string ciphersuites;
  // Session-ticket keys: a new one every ticket_rotation; the one before it
  // still decrypts (gateway/net/tls_ticket_keys.h).
  Duration ticket_rotation{std::chrono::hours(12)};
  std::string where;  // "file:line:col: tls" when written; "" for the defaults
};

struct AdminConfig {
  SocketAddress address = SocketAddress::parse("127.0.0.1:9901").value();
  std::string token_file;  // empty: none
  // Host names (lower case, no port) the admin API answers besides IP
  // literals and `localhost`: any other Host is a misdirected or DNS-rebound
  // request and gets 403.
  std::vector<std::string> allowed_hosts;
};

// Upstreams written as `name:port` (`dns:` at the top level). Resolved on the
// control loop (gateway/control/dns_resolver.h); listeners never take names.
struct DnsConfig {
  // Each name is looked up again this often, and sooner when its records'
  // TTL is shorter (never more often than once a second).
  Duration refresh{std::chrono::seconds(5)};
  // Name servers to ask instead of /etc/resolv.conf's (numeric, port 53
  // unless written): a test's dnsmasq on loopback, a cluster DNS.
  std::vector<SocketAddress> servers;
};
inline constexpr Duration kMinDnsRefresh{std::chrono::seconds(1)};

struct Limits {
  std::uint64_t header_bytes = 32 * 1024;  // whole request head: 431 past it
  std::uint64_t headers = 100;             // header count: 431 past it
  std::uint64_t uri_bytes = 8 * 1024;      // request target: 414 past it
  std::uint64_t body_bytes = 0;            // 0 = unlimited; 413 past it
};

// Every phase of a connection has one (nginx's names in brackets). A read
// paused for back-pressure never stops the deadline of the side that holds
// things up: its send deadline runs instead.
struct Timeouts {
  Duration client_header{std::chrono::seconds(10)};  // [client_header_timeout] a head spanning reads: 408
  Duration client_body{std::chrono::seconds(60)};    // [client_body_timeout] between two body reads: 408 or close
  Duration client_send{std::chrono::seconds(60)};    // [send_timeout] no write progress to the client: close
  Duration client_idle{std::chrono::seconds(60)};    // [keepalive_timeout]
  Duration tunnel_idle{std::chrono::hours(1)};       // no byte either way in an upgrade tunnel: close both
  Duration upstream_connect{std::chrono::seconds(2)};
  // Between two reads of the response, or without write progress while the
  // upstream has request bytes queued [proxy_read_timeout, proxy_send_timeout].
  Duration upstream_response{std::chrono::seconds(60)};
  // Below Node's 5 s keep-alive so we never reuse a socket Node is closing.
  Duration upstream_idle{std::chrono::seconds(4)};
  Duration drain{std::chrono::seconds(30)};
  // From accept to a finished TLS handshake; then the connection is closed
  // and counted (skewgate_tls_handshake_errors_total{reason="handshake_timeout"}).
  Duration tls_handshake{std::chrono::seconds(10)};
};

struct AccessLogConfig {
  std::string path = "stdout";  // "stdout", "stderr", "off" or a file path
  LogFormat format = LogFormat::plain;
};

// GET /metrics on the admin listener. Off, the request path records nothing
// (for measuring what metrics cost, or when nobody scrapes).
struct MetricsConfig {
  bool enabled = true;
};

struct PinsConfig {
  std::string cookie = "skewgate_pin";
  std::string secret;       // never printed
  std::string secret_file;
  std::vector<std::string> previous_secrets;  // never printed
};

struct SkewConfig {
  ActionPolicy action_policy = ActionPolicy::reload;
  std::string message = "This page is out of date. Reload to continue.";
  // react-server's flight reload answer makes the client import this module,
  // which skewgate serves itself (never proxied) when the app's framework is
  // react-server or auto.
  std::string reload_module_path = "/__skewgate/reload.mjs";
};

struct ActionsConfig {
  bool inspect_form_posts = true;
  std::uint64_t inspect_bytes = 64 * 1024;
  // A build's server-reference-manifest.json larger than this is refused
  // (Next.js writes a few KiB to a few MiB).
  std::uint64_t manifest_max_bytes = 16 * 1024 * 1024;
  // A build's `functions_from` walk reads at most this many bytes of client
  // chunks in all (each file also at most manifest_max_bytes).
  std::uint64_t functions_max_bytes = 256 * 1024 * 1024;
  // A request body up to this size is held until the first answer's head has
  // arrived, so an action the build does not know can be replayed on another
  // build (skew/replay.h); 0 = never replay. At most kMaxReplayBytes: the
  // bytes are held per in-flight action.
  std::uint64_t replay_bytes = 64 * 1024;
};
inline constexpr std::uint64_t kMaxReplayBytes = 16 * 1024 * 1024;

struct AssetsConfig {
  // An asset without `dpl` that current answers 404 is tried on up to this
  // many other kept builds, newest first (GET/HEAD only); 0 = off.
  std::uint64_t fallback_builds = 3;
};

struct RetentionConfig {
  Duration max_age{std::chrono::hours(24 * 7)};
  std::uint64_t max_builds = 10;
  std::uint64_t min_retained = 1;
  bool keep_while_active = false;
  Duration active_window{std::chrono::minutes(15)};
  Duration hard_max_age{std::chrono::hours(24 * 30)};
};

struct SecurityConfig {
  bool check_origin = true;
  std::vector<std::string> allowed_origins;
};

struct HealthConfig {
  std::string path;  // empty: no active checks
  Duration interval{std::chrono::seconds(5)};
  Duration timeout{std::chrono::seconds(2)};
  std::uint64_t rise = 2;
  std::uint64_t fall = 3;
};

struct CanaryConfig {
  std::string build;
  double percent = 0;
};

struct BuildConfig {
  std::string id;                       // the deployment ID
  // At least one; numeric, unix: or name:port (resolved at run time: a
  // snapshot's routing::Build::upstreams hold the resolved addresses).
  std::vector<SocketAddress> upstreams;
  std::string manifest;                 // server-reference-manifest.json path, optional
  // Read from `manifest` at load time: the keys of its `node` and `edge`
  // objects. Nothing else of the file is kept (it also holds the build's
  // encryptionKey, which must never be stored, logged or exposed).
  std::vector<std::string> action_ids;
  std::optional<BuildState> state;      // only preview or retired may be written
  // Probe the build before it is used (gateway/build_verifier.h): one that
  // reports another deployment ID is refused. `verify: false` skips it.
  bool verify = true;
  // react-server: the build's output dir; its client chunks
  // (`<dir>/client/**/*.mjs`) name every server function the build's pages
  // can call (`createServerReference("<id>"`). Collected into action_ids at
  // load/registration time. At most one of `manifest` / `functions_from`.
  std::string functions_from;
  // Which of the two filled action_ids (none when neither is set).
  ActionIdSource action_id_source = ActionIdSource::none;
};

struct AppConfig {
  std::string name;
  std::vector<std::string> hosts;  // exact names and "*.suffix" wildcards, lower case
  bool is_default = false;         // `default: true`; else the first app is the default
  RegistrySource registry = RegistrySource::config;
  Framework framework = Framework::auto_detect;
  std::string current;             // id of the current build
  std::vector<BuildConfig> builds;
  std::vector<std::string> asset_prefixes = {"/_next/static/", "/_next/image"};
  SkewConfig skew;
  ActionsConfig actions;
  AssetsConfig assets;
  RetentionConfig retention;
  SecurityConfig security;
  HealthConfig health;
  std::optional<CanaryConfig> canary;
  // Served to TLS clients whose SNI names one of `hosts` (exact, then
  // wildcard); needs a TLS listener.
  std::optional<TlsConfig> tls;
};

struct Config {
  std::string source;  // file path, or "<embedded default>"
  std::vector<ListenerConfig> listeners;
  AdminConfig admin;
  unsigned workers = 0;  // 0 = auto (one per core)
  std::string state_dir = "/var/lib/skewgate";
  bool watch = false;
  Limits limits;
  Timeouts timeouts;
  AccessLogConfig access_log;
  MetricsConfig metrics;
  std::vector<Cidr> trusted_proxies;
  PinsConfig pins;
  TlsSettings tls;
  Http2Settings http2;
  DnsConfig dns;
  std::vector<AppConfig> apps;
};

}  // namespace sg::conf
