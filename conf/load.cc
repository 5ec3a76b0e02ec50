// YAML -> Config. The walk follows the schema of conf/config.h key by key and
// records every problem with its position instead of stopping, so an operator
// fixes a file in one pass (STYLE.md rule 10). yaml-cpp throws; nothing here
// lets an exception out.
//
// Secrets (pins.secret, pins.previous_secrets) are only ever read as strings:
// no message built here quotes a value read through string()/secret(), so a
// secret cannot leak into a diagnostic.
#include "conf/load.h"

#include "conf/read_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <tuple>

#include "conf/function_dir.h"
#include "conf/manifest.h"

namespace sg::conf {
namespace {

// Where a value sits: its dotted key path and the position of the node.
struct Site {
  std::string path;
  YAML::Mark mark;
};

std::string join(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string indexed(const std::string& parent, std::size_t index) { return parent + "[" + std::to_string(index) + "]"; }

// Describes a non-scalar without quoting anything from it.
std::string got(const YAML::Node& node) {
  if (!node || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

// Optimal string alignment distance (Levenshtein plus adjacent swaps), case-insensitive.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); };
  const std::size_t width = b.size() + 1;
  std::vector<std::size_t> d((a.size() + 1) * width);
  const auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * width + j]; };
  for (std::size_t i = 0; i <= a.size(); ++i) at(i, 0) = i;
  for (std::size_t j = 0; j <= b.size(); ++j) at(0, j) = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) && lower(a[i - 2]) == lower(b[j - 1])) {
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
      }
    }
  }
  return at(a.size(), b.size());
}

// The valid key an unknown key was probably meant to be: the closest within
// two edits, else one that the typed key is a prefix of (or extends).
std::optional<std::string_view> suggest(std::string_view typed, const std::vector<std::string_view>& valid) {
  std::optional<std::string_view> best;
  std::size_t best_distance = 3;
  for (const auto candidate : valid) {
    // The distance is at least the difference in length: a long junk key
    // costs no table at all (a config can hold thousands of them).
    const std::size_t floor = typed.size() > candidate.size() ? typed.size() - candidate.size()
                                                              : candidate.size() - typed.size();
    if (floor >= best_distance) continue;
    const auto distance = edit_distance(typed, candidate);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best) return best;
  for (const auto candidate : valid) {
    const bool prefix = typed.size() >= 3 && (candidate.starts_with(typed) || typed.starts_with(candidate));
    if (prefix) return candidate;
  }
  return std::nullopt;
}

std::string list_names(const std::vector<std::string_view>& names) {
  std::string out;
  for (const auto name : names) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

std::optional<std::uint64_t> parse_count(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// RFC 6265 cookie-name = token (RFC 9110 tchar).
bool is_token(std::string_view text) {
  if (text.empty()) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
  });
}

// A DNS name or IPv4 literal as it appears in a Host header, already lower-cased.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.front() == '.' || host.back() == '.' || host.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
  });
}

// Checks a host entry; returns an error message, or empty when fine.
std::string check_host(std::string_view host) {
  if (host.empty()) return "must not be empty";
  if (host == "*") return "'*' alone is not a host; mark a catch-all app with `default: true`";
  if (host.front() == '[') {
    const bool v6 = host.back() == ']' && SocketAddress::parse(std::string(host) + ":0").has_value();
    return v6 ? "" : "expected an IPv6 literal like [::1]";
  }
  const auto name = host.starts_with("*.") ? host.substr(2) : host;
  if (name.find('*') != std::string_view::npos) return "a wildcard may only be a leading '*.' as in *.example.com";
  if (name.find(':') != std::string_view::npos) return "hosts are matched without a port; remove ':port'";
  if (!is_host_name(name)) return "expected a host name like shop.example.com or *.shop.example.com";
  return "";
}

