#include "gateway/cli/cli.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "conf/load.h"

namespace sg::gateway {
namespace cli {
namespace {

using nlohmann::json;

struct CommandSpec {
  Command command;
  std::string_view name;
  bool app;    // --app required
  bool build;  // --build required
  std::string_view synopsis;
  std::string_view summary;
};

constexpr CommandSpec kCommands[] = {
    {Command::builds, "builds", true, false, "builds   --app APP", "list an app's builds"},
    {Command::deploy, "deploy", true, true,
     "deploy   --app APP --build ID --upstream ADDR [--upstream ADDR ...]\n"
     "           [--manifest PATH | --functions-from DIR] [--health-timeout 60s] [--no-verify]",
     "register a build, wait until it is healthy, promote it"},
    {Command::promote, "promote", true, true, "promote  --app APP --build ID [--no-verify]", "make a build current"},
    {Command::rollback, "rollback", true, false, "rollback --app APP", "promote the newest retained build"},
    {Command::retire, "retire", true, true, "retire   --app APP --build ID",
     "stop routing to a build now (kill switch)"},
    {Command::preview, "preview", true, true, "preview  --app APP --build ID", "make a build a preview build"},
    {Command::reload, "reload", false, false, "reload", "re-read the configuration file"},
    {Command::health, "health", false, false, "health   [--timeout 5s]",
     "exit 0 when the admin /healthz answers 200, else 1 (a container HEALTHCHECK; no token sent)"},
};

constexpr std::string_view kCommonUsage =
    "options:\n"
    "  --admin URL         admin listener: http://IP[:PORT][/BASE] or http://localhost[:PORT]\n"
    "                      (default: $SKEWGATE_ADMIN, else http://127.0.0.1:9901)\n"
    "  --token-file FILE   bearer token (default: $SKEWGATE_ADMIN_TOKEN)\n"
    "  --json              print the server's JSON response\n"
    "  --no-verify         (deploy, promote) do not check that the build reports its own\n"
    "                      deployment ID (x-nextjs-deployment-id or <html data-dpl-id>)\n"
    "exit status: 0 ok, 1 refused by the server, 2 usage or connection error\n";

constexpr std::string_view kHealthUsage =
    "options:\n"
    "  --admin URL         admin listener: http://IP[:PORT][/BASE] or http://localhost[:PORT]\n"
    "                      (default: $SKEWGATE_ADMIN, else http://127.0.0.1:9901)\n"
    "  --timeout DURATION  bound on the connect and on the answer, each (default 5s, at most 60s)\n"
    "exit status: 0 healthy, 1 unhealthy or no answer (one line says why), 2 usage error\n";

const CommandSpec* find_command(std::string_view word) {
  for (const auto& spec : kCommands)
    if (spec.name == word) return &spec;
  return nullptr;
}

bool has_control_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// ---- JSON field access without exceptions ----

std::string string_field(const json& object, const char* key, std::string_view fallback = "") {
  if (!object.is_object()) return std::string(fallback);
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::string(fallback);
  return it->get<std::string>();
}

const json* field(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

json parse_json(std::string_view body) { return json::parse(body.begin(), body.end(), nullptr, false); }

bool is_success(int status) { return status >= 200 && status < 300; }

}  // namespace

// ---- arguments ----

std::string usage_for(std::string_view word) {
  std::string out;
  if (const CommandSpec* spec = find_command(word)) {
    out += "usage: skewgate ";
    out += spec->synopsis;
    out += spec->command == Command::health ? " [--admin URL]\n  " : " [--admin URL] [--token-file FILE] [--json]\n  ";
    out += spec->summary;
    out += "\n";
    if (spec->command == Command::health) return out + std::string(kHealthUsage);
  } else {
    out += "usage: skewgate COMMAND [--admin URL] [--token-file FILE] [--json] ...\ncommands:\n";
    for (const auto& spec : kCommands) {
      out += "  ";
      out += spec.synopsis;
      out += "\n      ";
      out += spec.summary;
      out += "\n";
    }
  }
  out += kCommonUsage;
  return out;
}

bool parse_args(int argc, const char* const* argv, const Environment& env, Args& args, std::string& error) {
  args = Args{};
  if (argc < 2) {
    error = "missing command";
    return false;
  }
  const CommandSpec* spec = find_command(argv[1]);
  if (!spec) {
    error = std::string("unknown command '") + argv[1] + "'";
    return false;
  }
  args.command = spec->command;
  const bool deploy = spec->command == Command::deploy;

  bool seen_admin = false, seen_app = false, seen_build = false, seen_manifest = false, seen_functions = false,
       seen_timeout = false,
       seen_token = false, seen_io_timeout = false;
  const bool health = spec->command == Command::health;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      args.help = true;
      continue;
    }
    if (arg == "--json") {
      if (health) {
        error = "option '--json' does not apply to 'health'";
        return false;
      }
      args.json = true;
      continue;
    }
    if (arg == "--no-verify") {
      if (spec->command != Command::deploy && spec->command != Command::promote) {
        error = "option '--no-verify' does not apply to '" + std::string(spec->name) + "'";
        return false;
      }
      args.verify = false;
      continue;
    }
    if (arg.substr(0, 2) != "--") {
      error = "unexpected argument '" + std::string(arg) + "'";
      return false;
    }
    std::string name(arg);
    std::string value;
    bool has_value = false;
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
      has_value = true;
    }

