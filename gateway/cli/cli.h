// skewgate as the client of its own admin API (design.md section 11):
// `skewgate builds|deploy|promote|rollback|retire|preview|reload --admin URL`,
// and `skewgate health`, the container image's HEALTHCHECK.
//
// Exit status: 0 ok, 1 refused by the server (its `message` is printed),
// 2 usage or connection error. `health` instead answers like a health check
// (Docker reads 0 healthy, 1 unhealthy): 0 when /healthz answers 200, 1 for
// anything else, no answer included; 2 only for usage errors. The CLI never
// hangs: connect and read are bounded (5 s each, health's --timeout), and
// `deploy` waits for health at most --health-timeout.
//
// Everything but the socket is pure and tested in tests/unit/cli_test.cc:
// argument parsing, the admin URL, request bytes, response framing
// (gateway/cli/response_reader.h: the HTTP/1 parser of the gateway), tables,
// refusals, and the command flows themselves over an injected transport.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "gateway/cli/response_reader.h"

namespace sg::gateway {

// True for the words that select the admin client instead of the gateway.
bool is_cli_command(std::string_view word);

// The whole CLI: argv[1] is the command. Reads the environment, the token
// file and the network; prints to stdout/stderr; returns the exit status.
int run_cli(int argc, char** argv);

namespace cli {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;  // also: connection errors, malformed responses

constexpr std::string_view kDefaultAdmin = "http://127.0.0.1:9901";
constexpr std::chrono::milliseconds kIoTimeout{5000};
constexpr std::chrono::milliseconds kHealthPollInterval{250};

enum class Command { builds, deploy, promote, rollback, retire, preview, reload, health };

struct Args {
  Command command = Command::builds;
  std::string admin;       // after defaulting: flag, else $SKEWGATE_ADMIN, else kDefaultAdmin
  std::string app;
  std::string build;
  std::vector<std::string> upstreams;
  std::string manifest;    // a path on the gateway's host, sent as given
  std::string functions_from;  // react-server outDir on the gateway's host, sent as given
  std::chrono::milliseconds health_timeout{60000};
  std::chrono::milliseconds io_timeout = kIoTimeout;  // connect and read, each (health: --timeout)
  std::string token_file;  // empty: $SKEWGATE_ADMIN_TOKEN
  bool json = false;
  bool verify = true;      // --no-verify (deploy, promote): "verify": false in the bodies
  bool help = false;       // -h/--help: print the command's usage, exit 0
};

// What run_cli reads from the environment, passed in so parsing stays pure.
struct Environment {
  std::string admin;  // $SKEWGATE_ADMIN
  std::string token;  // $SKEWGATE_ADMIN_TOKEN
};

// argv[1] is the command. On failure `error` says what is wrong (never the
// token) and the caller prints it with usage_for(command) and exits 2.
bool parse_args(int argc, const char* const* argv, const Environment& env, Args& args, std::string& error);

// The usage of one command (with the common options), or of all commands
// when `word` is not a command.
std::string usage_for(std::string_view word);

// `http://HOST[:PORT][/BASE]`: HOST is an IPv4 address, a bracketed IPv6
// address or "localhost" (127.0.0.1). No name resolution, no https, no
// userinfo, query or fragment.
struct AdminUrl {
  std::string ip;         // numeric, without brackets
  bool ipv6 = false;
  std::uint16_t port = 80;
  std::string authority;  // the Host header, as written ("localhost:9901")
  std::string base_path;  // "" or "/prefix", never a trailing '/'
};
bool parse_admin_url(std::string_view text, AdminUrl& url, std::string& error);

// The token from --token-file (trailing whitespace trimmed) or the
// environment. Empty when neither is set. Errors never contain the token.
bool resolve_token(const Args& args, const Environment& env, std::string& token, std::string& error);

// One request's bytes. `path` is the API path ("/api/v1/apps"); the base path
// is prepended. POSTs carry Content-Type: application/json and Content-Length.
std::string build_request(const AdminUrl& url, std::string_view method, std::string_view path,
                          std::string_view token, std::string_view body);

// RFC 3986 unreserved characters stay; everything else is %XX.
std::string encode_path_segment(std::string_view segment);

// Formats a refusal (non-2xx): the server's `message` (and every line of
// `errors`, for invalid_config), or the status and a snippet of the body
// when it is not an error JSON. One line per entry, no trailing newline.
std::string describe_refusal(const HttpResponse& response);

// Column-aligned rows (the first is the header), two spaces apart, no
// trailing blanks, one '\n' after each row.
std::string render_table(const std::vector<std::vector<std::string>>& rows);

// "45s", "3m20s", "2h5m", "3d4h".
std::string format_age(std::int64_t seconds);

// GET /api/v1/apps/{app} -> a title line and the builds table
// (ID, STATE, HEALTHY, UPSTREAMS, AGE, LAST REQUEST). False when the JSON
// is not an app object.
bool render_builds(const nlohmann::json& app, std::string& out, std::string& error);

// The side effects of a command, injected so flows are testable without
// sockets or clocks.
struct Io {
  // Sends one request; false (with `error`) when no HTTP response came back.
  std::function<bool(std::string_view method, std::string_view path, std::string_view body, HttpResponse& response,
                     std::string& error)>
      exchange;
  std::function<void(std::string_view)> out;  // stdout
  std::function<void(std::string_view)> err;  // stderr
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Runs a parsed command. Returns the exit status.
int run_command(const Args& args, Io& io);

// A blocking HTTP/1.1 exchange with Connection: close over a POSIX socket,
// bounded by `timeout` for the connect and `timeout` for the response.
bool http_exchange(const AdminUrl& url, const std::string& request, HttpResponse& response, std::string& error,
                   std::chrono::milliseconds timeout = kIoTimeout);

}  // namespace cli
}  // namespace sg::gateway