// "https://shop.example.com" or "http://localhost:3000": scheme, host, optional port, no path.
bool is_origin(std::string_view text) {
  std::string_view rest;
  if (text.starts_with("https://"))
    rest = text.substr(8);
  else if (text.starts_with("http://"))
    rest = text.substr(7);
  else
    return false;
  return !rest.empty() && rest.find_first_of("/?#") == std::string_view::npos;
}

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  using Reader = std::function<void(const YAML::Node& value, const Site& site)>;
  struct Field {
    std::string_view key;
    Reader read;
    bool required = false;
  };

  void error(const Site& site, std::string message) { add(errors_, site, std::move(message)); }
  // "file:line:col: key", the prefix of a diagnostic at `site`, for checks
  // that run after the walk (certificates are read by the gateway).
  std::string where(const Site& site) const {
    Diagnostic d{file_, site.mark.line >= 0 ? site.mark.line + 1 : 0, site.mark.line >= 0 ? site.mark.column + 1 : 0,
                 site.path, ""};
    std::string text = d.to_string();
    return text.substr(0, text.size() - 2);  // without ": " and the empty message
  }
  void warning(const Site& site, std::string message) { add(warnings_, site, std::move(message)); }

  LoadResult finish(std::optional<Config> config) {
    LoadResult result;
    // Reported in file order, whatever order the checks ran in.
    const auto by_position = [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    };
    std::stable_sort(errors_.begin(), errors_.end(), by_position);
    std::stable_sort(warnings_.begin(), warnings_.end(), by_position);
    result.errors = std::move(errors_);
    result.warnings = std::move(warnings_);
    if (result.errors.empty()) result.config = std::move(config);
    return result;
  }

  // Walks a mapping: every key must be one of `fields`, each at most once;
  // required keys that are absent are reported at the mapping. Returns false
  // when `node` is not a mapping.
  bool map(const YAML::Node& node, const Site& site, const std::vector<Field>& fields) {
    if (!node.IsMap()) {
      error(site, "expected a mapping with keys " + list_names(keys_of(fields)) + ", got " + kind(node));
      return false;
    }
    std::map<std::string, int> seen;  // key -> 1-based line of its first use
    // Range-for keeps each pair alive; yaml-cpp's `it->first` is a temporary.
    for (const auto& entry : node) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar()) {
        error({site.path, key.Mark()}, "keys must be plain names, got " + kind(key));
        continue;
      }
      const Site key_site{join(site.path, key.Scalar()), key.Mark()};
      const auto field =
          std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.key == key.Scalar(); });
      if (field == fields.end()) {
        unknown_key(key.Scalar(), key_site, keys_of(fields));
        continue;
      }
      if (const auto first = seen.find(key.Scalar()); first != seen.end()) {
        error(key_site, "duplicate key (first set on line " + std::to_string(first->second) + ")");
        continue;
      }
      seen.emplace(key.Scalar(), key.Mark().line + 1);
      field->read(entry.second, value_site(key_site, entry.second));
    }
    for (const auto& field : fields) {
      if (field.required && !seen.contains(std::string(field.key))) {
        error({join(site.path, field.key), site.mark}, "is required");
      }
    }
    return true;
  }

  // Walks a sequence, calling `item` with each element and its site.
  bool list(const YAML::Node& node, const Site& site, const Reader& item) {
    if (!node.IsSequence()) {
      error(site, "expected a list, got " + kind(node));
      return false;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      item(node[i], {indexed(site.path, i), node[i].Mark()});
    }
    return true;
  }

  // The scalar text of `node`, or an error naming `expected`. Never quotes the value.
  std::optional<std::string> scalar(const YAML::Node& node, const Site& site, std::string_view expected) {
    if (node.IsScalar()) return node.Scalar();
    error(site, "expected " + std::string(expected) + ", got " + kind(node));
    return std::nullopt;
  }

  void string(const YAML::Node& node, const Site& site, std::string& out) {
    if (auto text = scalar(node, site, "a string")) out = std::move(*text);
  }

  void nonempty_string(const YAML::Node& node, const Site& site, std::string& out) {
    auto text = scalar(node, site, "a string");
    if (!text) return;
    if (text->empty()) error(site, "must not be empty");
    out = std::move(*text);
  }

  // Secrets get the same checks as strings but messages never include the text.
  void secret(const YAML::Node& node, const Site& site, std::string& out) {
    auto text = scalar(node, site, "a string");
    if (!text) return;
    if (text->size() < 32) error(site, "a secret must be at least 32 bytes (e.g. `openssl rand -base64 32`)");
    out = std::move(*text);
  }

  void boolean(const YAML::Node& node, const Site& site, bool& out) {
    const auto text = scalar(node, site, "true or false");
    if (!text) return;
    if (*text == "true")
      out = true;
    else if (*text == "false")
      out = false;
    else
      error(site, "expected true or false, got " + got(node));
  }

  void duration(const YAML::Node& node, const Site& site, Duration& out) {
    static constexpr std::string_view kExpected = "a duration like 10s (units: ms, s, m, h, d)";
    const auto text = scalar(node, site, kExpected);
    if (!text) return;
    if (const auto value = parse_duration(*text))
      out = *value;
    else
      error(site, "expected " + std::string(kExpected) + ", got " + got(node));
  }

  void size(const YAML::Node& node, const Site& site, std::uint64_t& out) {
    static constexpr std::string_view kExpected = "a size like 64KiB (bytes, KiB, MiB or GiB)";
    const auto text = scalar(node, site, kExpected);
    if (!text) return;
    if (const auto value = parse_size(*text))
      out = *value;
    else
      error(site, "expected " + std::string(kExpected) + ", got " + got(node));
  }

  void count(const YAML::Node& node, const Site& site, std::uint64_t& out, std::uint64_t min = 0) {
    const std::string expected = min == 0 ? "a whole number" : "a whole number of at least " + std::to_string(min);
    const auto text = scalar(node, site, expected);
    if (!text) return;
    const auto value = parse_count(*text);
    if (value && *value >= min)
      out = *value;
    else
      error(site, "expected " + expected + ", got " + got(node));
  }

  // Listeners and the admin address: numeric (a socket binds an address).
  std::optional<SocketAddress> address(const YAML::Node& node, const Site& site) {
    static constexpr std::string_view kExpected = "host:port, [v6]:port or unix:/path";
    const auto text = scalar(node, site, kExpected);
    if (!text) return std::nullopt;
    if (auto value = SocketAddress::parse(*text)) return value;
    std::string message = "expected " + std::string(kExpected) + ", got " + got(node);
    // Only upstreams take names: a listener binds a local address.
    if (SocketAddress::parse_upstream(*text)) message += " (a listener binds an IP address, not a host name)";
    error(site, message);
    return std::nullopt;
  }

  // A build's upstream: numeric, unix:, or name:port. The name's syntax is
  // checked here; it is never resolved while loading (--check included).
  std::optional<SocketAddress> upstream(const YAML::Node& node, const Site& site) {
    static constexpr std::string_view kExpected = "host:port, name:port, [v6]:port or unix:/path";
    const auto text = scalar(node, site, kExpected);
    if (!text) return std::nullopt;
    if (auto value = SocketAddress::parse_upstream(*text)) return value;
    std::string message = "expected " + std::string(kExpected) + ", got " + got(node);
    const auto colon = text->rfind(':');
    if (colon == std::string::npos && !text->starts_with("unix:")) {
      message += " (the port is required)";
    } else if (colon != std::string::npos && !text->starts_with('[') && !text->starts_with("unix:") &&
               text->find(':') == colon && !is_dns_name(text->substr(0, colon))) {
      message += " (a host name is letters, digits and '-' in dot-separated labels of at most 63 bytes, "
                 "253 in all; no '_', no empty label; an internationalised name in its xn-- form)";
    }
    error(site, message);
    return std::nullopt;
  }

  // A name server: numeric, port 53 unless written.
  std::optional<SocketAddress> name_server(const YAML::Node& node, const Site& site) {
    static constexpr std::string_view kExpected = "a numeric name server: 10.0.0.2, 10.0.0.2:53, ::1 or [::1]:53";
    const auto text = scalar(node, site, kExpected);
    if (!text) return std::nullopt;
    if (auto value = SocketAddress::parse(*text))
      if (value->family != SocketAddress::Family::unix_path && value->port != 0) return value;
    // Without a port: a bare IPv6 has colons of its own, so it gets brackets.
    const std::string with_port =
        text->find(':') != std::string::npos ? "[" + *text + "]:53" : *text + ":53";
    if (auto value = SocketAddress::parse(with_port)) return value;
    error(site, "expected " + std::string(kExpected) + ", got " + got(node));
    return std::nullopt;
  }

  // One of `names` (indexes match `values`).
  template <typename Enum>
  void choice(const YAML::Node& node, const Site& site, const std::vector<std::string_view>& names,
              const std::vector<Enum>& values, Enum& out) {
    const std::string expected = "one of: " + list_names(names);
    const auto text = scalar(node, site, expected);
    if (!text) return;
    const auto it = std::find(names.begin(), names.end(), *text);
    if (it != names.end())
      out = values[static_cast<std::size_t>(it - names.begin())];
    else
      error(site, "expected " + expected + "; got " + got(node));
  }

  // The site of `key` inside mapping `node` (first occurrence), if present.
  static std::optional<Site> find(const YAML::Node& node, const Site& site, std::string_view key) {
    if (!node.IsMap()) return std::nullopt;
    for (const auto& entry : node) {
      if (entry.first.IsScalar() && entry.first.Scalar() == key) {
        return value_site({join(site.path, key), entry.first.Mark()}, entry.second);
      }
    }
    return std::nullopt;
  }

 private:
  void add(std::vector<Diagnostic>& to, const Site& site, std::string message) {
    const bool known = site.mark.line >= 0;
    to.push_back(
        {file_, known ? site.mark.line + 1 : 0, known ? site.mark.column + 1 : 0, site.path, std::move(message)});
  }

  void unknown_key(const std::string& key, const Site& site, const std::vector<std::string_view>& valid) {
    if (const auto hint = suggest(key, valid)) {
      error(site, "unknown key '" + key + "'; did you mean '" + std::string(*hint) + "'?");
    } else {
      error(site, "unknown key '" + key + "'; expected one of: " + list_names(valid));
    }
  }

  // A null value (`key:` with nothing after it) has the mark of whatever comes
  // next in the file, so point at the key instead.
  static Site value_site(const Site& key_site, const YAML::Node& value) {
    if (value.IsNull() || value.Mark().line < 0) return key_site;
    return {key_site.path, value.Mark()};
  }

  static std::string kind(const YAML::Node& node) {
    if (!node || node.IsNull()) return "nothing";
    if (node.IsMap()) return "a mapping";
    if (node.IsSequence()) return "a list";
    return "a scalar";
  }

  static std::vector<std::string_view> keys_of(const std::vector<Field>& fields) {
    std::vector<std::string_view> keys;
    for (const auto& field : fields) keys.push_back(field.key);
    return keys;
  }

  std::string file_;
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
};