    struct Flag {
      std::string_view name;
      bool applies;
      bool repeatable;
      bool* seen;
    };
    bool seen_upstream = false;
    const Flag flags[] = {
        {"--admin", true, false, &seen_admin},
        {"--token-file", !health, false, &seen_token},
        {"--app", spec->app, false, &seen_app},
        {"--build", spec->build, false, &seen_build},
        {"--upstream", deploy, true, &seen_upstream},
        {"--manifest", deploy, false, &seen_manifest},
        {"--functions-from", deploy, false, &seen_functions},
        {"--health-timeout", deploy, false, &seen_timeout},
        {"--timeout", health, false, &seen_io_timeout},
    };
    const Flag* flag = nullptr;
    for (const auto& f : flags)
      if (f.name == name) flag = &f;
    if (!flag || name == "--json") {
      error = "unknown option '" + name + "'";
      return false;
    }
    if (!flag->applies) {
      error = "option '" + name + "' does not apply to '" + std::string(spec->name) + "'";
      return false;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        error = "option '" + name + "' needs a value";
        return false;
      }
      value = argv[++i];
    }
    if (value.empty()) {
      error = "option '" + name + "' needs a non-empty value";
      return false;
    }
    if (*flag->seen && !flag->repeatable) {
      error = "option '" + name + "' given twice";
      return false;
    }
    *flag->seen = true;

    if (name == "--admin") {
      args.admin = value;
    } else if (name == "--token-file") {
      args.token_file = value;
    } else if (name == "--app") {
      args.app = value;
    } else if (name == "--build") {
      args.build = value;
    } else if (name == "--upstream") {
      args.upstreams.push_back(value);
    } else if (name == "--manifest") {
      args.manifest = value;
    } else if (name == "--functions-from") {
      args.functions_from = value;
    } else if (name == "--health-timeout") {
      const auto duration = sg::conf::parse_duration(value);
      if (!duration) {
        error = "--health-timeout: expected a duration like 500ms, 60s, 5m; got '" + value + "'";
        return false;
      }
      args.health_timeout = *duration;
    } else if (name == "--timeout") {
      // At most a minute: a health check that waits longer is no check.
      const auto duration = sg::conf::parse_duration(value);
      if (!duration || *duration < std::chrono::milliseconds(1) || *duration > std::chrono::minutes(1)) {
        error = "--timeout: expected a duration from 1ms to 60s like 500ms, 2s; got '" + value + "'";
        return false;
      }
      args.io_timeout = *duration;
    }
  }
  if (args.help) return true;

  if (spec->app && args.app.empty()) {
    error = "missing --app";
    return false;
  }
  if (spec->build && args.build.empty()) {
    error = "missing --build";
    return false;
  }
  if (deploy && args.upstreams.empty()) {
    error = "missing --upstream (at least one)";
    return false;
  }
  if (!args.manifest.empty() && !args.functions_from.empty()) {
    error = "--manifest (Next.js) and --functions-from (react-server) exclude each other";
    return false;
  }
  if (args.admin.empty()) args.admin = env.admin.empty() ? std::string(kDefaultAdmin) : env.admin;
  return true;
}

