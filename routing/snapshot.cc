#include "routing/snapshot.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <unordered_set>
#include <utility>

namespace sg::routing {

namespace {

// "shop.example.com:8080" -> "shop.example.com"; "[::1]:8080" -> "[::1]".
// A value with several colons and no brackets is not host:port and is kept.
std::string_view strip_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    std::size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  std::size_t colon = host.rfind(':');
  if (colon == std::string_view::npos || host.find(':') != colon) return host;
  return host.substr(0, colon);
}

// An absolute name ("shop.example.com.", RFC 1034 section 3.1) names the same host.
std::string_view strip_trailing_dot(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

void lower_into(std::string_view in, char* out) {
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    out[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
}

std::string normalized_config_host(std::string_view host) {
  host = strip_trailing_dot(host);
  std::string out(host.size(), '\0');
  lower_into(host, out.data());
  return out;
}

std::string pool_key_for(std::string_view app, const Build& build) {
  std::string key;
  key.append(app).append("/").append(build.id).append("/");
  for (std::size_t i = 0; i < build.upstreams.size(); ++i) {
    if (i > 0) key.push_back(',');
    key.append(build.upstreams[i].to_string());
  }
  return key;
}

conf::BuildState state_for(const conf::AppConfig& app, const conf::BuildConfig& build) {
  if (build.state) return *build.state;
  return build.id == app.current ? conf::BuildState::current : conf::BuildState::retained;
}

}  // namespace

std::vector<conf::SocketAddress> resolve_upstreams(const std::vector<conf::SocketAddress>& configured,
                                                   const ResolvedNames* resolved, std::size_t* unresolved) {
  std::vector<conf::SocketAddress> out;
  out.reserve(configured.size());
  const auto add = [&out](const conf::SocketAddress& address) {
    if (std::find(out.begin(), out.end(), address) == out.end()) out.push_back(address);
  };
  for (const conf::SocketAddress& upstream : configured) {
    if (!upstream.is_name()) {
      add(upstream);
      continue;
    }
    const auto found = resolved ? resolved->find(upstream.host) : ResolvedNames::const_iterator{};
    if (!resolved || found == resolved->end() || found->second.empty()) {
      if (unresolved) ++*unresolved;
      continue;
    }
    for (conf::SocketAddress address : found->second) {
      address.port = upstream.port;
      add(address);
    }
  }
  return out;
}

std::string runtime_key(std::string_view app, std::string_view build) {
  std::string key;
  key.reserve(app.size() + 1 + build.size());
  key.append(app).append(1, '\n').append(build);
  return key;
}

const Build* App::find_build(std::string_view id) const {
  for (const Build& build : builds) {
    if (build.id == id) return &build;
  }
  return nullptr;
}

std::shared_ptr<const Snapshot> Snapshot::create(conf::Config config, std::vector<std::string>& errors,
                                                 std::uint64_t generation, const RuntimeState* runtime,
                                                 const ResolvedNames* resolved) {
  // Snapshot's constructor is private, so no make_shared.
  std::shared_ptr<Snapshot> snapshot(new Snapshot());
  snapshot->generation_ = generation;
  // The config reaches its final address before anything points into it.
  snapshot->config_ = std::move(config);
  const conf::Config& cfg = snapshot->config_;
  const std::size_t errors_before = errors.size();
  auto error = [&](std::string key, std::string message) {
    errors.push_back(cfg.source + ": " + key + ": " + message);
  };

  // Reserved up front: App and Build addresses must not move once taken.
  snapshot->apps_.reserve(cfg.apps.size());
  std::unordered_map<std::string, std::string> host_owner;  // normalised host -> app name
  const App* explicit_default = nullptr;

  for (std::size_t app_index = 0; app_index < cfg.apps.size(); ++app_index) {
    const conf::AppConfig& app_config = cfg.apps[app_index];
    const std::string app_key = "apps[" + std::to_string(app_index) + "]";
    App& app = snapshot->apps_.emplace_back();
    app.name = app_config.name;
    app.config = &app_config;

    for (std::size_t other = 0; other < app_index; ++other) {
      if (cfg.apps[other].name == app_config.name) {
        error(app_key + ".name", "app name '" + app_config.name + "' is already used by apps[" +
                                     std::to_string(other) + "]");
      }
    }

    app.builds.reserve(app_config.builds.size());
    std::unordered_set<std::string_view> ids;
    for (std::size_t build_index = 0; build_index < app_config.builds.size(); ++build_index) {
      const conf::BuildConfig& build_config = app_config.builds[build_index];
      const std::string build_key = app_key + ".builds[" + std::to_string(build_index) + "]";
      if (!ids.insert(build_config.id).second) {
        error(build_key + ".id", "build id '" + build_config.id + "' appears twice in app '" + app.name + "'");
      }
      Build& build = app.builds.emplace_back();
      build.id = build_config.id;
      build.state = state_for(app_config, build_config);
      // `state: retired` written in the config is the kill switch of config mode.
      if (build.state == conf::BuildState::retired) build.retired_by = RetiredBy::kill_switch;
      build.healthy = true;  // health checks feed later snapshots through `runtime`
      // A react-server outDir that was walked is a known set even when empty
      // (a build without server functions serves no call); one whose walk
      // failed (source none) is unknown, like a build without a manifest.
      build.has_manifest = !build_config.manifest.empty() || !build_config.action_ids.empty() ||
                           build_config.action_id_source == conf::ActionIdSource::react_server_chunks;
      build.ids_from = build_config.action_id_source;
      // A manifest configured before ids_from existed (or in tests) is Next.js's.
      if (build.has_manifest && build.ids_from == conf::ActionIdSource::none) {
        build.ids_from = conf::ActionIdSource::next_manifest;
      }
      build.action_ids.insert(build_config.action_ids.begin(), build_config.action_ids.end());
      build.upstreams = resolve_upstreams(build_config.upstreams, resolved, &build.unresolved_names);
      build.pool_key = pool_key_for(app.name, build);
      build.pool_hash = std::hash<std::string_view>{}(build.pool_key);
      if (runtime != nullptr) {
        if (auto found = runtime->find(runtime_key(app.name, build.id)); found != runtime->end()) {
          const BuildRuntime& state = found->second;
          build.healthy = state.healthy;
          build.superseded_at_ms = state.superseded_at_ms;
          // Retention only ever retires retained builds: a build promoted
          // back to current (or written as preview) keeps its state.
          if (state.retired_by_retention && build.state == conf::BuildState::retained) {
            build.state = conf::BuildState::retired;
            build.retired_by = RetiredBy::retention;
          }
        }
      }
      // Nowhere to send a request (its names never resolved): unhealthy, so
      // its clients get the reload answer and, as current, a 503; never a hang.
      if (build.upstreams.empty()) build.healthy = false;
    }

    app.current = app.find_build(app_config.current);
    if (app.current == nullptr) {
      std::string known;
      for (const Build& build : app.builds) known += (known.empty() ? "" : ", ") + build.id;
      error(app_key + ".current", "current build '" + app_config.current + "' is not one of the app's builds (" +
                                      (known.empty() ? std::string("none") : known) + ")");
    } else if (app.current->state != conf::BuildState::current) {
      error(app_key + ".current", "current build '" + app_config.current + "' is written as state: " +
                                      conf::to_string(app.current->state) +
                                      "; promote another build or remove its state");
    }

    if (app.current != nullptr) app.newest_first.push_back(app.current);
    for (auto it = app.builds.rbegin(); it != app.builds.rend(); ++it) {
      if (&*it != app.current) app.newest_first.push_back(&*it);
    }

    if (app_config.is_default) {
      if (explicit_default != nullptr) {
        error(app_key + ".default", "app '" + app.name + "' and app '" + explicit_default->name +
                                        "' are both marked default: true");
      } else {
        explicit_default = &app;
      }
    }

    for (std::size_t host_index = 0; host_index < app_config.hosts.size(); ++host_index) {
      const std::string host_key = app_key + ".hosts[" + std::to_string(host_index) + "]";
      std::string host = normalized_config_host(app_config.hosts[host_index]);
      bool wildcard = host.starts_with("*.");
      if (host.empty() || host == "*." || host.find('*', wildcard ? 1 : 0) != std::string::npos) {
        error(host_key, "expected a host name or '*.suffix', got '" + app_config.hosts[host_index] + "'");
        continue;
      }
      auto [owner, inserted] = host_owner.emplace(host, app.name);
      if (!inserted) {
        error(host_key, "host '" + host + "' is already served by app '" + owner->second + "'");
        continue;
      }
      if (wildcard) {
        snapshot->wildcard_suffixes_.emplace_back(host.substr(1), &app);
      } else {
        snapshot->exact_hosts_.emplace(std::move(host), &app);
      }
    }
  }

  if (errors.size() != errors_before) return nullptr;

  // Longest suffix first, so "*.a.shop.example.com" wins over "*.shop.example.com".
  std::stable_sort(snapshot->wildcard_suffixes_.begin(), snapshot->wildcard_suffixes_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  if (explicit_default != nullptr) {
    snapshot->default_app_ = explicit_default;
  } else if (!snapshot->apps_.empty()) {
    snapshot->default_app_ = &snapshot->apps_.front();
  }
  return snapshot;
}

const App* Snapshot::find_app(std::string_view host_header) const {
  std::string_view host = strip_trailing_dot(strip_port(host_header));
  if (host.empty()) return default_app_;

  // Lower-case copy for the lookup: on the stack for any real host name
  // (DNS names are at most 253 bytes).
  std::array<char, 256> stack_buffer;
  std::string heap_buffer;
  char* buffer = stack_buffer.data();
  if (host.size() > stack_buffer.size()) {
    heap_buffer.resize(host.size());
    buffer = heap_buffer.data();
  }
  lower_into(host, buffer);
  const std::string_view key(buffer, host.size());

  if (auto exact = exact_hosts_.find(key); exact != exact_hosts_.end()) return exact->second;
  for (const auto& [suffix, app] : wildcard_suffixes_) {
    // The suffix keeps its leading dot, so "shop.example.com" never matches
    // "*.shop.example.com" and at least one label must precede it.
    if (key.size() > suffix.size() && key.ends_with(suffix)) return app;
  }
  return default_app_;
}

}  // namespace sg::routing