// Sites recorded during the walk for checks that span several apps.
struct AppSites {
  Site self;
  std::optional<Site> name;
  std::optional<Site> is_default;
  std::vector<Site> hosts;  // parallel to AppConfig::hosts
  std::optional<Site> tls;
};

class ConfigReader {
 public:
  explicit ConfigReader(Loader& loader) : in_(loader) {}

  Config read(const YAML::Node& root, const Site& site) {
    Config config;
    in_.map(root, site,
            {
                {"listeners", [&](auto& n, auto& s) { read_listeners(n, s, config.listeners); }},
                {"admin", [&](auto& n, auto& s) { read_admin(n, s, config.admin); }},
                {"workers", [&](auto& n, auto& s) { read_workers(n, s, config.workers); }},
                {"state_dir", [&](auto& n, auto& s) { in_.nonempty_string(n, s, config.state_dir); }},
                {"watch", [&](auto& n, auto& s) { in_.boolean(n, s, config.watch); }},
                {"limits", [&](auto& n, auto& s) { read_limits(n, s, config.limits); }},
                {"timeouts", [&](auto& n, auto& s) { read_timeouts(n, s, config.timeouts); }},
                {"access_log", [&](auto& n, auto& s) { read_access_log(n, s, config.access_log); }},
                {"metrics", [&](auto& n, auto& s) { read_metrics(n, s, config.metrics); }},
                {"trusted_proxies", [&](auto& n, auto& s) { read_trusted_proxies(n, s, config.trusted_proxies); }},
                {"pins", [&](auto& n, auto& s) { read_pins(n, s, config.pins); }},
                {"tls", [&](auto& n, auto& s) { read_tls_settings(n, s, config.tls); }},
                {"http2", [&](auto& n, auto& s) { read_http2(n, s, config.http2); }},
                {"dns", [&](auto& n, auto& s) { read_dns(n, s, config.dns); }},
                {"apps", [&](auto& n, auto& s) { read_apps(n, s, config.apps); }},
            });
    if (root.IsMap()) {
      if (!Loader::find(root, site, "listeners"))
        in_.error({"listeners", site.mark}, "at least one listener is required");
      if (!Loader::find(root, site, "apps")) in_.error({"apps", site.mark}, "at least one app is required");
    }
    check_apps_together();
    check_tls_listeners(config);
    return config;
  }

 private:
  void read_listeners(const YAML::Node& node, const Site& site, std::vector<ListenerConfig>& out) {
    if (node.IsSequence() && node.size() == 0) in_.error(site, "at least one listener is required");
    std::map<std::string, std::string> seen;  // address -> path of its first listener
    in_.list(node, site, [&](const YAML::Node& item, const Site& item_site) {
      ListenerConfig listener;
      std::optional<Site> address_site;
      std::optional<Site> redirect_site;
      std::optional<Site> h2c_site;
      bool parsed = false;
      in_.map(item, item_site,
              {
                  {"address",
                   [&](auto& n, auto& s) {
                     address_site = s;
                     if (auto a = in_.address(n, s)) {
                       listener.address = *a;
                       parsed = true;
                     }
                   },
                   true},
                  {"tls", [&](auto& n, auto& s) { read_tls(n, s, listener.tls.emplace()); }},
                  {"redirect_https",
                   [&](auto& n, auto& s) {
                     redirect_site = s;
                     in_.boolean(n, s, listener.redirect_https);
                   }},
                  {"http2", [&](auto& n, auto& s) { in_.boolean(n, s, listener.http2); }},
                  {"h2c",
                   [&](auto& n, auto& s) {
                     h2c_site = s;
                     in_.boolean(n, s, listener.h2c);
                   }},
              });
      // h2c is HTTP/2 in the clear; over TLS, ALPN chooses (`http2`).
      if (h2c_site && listener.h2c && listener.tls)
        in_.error(*h2c_site, "h2c is for a plain listener; this one has tls (ALPN offers h2: see http2)");
      if (h2c_site && listener.h2c && listener.redirect_https)
        in_.error(*h2c_site, "h2c and redirect_https together: every request would be redirected");
      // A TLS listener that redirected to https would send the browser to
      // itself forever.
      if (redirect_site && listener.redirect_https && listener.tls)
        in_.error(*redirect_site, "redirect_https is for a plain listener; this one has tls");
      if (parsed) {
        const auto [first, inserted] = seen.emplace(listener.address.to_string(), item_site.path);
        if (!inserted) in_.error(*address_site, "same address as " + first->second);
      }
      out.push_back(std::move(listener));
    });
  }

  void read_admin(const YAML::Node& node, const Site& site, AdminConfig& out) {
    std::optional<Site> address_site;
    const bool ok = in_.map(node, site,
                            {
                                {"address",
                                 [&](auto& n, auto& s) {
                                   address_site = s;
                                   if (auto a = in_.address(n, s)) out.address = *a;
                                 }},
                                {"token_file", [&](auto& n, auto& s) { in_.string(n, s, out.token_file); }},
                                {"allowed_hosts", [&](auto& n, auto& s) { read_admin_hosts(n, s, out.allowed_hosts); }},
                            });
    // The token may also come from the environment (SKEWGATE_ADMIN_TOKEN).
    const char* env_token = std::getenv("SKEWGATE_ADMIN_TOKEN");
    if (ok && !out.address.is_loopback() && out.token_file.empty() && !(env_token && *env_token)) {
      in_.error(address_site.value_or(site),
                "the admin API would be reachable from other hosts without a token; set admin.token_file "
                "(or SKEWGATE_ADMIN_TOKEN), or listen on a loopback address");
    }
  }