bool resolve_token(const Args& args, const Environment& env, std::string& token, std::string& error) {
  token.clear();
  if (!args.token_file.empty()) {
    std::ifstream in(args.token_file, std::ios::binary);
    if (!in) {
      error = "cannot read token file " + args.token_file + ": " + std::strerror(errno);
      return false;
    }
    std::stringstream contents;
    contents << in.rdbuf();
    token = contents.str();
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
    if (token.empty()) {
      error = "token file " + args.token_file + " is empty";
      return false;
    }
  } else {
    token = env.token;
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  }
  if (has_control_chars(token)) {
    token.clear();
    error = std::string("the admin token (") + (args.token_file.empty() ? "$SKEWGATE_ADMIN_TOKEN" : args.token_file) +
            ") contains control characters or line breaks";
    return false;
  }
  return true;
}

// ---- URL and request ----

bool parse_admin_url(std::string_view text, AdminUrl& url, std::string& error) {
  url = AdminUrl{};
  const std::string where = "--admin '" + std::string(text) + "': ";
  if (lower(text.substr(0, 7)) != "http://") {
    error = where + (lower(text.substr(0, 8)) == "https://" ? "https is not supported; use http:// (loopback)"
                                                             : "expected http://HOST[:PORT][/PATH]");
    return false;
  }
  std::string_view rest = text.substr(7);
  if (has_control_chars(rest) || rest.find(' ') != std::string_view::npos) {
    error = where + "contains spaces or control characters";
    return false;
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    error = where + "a query or fragment is not allowed";
    return false;
  }
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    error = where + "user information is not allowed (use --token-file)";
    return false;
  }
  if (authority.empty()) {
    error = where + "missing host";
    return false;
  }

  std::string_view host, port;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = where + "unterminated '[' in the host";
      return false;
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = where + "expected ':PORT' after ']'";
        return false;
      }
      port = after.substr(1);
      if (port.empty()) {
        error = where + "empty port";
        return false;
      }
    }
    in6_addr a6;
    if (!inet_pton(AF_INET6, std::string(host).c_str(), &a6)) {
      error = where + "'" + std::string(host) + "' is not an IPv6 address";
      return false;
    }
    url.ip = std::string(host);
    url.ipv6 = true;
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) {
        error = where + "empty port";
        return false;
      }
    }
    in_addr a4;
    if (lower(host) == "localhost") {
      url.ip = "127.0.0.1";
    } else if (inet_pton(AF_INET, std::string(host).c_str(), &a4) == 1) {
      url.ip = std::string(host);
    } else {
      error = where + "'" + std::string(host) +
              "' is not an IP address or localhost (the CLI resolves no other names)";
      return false;
    }
  }
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      error = where + "port '" + std::string(port) + "' is not a number from 1 to 65535";
      return false;
    }
    url.port = static_cast<std::uint16_t>(value);
  }
  url.authority = std::string(authority);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  url.base_path = std::string(path);
  return true;
}

std::string encode_path_segment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : segment) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  return out;
}