  // Plain names only: IP literals and localhost are always accepted, a port
  // is ignored when matching, and a wildcard would let any subdomain an
  // attacker controls rebind to the admin listener.
  void read_admin_hosts(const YAML::Node& node, const Site& site, std::vector<std::string>& out) {
    in_.list(node, site, [&](const YAML::Node& item, const Site& item_site) {
      auto host = in_.scalar(item, item_site, "a host name");
      if (!host) return;
      std::transform(host->begin(), host->end(), host->begin(),
                     [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
      if (host->find(':') != std::string::npos) {
        in_.error(item_site, "expected a host name without a port (IP literals and localhost are always allowed)");
        return;
      }
      if (!is_host_name(*host)) {
        in_.error(item_site, "expected a host name like admin.internal.example, no wildcard");
        return;
      }
      out.push_back(std::move(*host));
    });
  }

  void read_workers(const YAML::Node& node, const Site& site, unsigned& out) {
    static constexpr std::string_view kExpected = "'auto' or a number of workers from 1 to 256";
    const auto text = in_.scalar(node, site, kExpected);
    if (!text) return;
    if (*text == "auto") {
      out = 0;
      return;
    }
    const auto value = parse_count(*text);
    if (value && *value >= 1 && *value <= 256)
      out = static_cast<unsigned>(*value);
    else
      in_.error(site, "expected " + std::string(kExpected) + ", got " + got(node));
  }

  void read_limits(const YAML::Node& node, const Site& site, Limits& out) {
    in_.map(node, site,
            {
                {"header_bytes", [&](auto& n, auto& s) { in_.size(n, s, out.header_bytes); }},
                {"headers", [&](auto& n, auto& s) { in_.count(n, s, out.headers, 1); }},
                {"uri_bytes", [&](auto& n, auto& s) { in_.size(n, s, out.uri_bytes); }},
                {"body_bytes", [&](auto& n, auto& s) { in_.size(n, s, out.body_bytes); }},
            });
  }

  void read_http2(const YAML::Node& node, const Site& site, Http2Settings& out) {
    // RFC 9113 section 6.5.2: windows up to 2^31-1, frames 2^14..2^24-1.
    const auto bounded = [&](const YAML::Node& n, const Site& s, std::uint64_t& value, std::uint64_t min,
                             std::uint64_t max) {
      std::uint64_t v = value;
      in_.size(n, s, v);
      if (v < min || v > max)
        in_.error(s, "must be between " + std::to_string(min) + " and " + std::to_string(max) + " bytes");
      else
        value = v;
    };
    in_.map(node, site,
            {
                {"max_concurrent_streams",
                 [&](auto& n, auto& s) { in_.count(n, s, out.max_concurrent_streams, 1); }},
                {"initial_window", [&](auto& n, auto& s) { bounded(n, s, out.initial_window, 1, 0x7fffffff); }},
                {"connection_window",
                 [&](auto& n, auto& s) { bounded(n, s, out.connection_window, 65535, 0x7fffffff); }},
                {"max_frame_size",
                 [&](auto& n, auto& s) { bounded(n, s, out.max_frame_size, 16384, 16777215); }},
                {"max_requests", [&](auto& n, auto& s) { in_.count(n, s, out.max_requests, 1); }},
                {"reset_budget", [&](auto& n, auto& s) { read_budget(n, s, out.reset_budget); }},
                {"control_budget", [&](auto& n, auto& s) { read_budget(n, s, out.control_budget); }},
            });
  }

  void read_budget(const YAML::Node& node, const Site& site, EventBudget& out) {
    in_.map(node, site,
            {
                {"burst", [&](auto& n, auto& s) { in_.count(n, s, out.burst, 1); }},
                {"per_second", [&](auto& n, auto& s) { in_.count(n, s, out.per_second); }},
            });
  }

  void read_dns(const YAML::Node& node, const Site& site, DnsConfig& out) {
    in_.map(node, site,
            {
                {"refresh",
                 [&](auto& n, auto& s) {
                   in_.duration(n, s, out.refresh);
                   // Below a second a TTL-0 record would have the control loop
                   // asking again and again.
                   if (out.refresh < kMinDnsRefresh) {
                     in_.error(s, "must be at least 1s");
                     out.refresh = kMinDnsRefresh;
                   }
                 }},
                {"servers",
                 [&](auto& n, auto& s) {
                   in_.list(n, s, [&](const YAML::Node& item, const Site& item_site) {
                     if (auto server = in_.name_server(item, item_site)) out.servers.push_back(*server);
                   });
                 }},
            });
  }

  void read_timeouts(const YAML::Node& node, const Site& site, Timeouts& out) {
    in_.map(node, site,
            {
                {"client_header", [&](auto& n, auto& s) { in_.duration(n, s, out.client_header); }},
                {"client_body", [&](auto& n, auto& s) { in_.duration(n, s, out.client_body); }},
                {"client_send", [&](auto& n, auto& s) { in_.duration(n, s, out.client_send); }},
                {"client_idle", [&](auto& n, auto& s) { in_.duration(n, s, out.client_idle); }},
                {"tunnel_idle", [&](auto& n, auto& s) { in_.duration(n, s, out.tunnel_idle); }},
                {"upstream_connect", [&](auto& n, auto& s) { in_.duration(n, s, out.upstream_connect); }},
                {"upstream_response", [&](auto& n, auto& s) { in_.duration(n, s, out.upstream_response); }},
                {"upstream_idle", [&](auto& n, auto& s) { in_.duration(n, s, out.upstream_idle); }},
                {"drain", [&](auto& n, auto& s) { in_.duration(n, s, out.drain); }},
                {"tls_handshake",
                 [&](auto& n, auto& s) {
                   in_.duration(n, s, out.tls_handshake);
                   // Without a deadline a client that connects and sends
                   // nothing holds a connection for ever.
                   if (out.tls_handshake.count() == 0) in_.error(s, "expected a duration of at least 1ms, got 0");
                 }},
            });
  }

  // `tls: {cert, key}` on a listener or an app. Only the paths are read
  // here; gateway/net/tls_context.h reads and checks the files.
  void read_tls(const YAML::Node& node, const Site& site, TlsConfig& out) {
    out.where = in_.where(site);
    in_.map(node, site,
            {
                {"cert", [&](auto& n, auto& s) { in_.nonempty_string(n, s, out.cert); }, true},
                {"key", [&](auto& n, auto& s) { in_.nonempty_string(n, s, out.key); }, true},
            });
  }

  void read_tls_settings(const YAML::Node& node, const Site& site, TlsSettings& out) {
    out.where = in_.where(site);
    in_.map(node, site,
            {
                {"ciphers", [&](auto& n, auto& s) { in_.nonempty_string(n, s, out.ciphers); }},
                {"ciphersuites", [&](auto& n, auto& s) { in_.nonempty_string(n, s, out.ciphersuites); }},
                {"ticket_rotation",
                 [&](auto& n, auto& s) {
                   in_.duration(n, s, out.ticket_rotation);
                   if (out.ticket_rotation < std::chrono::seconds(1))
                     in_.error(s, "expected a duration of at least 1s, got " + got(n));
                 }},
            });
  }

  // An app certificate is chosen by SNI on a TLS listener: without one it
  // would never be served.
  void check_tls_listeners(const Config& config) {
    // SNI is matched against the app's hosts: without any, the certificate
    // is never served (a default app gets the listener's).
    for (std::size_t a = 0; a < config.apps.size() && a < app_sites_.size(); ++a) {
      if (config.apps[a].tls && config.apps[a].hosts.empty() && app_sites_[a].tls)
        in_.warning(*app_sites_[a].tls, "the app has no hosts: SNI never selects this certificate");
    }
    const bool any = std::any_of(config.listeners.begin(), config.listeners.end(),
                                 [](const ListenerConfig& l) { return l.tls.has_value(); });
    if (any) return;
    for (std::size_t a = 0; a < config.apps.size() && a < app_sites_.size(); ++a) {
      if (config.apps[a].tls && app_sites_[a].tls)
        in_.error(*app_sites_[a].tls, "an app certificate needs a listener with tls (none has)");
    }
  }

  void read_access_log(const YAML::Node& node, const Site& site, AccessLogConfig& out) {
    in_.map(node, site,
            {
                {"path", [&](auto& n, auto& s) { in_.nonempty_string(n, s, out.path); }},
                {"format",
                 [&](auto& n, auto& s) {
                   in_.choice(n, s, {"plain", "json"}, std::vector{LogFormat::plain, LogFormat::json}, out.format);
                 }},
            });
  }

  void read_metrics(const YAML::Node& node, const Site& site, MetricsConfig& out) {
    in_.map(node, site, {{"enabled", [&](auto& n, auto& s) { in_.boolean(n, s, out.enabled); }}});
  }

  void read_trusted_proxies(const YAML::Node& node, const Site& site, std::vector<Cidr>& out) {
    in_.list(node, site, [&](const YAML::Node& item, const Site& item_site) {
      static constexpr std::string_view kExpected = "a CIDR like 10.0.0.0/8 or an IP address";
      const auto text = in_.scalar(item, item_site, kExpected);
      if (!text) return;
      if (auto cidr = Cidr::parse(*text))
        out.push_back(*cidr);
      else
        in_.error(item_site, "expected " + std::string(kExpected) + ", got " + got(item));
    });
  }

  void read_pins(const YAML::Node& node, const Site& site, PinsConfig& out) {
    std::optional<Site> cookie_site;
    std::optional<Site> secret_file_site;
    in_.map(node, site,
            {
                {"cookie",
                 [&](auto& n, auto& s) {
                   cookie_site = s;
                   in_.string(n, s, out.cookie);
                 }},
                {"secret", [&](auto& n, auto& s) { in_.secret(n, s, out.secret); }},
                {"secret_file",
                 [&](auto& n, auto& s) {
                   secret_file_site = s;
                   in_.nonempty_string(n, s, out.secret_file);
                 }},
                {"previous_secrets",
                 [&](auto& n, auto& s) {
                   in_.list(n, s, [&](const YAML::Node& item, const Site& item_site) {
                     in_.secret(item, item_site, out.previous_secrets.emplace_back());
                   });
                 }},
            });
    if (cookie_site && !is_token(out.cookie)) {
      in_.error(*cookie_site, "expected a cookie name (letters, digits and !#$%&'*+-.^_`|~)");
    }
    if (secret_file_site && !out.secret.empty()) {
      in_.warning(*secret_file_site, "pins.secret is also set and wins; secret_file is ignored");
    }
  }

  void read_apps(const YAML::Node& node, const Site& site, std::vector<AppConfig>& out) {
    if (node.IsSequence() && node.size() == 0) in_.error(site, "at least one app is required");
    in_.list(node, site, [&](const YAML::Node& item, const Site& item_site) {
      AppSites& sites = app_sites_.emplace_back();
      sites.self = item_site;
      out.push_back(read_app(item, item_site, sites));
    });
    apps_ = &out;
  }

  AppConfig read_app(const YAML::Node& node, const Site& site, AppSites& sites) {
    AppConfig app;
    std::vector<Site> build_sites;  // parallel to app.builds: the site of each build's id
    std::vector<std::optional<Site>> manifest_sites;  // parallel to app.builds: each `manifest` key
    std::vector<std::optional<Site>> functions_sites;  // parallel to app.builds: each `functions_from` key
    const bool ok = in_.map(node, site,
                            {
                                {"name",
                                 [&](auto& n, auto& s) {
                                   sites.name = s;
                                   in_.nonempty_string(n, s, app.name);
                                 },
                                 true},
                                {"hosts", [&](auto& n, auto& s) { read_hosts(n, s, app.hosts, sites.hosts); }},
                                {"default",
                                 [&](auto& n, auto& s) {
                                   sites.is_default = s;
                                   in_.boolean(n, s, app.is_default);
                                 }},
                                {"registry",
                                 [&](auto& n, auto& s) {
                                   in_.choice(n, s, {"config", "api"},
                                              std::vector{RegistrySource::config, RegistrySource::api}, app.registry);
                                 }},
                                {"framework", [&](auto& n, auto& s) { read_framework(n, s, app.framework); }},
                                {"current", [&](auto& n, auto& s) { in_.nonempty_string(n, s, app.current); }},
                                {"builds",
                                 [&](auto& n, auto& s) { read_builds(n, s, app.builds, build_sites, manifest_sites, functions_sites); }},
                                {"asset_prefixes", [&](auto& n, auto& s) { read_paths(n, s, app.asset_prefixes); }},
                                {"skew", [&](auto& n, auto& s) { read_skew(n, s, app.skew); }},
                                {"actions", [&](auto& n, auto& s) { read_actions(n, s, app.actions); }},
                                {"assets", [&](auto& n, auto& s) { read_assets(n, s, app.assets); }},
                                {"retention", [&](auto& n, auto& s) { read_retention(n, s, app.retention); }},
                                {"security", [&](auto& n, auto& s) { read_security(n, s, app.security); }},
                                {"health", [&](auto& n, auto& s) { read_health(n, s, app.health); }},
                                {"canary", [&](auto& n, auto& s) { read_canary(n, s, app.canary.emplace()); }},
                                {"tls",
                                 [&](auto& n, auto& s) {
                                   sites.tls = s;
                                   read_tls(n, s, app.tls.emplace());
                                 }},
                            });
    // Manifests are read once the whole app is known: the cap is the app's
    // actions.manifest_max_bytes, wherever it is written.
    for (std::size_t i = 0; i < app.builds.size() && i < manifest_sites.size(); ++i) {
      if (manifest_sites[i] && !app.builds[i].manifest.empty())
        read_manifest(*manifest_sites[i], app.builds[i], app.actions.manifest_max_bytes);
      if (functions_sites[i] && !app.builds[i].functions_from.empty())
        read_functions(*functions_sites[i], app.builds[i], app.actions);
    }
    if (ok) check_app(node, site, app, build_sites);
    return app;
  }

  void read_hosts(const YAML::Node& node, const Site& site, std::vector<std::string>& out,
                  std::vector<Site>& out_sites) {
    in_.list(node, site, [&](const YAML::Node& item, const Site& item_site) {
      auto host = in_.scalar(item, item_site, "a host name");
      if (!host) return;
      // Host headers are case-insensitive (RFC 9110 4.2.3); routing compares lower case.
      std::transform(host->begin(), host->end(), host->begin(),
                     [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
      if (const auto problem = check_host(*host); !problem.empty()) {
        in_.error(item_site, problem);
        return;
      }
      out.push_back(std::move(*host));
      out_sites.push_back(item_site);
    });
  }

  // A build's upstreams and ids are checked here; cross-build rules in check_app().
  void read_builds(const YAML::Node& node, const Site& site, std::vector<BuildConfig>& out,
                   std::vector<Site>& id_sites, std::vector<std::optional<Site>>& manifest_sites,
                   std::vector<std::optional<Site>>& functions_sites) {
    in_.list(node, site, [&](const YAML::Node& item, const Site& item_site) {
      BuildConfig build;
      Site id_site = item_site;
      std::optional<Site> manifest_site;
      std::optional<Site> functions_site;
      in_.map(item, item_site,
              {
                  {"id",
                   [&](auto& n, auto& s) {
                     id_site = s;
                     in_.nonempty_string(n, s, build.id);
                   },
                   true},
                  {"upstreams", [&](auto& n, auto& s) { read_upstreams(n, s, build.upstreams); }, true},
                  {"manifest",
                   [&](auto& n, auto& s) {
                     manifest_site = s;
                     in_.nonempty_string(n, s, build.manifest);
                   }},
                  {"functions_from",
                   [&](auto& n, auto& s) {
                     functions_site = s;
                     in_.nonempty_string(n, s, build.functions_from);
                   }},
                  {"state", [&](auto& n, auto& s) { read_state(n, s, build.state); }},
                  {"verify", [&](auto& n, auto& s) { in_.boolean(n, s, build.verify); }},
              });
      // One source of action ids per build: a Next.js manifest or a
      // react-server outDir, never both (their ids would mix).
      if (manifest_site && functions_site && !build.manifest.empty() && !build.functions_from.empty()) {
        in_.error(*functions_site, "a build has either `manifest` (Next.js) or `functions_from` (react-server), not both");
        build.functions_from.clear();
        functions_site.reset();
      }
      out.push_back(std::move(build));
      id_sites.push_back(id_site);
      manifest_sites.push_back(manifest_site);
      functions_sites.push_back(functions_site);
    });
  }

  // The action IDs of a build's server-reference-manifest.json; only the IDs
  // are kept (the file also holds the build's encryptionKey).
  void read_manifest(const Site& site, BuildConfig& build, std::uint64_t max_bytes) {
    ManifestRead manifest = read_action_manifest(build.manifest, max_bytes);
    if (!manifest.error.empty()) {
      in_.error(site, std::move(manifest.error));
      return;
    }
    build.action_ids = std::move(manifest.action_ids);
    build.action_id_source = ActionIdSource::next_manifest;
  }

  // The server-function ids in a react-server outDir's client chunks
  // (conf/function_dir.h). An outDir without any is valid: a build with no
  // server functions knows that no call is its own.
  void read_functions(const Site& site, BuildConfig& build, const ActionsConfig& actions) {
    FunctionsRead read = read_function_ids(build.functions_from, function_limits(actions));
    if (!read.error.empty()) {
      in_.error(site, std::move(read.error));
      return;
    }
    // Valid, but also what a new bundler output shape would look like: said once, at load.
    if (read.ids.empty())
      in_.warning(site, "no createServerReference ids in " + std::to_string(read.files) +
                            " chunk files under client/: every server-function call counts as not in this build");
    build.action_ids = std::move(read.ids);
    build.action_id_source = ActionIdSource::react_server_chunks;
  }

  void read_upstreams(const YAML::Node& node, const Site& site, std::vector<SocketAddress>& out) {
    if (node.IsSequence() && node.size() == 0) in_.error(site, "a build needs at least one upstream");
    in_.list(node, site, [&](const YAML::Node& item, const Site& item_site) {
      if (auto address = in_.upstream(item, item_site)) out.push_back(*address);
    });
  }

  // Only preview and retired may be written: current and retained follow from
  // the app's `current` and from retention.
  void read_state(const YAML::Node& node, const Site& site, std::optional<BuildState>& out) {
    static constexpr std::string_view kRule =
        "state may be 'preview' or 'retired'; current comes from the app's `current`";
    const auto text = in_.scalar(node, site, kRule);
    if (!text) return;
    if (*text == "preview")
      out = BuildState::preview;
    else if (*text == "retired")
      out = BuildState::retired;
    else
      in_.error(site, std::string(kRule) + ", got " + got(node));
  }

  void read_paths(const YAML::Node& node, const Site& site, std::vector<std::string>& out) {
    out.clear();  // a written list replaces the defaults
    in_.list(node, site, [&](const YAML::Node& item, const Site& item_site) {
      auto text = in_.scalar(item, item_site, "a path starting with /");
      if (!text) return;
      if (!text->starts_with('/')) in_.error(item_site, "expected a path starting with /, got " + got(item));
      out.push_back(std::move(*text));
    });
  }

  void read_skew(const YAML::Node& node, const Site& site, SkewConfig& out) {
    in_.map(node, site,
            {
                {"action_policy",
                 [&](auto& n, auto& s) {
                   in_.choice(n, s, {"reload", "error"}, std::vector{ActionPolicy::reload, ActionPolicy::error},
                              out.action_policy);
                 }},
                {"message", [&](auto& n, auto& s) { in_.string(n, s, out.message); }},
                {"reload_module_path", [&](auto& n, auto& s) { read_reload_module_path(n, s, out.reload_module_path); }},
            });
  }

  // Issue 15: `framework: next | react-server | auto` decides which request
  // shapes the app's requests are classified by (routing/request_kind.h).
  void read_framework(const YAML::Node& node, const Site& site, Framework& out) {
    static const std::vector<std::string_view> kNames{"auto", "next", "react-server"};
    static const std::vector<Framework> kValues{Framework::auto_detect, Framework::next, Framework::react_server};
    const auto text = in_.scalar(node, site, "one of: auto, next, react-server");
    if (!text) return;
    for (std::size_t i = 0; i < kNames.size(); ++i) {
      if (*text == kNames[i]) {
        out = kValues[i];
        return;
      }
    }
    std::string message = "expected one of: auto, next, react-server; got " + got(node);
    if (const auto hint = suggest(*text, kNames)) message += "; did you mean '" + std::string(*hint) + "'?";
    in_.error(site, message);
  }

  // The module the react-server flight reload answer makes the browser
  // import (skew/answers.h). It is written raw into a flight row's JSON
  // string and served by skewgate at this path, so only a plain same-origin
  // path fits: "/" but not "//" (a scheme-relative URL would import a module
  // from another host), no query or fragment (the path is matched exactly),
  // no control bytes, spaces, quotes or backslashes, at most 256 bytes.
  void read_reload_module_path(const YAML::Node& node, const Site& site, std::string& out) {
    auto text = in_.scalar(node, site, "a path starting with /");
    if (!text) return;
    constexpr std::size_t kMax = 256;
    if (text->size() > kMax) {
      in_.error(site, "must be at most " + std::to_string(kMax) + " bytes, got " + std::to_string(text->size()));
      return;
    }
    if (!text->starts_with('/') || text->starts_with("//")) {
      in_.error(site, "expected a path starting with a single / (same origin), got " + got(node));
      return;
    }
    for (const char c : *text) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x21 || byte >= 0x7f || c == '?' || c == '#' || c == '"' || c == '\'' || c == '\\' || c == '`' ||
          c == '<' || c == '>') {
        in_.error(site, "must be printable ASCII without spaces, quotes, backslashes, <, >, ? or #");
        return;
      }
    }
    out = std::move(*text);
  }

  void read_actions(const YAML::Node& node, const Site& site, ActionsConfig& out) {
    in_.map(node, site,
            {
                {"inspect_form_posts", [&](auto& n, auto& s) { in_.boolean(n, s, out.inspect_form_posts); }},
                {"inspect_bytes", [&](auto& n, auto& s) { in_.size(n, s, out.inspect_bytes); }},
                {"manifest_max_bytes",
                 [&](auto& n, auto& s) {
                   in_.size(n, s, out.manifest_max_bytes);
                   if (out.manifest_max_bytes == 0) in_.error(s, "expected a size of at least 1 byte, got 0");
                 }},
                {"functions_max_bytes",
                 [&](auto& n, auto& s) {
                   in_.size(n, s, out.functions_max_bytes);
                   if (out.functions_max_bytes == 0) in_.error(s, "expected a size of at least 1 byte, got 0");
                 }},
                {"replay_bytes",
                 [&](auto& n, auto& s) {
                   in_.size(n, s, out.replay_bytes);
                   if (out.replay_bytes > kMaxReplayBytes)
                     in_.error(s, "expected a size of at most 16MiB (held per in-flight action), got " + got(n));
                 }},
            });
  }

  void read_assets(const YAML::Node& node, const Site& site, AssetsConfig& out) {
    in_.map(node, site, {{"fallback_builds", [&](auto& n, auto& s) { in_.count(n, s, out.fallback_builds); }}});
  }

  void read_retention(const YAML::Node& node, const Site& site, RetentionConfig& out) {
    const bool ok =
        in_.map(node, site,
                {
                    {"max_age", [&](auto& n, auto& s) { in_.duration(n, s, out.max_age); }},
                    {"max_builds", [&](auto& n, auto& s) { in_.count(n, s, out.max_builds); }},
                    {"min_retained", [&](auto& n, auto& s) { in_.count(n, s, out.min_retained); }},
                    {"keep_while_active", [&](auto& n, auto& s) { in_.boolean(n, s, out.keep_while_active); }},
                    {"active_window", [&](auto& n, auto& s) { in_.duration(n, s, out.active_window); }},
                    {"hard_max_age", [&](auto& n, auto& s) { in_.duration(n, s, out.hard_max_age); }},
                });
    if (!ok) return;
    if (out.min_retained > out.max_builds) {
      const auto where = Loader::find(node, site, "min_retained");
      in_.error(where ? *where : Loader::find(node, site, "max_builds").value_or(site),
                "min_retained (" + std::to_string(out.min_retained) + ") cannot exceed max_builds (" +
                    std::to_string(out.max_builds) + ")");
    }
    // hard_max_age caps keep_while_active; below max_age it would retire active builds early.
    if (out.keep_while_active && out.hard_max_age < out.max_age) {
      in_.error(Loader::find(node, site, "hard_max_age").value_or(site), "must not be shorter than max_age");
    }
  }

  void read_security(const YAML::Node& node, const Site& site, SecurityConfig& out) {
    in_.map(node, site,
            {
                {"check_origin", [&](auto& n, auto& s) { in_.boolean(n, s, out.check_origin); }},
                {"allowed_origins",
                 [&](auto& n, auto& s) {
                   in_.list(n, s, [&](const YAML::Node& item, const Site& item_site) {
                     static constexpr std::string_view kExpected = "an origin like https://shop.example.com";
                     auto text = in_.scalar(item, item_site, kExpected);
                     if (!text) return;
                     if (!is_origin(*text))
                       in_.error(item_site, "expected " + std::string(kExpected) + ", got " + got(item));
                     out.allowed_origins.push_back(std::move(*text));
                   });
                 }},
            });
  }

  void read_health(const YAML::Node& node, const Site& site, HealthConfig& out) {
    in_.map(node, site,
            {
                {"path",
                 [&](auto& n, auto& s) {
                   in_.string(n, s, out.path);
                   if (n.IsScalar() && !out.path.starts_with('/')) {
                     in_.error(s, "expected a path starting with /, got " + got(n));
                   }
                 }},
                {"interval", [&](auto& n, auto& s) { in_.duration(n, s, out.interval); }},
                {"timeout", [&](auto& n, auto& s) { in_.duration(n, s, out.timeout); }},
                {"rise", [&](auto& n, auto& s) { in_.count(n, s, out.rise, 1); }},
                {"fall", [&](auto& n, auto& s) { in_.count(n, s, out.fall, 1); }},
            });
  }

  void read_canary(const YAML::Node& node, const Site& site, CanaryConfig& out) {
    in_.map(node, site,
            {
                {"build", [&](auto& n, auto& s) { in_.nonempty_string(n, s, out.build); }, true},
                {"percent",
                 [&](auto& n, auto& s) {
                   static constexpr std::string_view kExpected = "a percentage from 0 to 100";
                   const auto text = in_.scalar(n, s, kExpected);
                   if (!text) return;
                   const auto value = parse_number(*text);
                   if (value && *value >= 0 && *value <= 100)
                     out.percent = *value;
                   else
                     in_.error(s, "expected " + std::string(kExpected) + ", got " + got(n));
                 },
                 true},
            });
  }

  // Rules within one app: unique build ids, a current build that exists and
  // may serve, a canary that names a live build.
  void check_app(const YAML::Node& node, const Site& site, const AppConfig& app, const std::vector<Site>& id_sites) {
    const bool from_config = app.registry == RegistrySource::config;
    const auto builds_site = Loader::find(node, site, "builds");
    // With `registry: api` builds come from the admin API, so the file may list none.
    if (from_config && builds_site && node["builds"].IsSequence() && node["builds"].size() == 0) {
      in_.error(*builds_site, "an app needs at least one build");
    } else if (from_config && !builds_site) {
      in_.error({join(site.path, "builds"), site.mark}, "an app needs at least one build");
    }

    std::map<std::string, std::size_t> index;  // build id -> position in app.builds
    for (std::size_t i = 0; i < app.builds.size(); ++i) {
      const auto& id = app.builds[i].id;
      if (id.empty()) continue;  // already reported
      const auto [first, inserted] = index.emplace(id, i);
      if (!inserted)
        in_.error(id_sites[i], "duplicate build id '" + id + "' (also " + id_sites[first->second].path + ")");
    }

    check_current(node, site, app, index, from_config);
    check_canary(node, site, app, index);
  }

  void check_current(const YAML::Node& node, const Site& site, const AppConfig& app,
                     const std::map<std::string, std::size_t>& index, bool from_config) {
    const auto current_site = Loader::find(node, site, "current");
    if (!current_site) {
      if (from_config)
        in_.error({join(site.path, "current"), site.mark}, "is required: the id of the build new visitors get");
      return;
    }
    // Wrong type, empty, or no builds to name: already reported.
    if (app.current.empty() || app.builds.empty()) return;
    const auto it = index.find(app.current);
    if (it == index.end()) {
      in_.error(*current_site, "'" + app.current + "' names no build of this app" + known_ids(app));
      return;
    }
    const auto& state = app.builds[it->second].state;
    if (state) {
      in_.error(*current_site, "build '" + app.current + "' has state: " + to_string(*state) +
                                   "; the current build cannot be preview or retired");
    }
  }

  void check_canary(const YAML::Node& node, const Site& site, const AppConfig& app,
                    const std::map<std::string, std::size_t>& index) {
    if (!app.canary || app.canary->build.empty()) return;
    const auto build_site = Loader::find(node["canary"], {join(site.path, "canary"), site.mark}, "build");
    if (!build_site) return;
    const auto it = index.find(app.canary->build);
    if (it == index.end()) {
      in_.error(*build_site, "'" + app.canary->build + "' names no build of this app" + known_ids(app));
    } else if (app.builds[it->second].state == BuildState::retired) {
      in_.error(*build_site, "build '" + app.canary->build + "' is retired and cannot take canary traffic");
    } else if (app.canary->build == app.current) {
      in_.warning(*build_site, "the canary build is the current build; the canary has no effect");
    }
  }

  static std::string known_ids(const AppConfig& app) {
    std::vector<std::string_view> ids;
    for (const auto& build : app.builds) {
      if (!build.id.empty() && std::find(ids.begin(), ids.end(), build.id) == ids.end()) ids.push_back(build.id);
    }
    return ids.empty() ? "" : " (builds: " + list_names(ids) + ")";
  }

  // Rules across apps: unique names, each host in one app, one default.
  void check_apps_together() {
    if (apps_ == nullptr) return;
    const auto& apps = *apps_;
    std::map<std::string, std::size_t> names;
    std::map<std::string, std::string> hosts;  // host -> "app 'x' (path)"
    std::optional<std::size_t> default_app;
    for (std::size_t a = 0; a < apps.size(); ++a) {
      const auto& app = apps[a];
      const auto& sites = app_sites_[a];
      if (!app.name.empty() && sites.name) {
        const auto [first, inserted] = names.emplace(app.name, a);
        if (!inserted)
          in_.error(*sites.name,
                    "app name '" + app.name + "' is already used by " + app_sites_[first->second].self.path);
      }
      for (std::size_t h = 0; h < app.hosts.size(); ++h) {
        const std::string owner = "app '" + app.name + "' (" + sites.hosts[h].path + ")";
        const auto [first, inserted] = hosts.emplace(app.hosts[h], owner);
        if (!inserted) in_.error(sites.hosts[h], "host '" + app.hosts[h] + "' is already served by " + first->second);
      }
      if (app.is_default && sites.is_default) {
        if (default_app)
          in_.error(*sites.is_default,
                    "only one app may be the default; " + app_sites_[*default_app].self.path + " already is");
        else
          default_app = a;
      }
    }
  }

  Loader& in_;
  std::vector<AppSites> app_sites_;
  const std::vector<AppConfig>* apps_ = nullptr;
};

LoadResult load_document(std::string_view yaml, const std::string& source_name) {
  Loader loader(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    loader.error({"", e.mark}, "invalid YAML: " + e.msg);
    return loader.finish(std::nullopt);
  }
  if (!root || root.IsNull()) {
    loader.error({"", YAML::Mark::null_mark()}, "the file is empty; expected a mapping with listeners and apps");
    return loader.finish(std::nullopt);
  }
  ConfigReader reader(loader);
  Config config = reader.read(root, {"", root.Mark()});
  config.source = source_name;
  return loader.finish(std::move(config));
}

}  // namespace

std::string Diagnostic::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  if (!key.empty()) out += ": " + key;
  return out + ": " + message;
}