std::string build_request(const AdminUrl& url, std::string_view method, std::string_view path,
                          std::string_view token, std::string_view body) {
  std::string out;
  out.reserve(256 + body.size());
  out.append(method).append(" ").append(url.base_path).append(path).append(" HTTP/1.1\r\n");
  out.append("Host: ").append(url.authority).append("\r\n");
  out.append("User-Agent: skewgate-cli\r\nAccept: application/json\r\n");
  if (!token.empty()) out.append("Authorization: Bearer ").append(token).append("\r\n");
  if (method == "POST") {
    out.append("Content-Type: application/json\r\n");
    out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  out.append("Connection: close\r\n\r\n");
  out.append(body);
  return out;
}

// ---- output ----

std::string describe_refusal(const HttpResponse& response) {
  const json body = parse_json(response.body);
  const std::string code = string_field(body, "error");
  const std::string message = string_field(body, "message");
  std::string out;
  if (!message.empty() || !code.empty()) {
    out = message.empty() ? code : message;
    out += " (" + (code.empty() ? std::string("error") : code) + ", HTTP " + std::to_string(response.status) + ")";
    if (const json* errors = field(body, "errors"); errors && errors->is_array()) {
      for (const auto& e : *errors)
        if (e.is_string()) out += "\n  " + e.get<std::string>();
    }
    return out;
  }
  out = "the server answered HTTP " + std::to_string(response.status);
  if (!response.reason.empty()) out += " " + response.reason;
  std::string snippet = response.body.substr(0, 200);
  for (char& c : snippet)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  snippet = std::string(trim(snippet));
  if (!snippet.empty()) out += ": " + snippet;
  return out;
}

std::string render_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  }
  return out;
}

std::string format_age(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  const auto two = [](std::int64_t big, const char* big_unit, std::int64_t small, const char* small_unit) {
    std::string s = std::to_string(big) + big_unit;
    if (small) s += std::to_string(small) + small_unit;
    return s;
  };
  if (seconds < 60) return std::to_string(seconds) + "s";
  if (seconds < 3600) return two(seconds / 60, "m", seconds % 60, "s");
  if (seconds < 86400) return two(seconds / 3600, "h", seconds % 3600 / 60, "m");
  return two(seconds / 86400, "d", seconds % 86400 / 3600, "h");
}

bool render_builds(const json& app, std::string& out, std::string& error) {
  const json* builds = field(app, "builds");
  if (!builds || !builds->is_array()) {
    error = "unexpected response: no 'builds' array";
    return false;
  }
  const std::string name = string_field(app, "name", "?");
  out = "app " + name;
  if (const std::string registry = string_field(app, "registry"); !registry.empty())
    out += " (registry: " + registry + ")";
  out += ", current: " + string_field(app, "current", "none") + "\n";
  if (builds->empty()) {
    out += "no builds\n";
    return true;
  }
  std::vector<std::vector<std::string>> rows{{"ID", "STATE", "HEALTHY", "UPSTREAMS", "AGE", "LAST REQUEST"}};
  for (const auto& b : *builds) {
    std::string state = string_field(b, "state", "-");
    if (const std::string by = string_field(b, "retired_by"); !by.empty()) state += " (" + by + ")";
    std::string healthy = "-";
    if (const json* h = field(b, "healthy"); h && h->is_boolean()) healthy = h->get<bool>() ? "yes" : "no";
    std::string upstreams;
    if (const json* u = field(b, "upstreams"); u && u->is_array()) {
      for (const auto& address : *u) {
        if (!address.is_string()) continue;
        if (!upstreams.empty()) upstreams += ",";
        upstreams += address.get<std::string>();
      }
    }
    if (upstreams.empty()) upstreams = "-";
    std::string age = "-";
    if (const json* a = field(b, "age_seconds"); a && a->is_number()) age = format_age(a->get<std::int64_t>());
    rows.push_back({string_field(b, "id", "?"), state, healthy, upstreams, age,
                    string_field(b, "last_request_at", "-")});
  }
  out += render_table(rows);
  return true;
}

// ---- commands ----

namespace {

enum class Outcome { ok, refused, failed };

struct Call {
  Outcome outcome = Outcome::failed;
  HttpResponse response;
  json body;  // parsed body of a 2xx
};

class Runner {
 public:
  Runner(const Args& args, Io& io) : args_(args), io_(io) {}

  int run() {
    switch (args_.command) {
      case Command::builds: return builds();
      case Command::deploy: return deploy();
      case Command::promote: return promote();
      case Command::rollback: return simple("POST", app_path() + "/rollback", "{}", [&](const json& b) {
          return app_label() + ": rolled back to " + string_field(b, "current", "?") +
                 " (previous: " + string_field(b, "previous", "none") + ")";
        });
      case Command::retire: return simple("POST", build_path() + "/retire", "{}", [&](const json& b) {
          return app_label() + ": " + string_field(b, "build", args_.build) + " is " + string_field(b, "state", "retired") +
                 "; skewgate no longer routes to it (stopping its upstream processes is up to you)";
        });
      case Command::preview: return simple("POST", build_path() + "/preview", "{}", [&](const json& b) {
          std::string line = app_label() + ": " + string_field(b, "build", args_.build) + " is " +
                             string_field(b, "state", "preview");
          for (const char* key : {"url", "preview_url"})
            if (const std::string url = string_field(b, key); !url.empty()) line += "\npreview link: " + url;
          return line;
        });
      case Command::reload: return reload();
      case Command::health: return health();
    }
    return kExitUsage;
  }

 private:
  std::string app_label() const { return args_.app; }
  std::string app_path() const { return "/api/v1/apps/" + encode_path_segment(args_.app); }
  std::string build_path() const { return app_path() + "/builds/" + encode_path_segment(args_.build); }

  void say(const std::string& line) {
    // With --json, stdout carries only the server's JSON; progress goes to stderr.
    (args_.json ? io_.err : io_.out)(line + "\n");
  }
  void fail(const std::string& line) { io_.err("skewgate: " + line + "\n"); }

  void print_json(const std::string& body) {
    io_.out(body);
    if (body.empty() || body.back() != '\n') io_.out("\n");
  }

  Call call(std::string_view method, const std::string& path, const std::string& body) {
    Call c;
    std::string error;
    if (!io_.exchange(method, path, body, c.response, error)) {
      fail(error);
      return c;
    }
    if (!is_success(c.response.status)) {
      c.outcome = Outcome::refused;
      if (args_.json) print_json(c.response.body);
      fail(describe_refusal(c.response));
      return c;
    }
    c.body = parse_json(c.response.body);
    if (c.body.is_discarded() || !c.body.is_object()) {
      fail(std::string(method) + " " + path + ": the server answered HTTP " + std::to_string(c.response.status) +
           " without a JSON object");
      return c;
    }
    c.outcome = Outcome::ok;
    return c;
  }

  static int exit_of(Outcome outcome) {
    return outcome == Outcome::refused ? kExitRefused : kExitUsage;
  }

  int simple(std::string_view method, const std::string& path, const std::string& body,
             const std::function<std::string(const json&)>& human) {
    Call c = call(method, path, body);
    if (c.outcome != Outcome::ok) return exit_of(c.outcome);
    if (args_.json)
      print_json(c.response.body);
    else
      io_.out(human(c.body) + "\n");
    return kExitOk;
  }

  int builds() {
    Call c = call("GET", app_path(), "");
    if (c.outcome != Outcome::ok) return exit_of(c.outcome);
    if (args_.json) {
      print_json(c.response.body);
      return kExitOk;
    }
    std::string table, error;
    if (!render_builds(c.body, table, error)) {
      fail(error);
      return kExitUsage;
    }
    io_.out(table);
    return kExitOk;
  }

  std::string promote_line(const json& b) const {
    return app_label() + ": " + string_field(b, "current", args_.build) + " is now current (previous: " +
           string_field(b, "previous", "none") + ")";
  }

  // `"verify": false` only when asked, so the body stays {} otherwise.
  std::string promote_body() const { return args_.verify ? "{}" : R"({"verify":false})"; }

  int promote() {
    return simple("POST", build_path() + "/promote", promote_body(), [&](const json& b) { return promote_line(b); });
  }

  // One line either way: Docker keeps a health check's output in
  // `inspect`, and an operator reads why there.
  int health() {
    HttpResponse response;
    std::string error;
    if (!io_.exchange("GET", "/healthz", "", response, error)) {
      fail("unhealthy: " + error);
      return kExitRefused;
    }
    if (response.status != 200) {
      std::string why = describe_refusal(response);
      why = why.substr(0, why.find('\n'));
      fail("unhealthy: /healthz: " + why);
      return kExitRefused;
    }
    io_.out("healthy: /healthz answered 200\n");
    return kExitOk;
  }