LoadResult load_string(std::string_view yaml, const std::string& source_name) {
  try {
    return load_document(yaml, source_name);
  } catch (const std::exception& e) {
    // yaml-cpp can throw from node access (e.g. BadConversion); no caller
    // should ever see an exception from a config load.
    LoadResult result;
    result.errors.push_back({source_name, 0, 0, "", std::string("internal error while loading: ") + e.what()});
    return result;
  } catch (...) {
    LoadResult result;
    result.errors.push_back({source_name, 0, 0, "", "internal error while loading"});
    return result;
  }
}

LoadResult load_file(const std::string& path) {
  std::string text;
  const int failure = read_whole_file(path, text);
  if (failure != 0) {
    LoadResult result;
    result.errors.push_back({path, 0, 0, "", std::string("cannot read: ") + std::strerror(failure)});
    return result;
  }
  return load_string(text, path);
}

std::string_view embedded_default_yaml() {
  return R"(# The demo (scripts/demo.sh): app `demo` with no builds yet; deploy them with the CLI,
# e.g. skewgate deploy --app demo --build dpl-a --upstream 127.0.0.1:3001
listeners:
  - address: 127.0.0.1:8080
admin: {address: 127.0.0.1:9901}
workers: auto
state_dir: /tmp/skewgate-demo
access_log: {path: stdout, format: plain}
apps:
  - name: demo
    hosts: [localhost, 127.0.0.1]
    registry: api
)";
}

}  // namespace sg::conf