  int reload() {
    Call c = call("POST", "/api/v1/reload", "{}");
    if (c.outcome != Outcome::ok) return exit_of(c.outcome);
    if (args_.json) {
      print_json(c.response.body);
      return kExitOk;
    }
    std::string line = "configuration reloaded";
    if (const json* g = field(c.body, "generation"); g && g->is_number_integer())
      line += " (generation " + std::to_string(g->get<std::int64_t>()) + ")";
    io_.out(line + "\n");
    return kExitOk;
  }

  int deploy() {
    json request{{"id", args_.build}, {"upstreams", args_.upstreams}};
    if (!args_.manifest.empty()) request["manifest"] = args_.manifest;
    if (!args_.functions_from.empty()) request["functions_from"] = args_.functions_from;
    if (!args_.verify) request["verify"] = false;
    Call reg = call("POST", app_path() + "/builds",
                    request.dump(-1, ' ', false, json::error_handler_t::replace));
    if (reg.outcome != Outcome::ok) return exit_of(reg.outcome);
    std::string upstreams;
    for (const auto& u : args_.upstreams) upstreams += (upstreams.empty() ? "" : ",") + u;
    say(std::string(reg.response.status == 201 ? "registered " : "already registered ") + app_label() + "/" +
        args_.build + " (upstreams " + upstreams + ")");

    const auto timeout_s = std::chrono::duration<double>(args_.health_timeout).count();
    char timeout_text[32];
    std::snprintf(timeout_text, sizeof timeout_text, "%gs", timeout_s);
    say("waiting up to " + std::string(timeout_text) + " for " + args_.build + " to become healthy");
    const auto start = io_.now();
    const auto deadline = start + args_.health_timeout;
    while (true) {
      Call poll = call("GET", app_path(), "");
      if (poll.outcome != Outcome::ok) return exit_of(poll.outcome);
      const json* builds = field(poll.body, "builds");
      const json* mine = nullptr;
      if (builds && builds->is_array())
        for (const auto& b : *builds)
          if (string_field(b, "id") == args_.build) mine = &b;
      if (mine) {
        if (string_field(*mine, "state") == "retired") {
          fail(args_.build + " was retired while waiting for it to become healthy; not promoted");
          return kExitRefused;
        }
        if (const json* h = field(*mine, "healthy"); h && h->is_boolean() && h->get<bool>()) break;
      }
      const auto now = io_.now();
      if (now >= deadline) {
        fail(args_.build + (mine ? " did not become healthy" : " did not appear in the app") + " within " +
             timeout_text + "; it stays registered, not promoted");
        return kExitRefused;
      }
      io_.sleep(std::min<std::chrono::milliseconds>(
          kHealthPollInterval, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
                                   std::chrono::milliseconds(1)));
    }
    const auto waited = std::chrono::duration<double>(io_.now() - start).count();
    char waited_text[32];
    std::snprintf(waited_text, sizeof waited_text, "%.1fs", waited);
    say(args_.build + " is healthy (after " + waited_text + ")");

    Call prom = call("POST", build_path() + "/promote", promote_body());
    if (prom.outcome != Outcome::ok) return exit_of(prom.outcome);
    if (args_.json)
      print_json(prom.response.body);
    else
      say(promote_line(prom.body));
    return kExitOk;
  }

  const Args& args_;
  Io& io_;
};

}  // namespace

int run_command(const Args& args, Io& io) { return Runner(args, io).run(); }

// ---- socket ----

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

using Clock = std::chrono::steady_clock;

// Waits for `events` until `deadline`. False on timeout (errno = ETIMEDOUT).
bool wait_for(int fd, short events, Clock::time_point deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      errno = ETIMEDOUT;
      return false;
    }
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

}  // namespace

bool http_exchange(const AdminUrl& url, const std::string& request, HttpResponse& response, std::string& error,
                   std::chrono::milliseconds timeout) {
  const std::string target = "http://" + url.authority;
  sockaddr_storage address{};
  socklen_t address_len = 0;
  if (url.ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&address);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(url.port);
    if (inet_pton(AF_INET6, url.ip.c_str(), &a->sin6_addr) != 1) {
      error = "invalid address " + url.ip;
      return false;
    }
    address_len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&address);
    a->sin_family = AF_INET;
    a->sin_port = htons(url.port);
    if (inet_pton(AF_INET, url.ip.c_str(), &a->sin_addr) != 1) {
      error = "invalid address " + url.ip;
      return false;
    }
    address_len = sizeof *a;
  }

  Fd fd(::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  const auto connect_deadline = Clock::now() + timeout;
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), address_len) != 0) {
    if (errno != EINPROGRESS) {
      error = "cannot connect to " + target + ": " + std::strerror(errno);
      return false;
    }
    if (!wait_for(fd.get(), POLLOUT, connect_deadline)) {
      error = "cannot connect to " + target + ": " +
              (errno == ETIMEDOUT ? "no answer within " + std::to_string(timeout.count() / 1000) + "s"
                                  : std::string(std::strerror(errno)));
      return false;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
      error = "cannot connect to " + target + ": " + std::strerror(so_error);
      return false;
    }
  }

  // The request and the response share one deadline: the server must answer
  // within `timeout` of the connection being established.
  const auto deadline = Clock::now() + timeout;
  const auto timed_out = [&](const char* what) {
    error = std::string(what) + " " + target + ": " +
            (errno == ETIMEDOUT ? "no response within " + std::to_string(timeout.count() / 1000) + "s"
                                : std::string(std::strerror(errno)));
    return false;
  };
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_for(fd.get(), POLLOUT, deadline)) return timed_out("cannot send to");
      continue;
    }
    return timed_out("cannot send to");
  }

  // The response is parsed as it arrives (gateway/cli/response_reader.h),
  // which bounds its head and body and stops at its end.
  ResponseReader reader;
  char buffer[16 * 1024];
  while (true) {
    if (!wait_for(fd.get(), POLLIN, deadline)) return timed_out("reading from");
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    // A reset counts as the close: a response complete before it stands.
    const int read_errno = n < 0 ? errno : 0;
    const ParseStatus status =
        n > 0 ? reader.feed({buffer, static_cast<std::size_t>(n)}) : reader.finish();
    switch (status) {
      case ParseStatus::complete:
        response = std::move(reader.response());
        return true;
      case ParseStatus::invalid:
        if (read_errno != 0) {
          error = "reading from " + target + ": " + std::strerror(read_errno);
        } else {
          error = "invalid response from " + target + ": " + reader.error();
        }
        return false;
      case ParseStatus::incomplete: break;  // finish() never says incomplete
    }
  }
}

}  // namespace cli

bool is_cli_command(std::string_view word) { return cli::find_command(word) != nullptr; }

int run_cli(int argc, char** argv) {
  using namespace cli;
  Environment env;
  if (const char* a = std::getenv("SKEWGATE_ADMIN")) env.admin = a;
  if (const char* t = std::getenv("SKEWGATE_ADMIN_TOKEN")) env.token = t;

  Args args;
  std::string error;
  const std::string_view word = argc > 1 ? argv[1] : "";
  if (!parse_args(argc, argv, env, args, error)) {
    std::fprintf(stderr, "skewgate %s: %s\n%s", std::string(word).c_str(), error.c_str(), usage_for(word).c_str());
    return kExitUsage;
  }
  if (args.help) {
    std::fputs(usage_for(word).c_str(), stdout);
    return kExitOk;
  }
  // health needs no token (/healthz is open) and sends none, so a broken
  // token setting does not make a healthy gateway look unhealthy.
  AdminUrl url;
  std::string token;
  if (!parse_admin_url(args.admin, url, error) ||
      (args.command != Command::health && !resolve_token(args, env, token, error))) {
    std::fprintf(stderr, "skewgate %s: %s\n", std::string(word).c_str(), error.c_str());
    return kExitUsage;
  }

  Io io;
  io.exchange = [&](std::string_view method, std::string_view path, std::string_view body, HttpResponse& response,
                    std::string& exchange_error) {
    return http_exchange(url, build_request(url, method, path, token, body), response, exchange_error,
                         args.io_timeout);
  };
  io.out = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };
  io.err = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
  };
  io.now = [] { return std::chrono::steady_clock::now(); };
  io.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  return run_command(args, io);
}

}  // namespace sg::gateway
