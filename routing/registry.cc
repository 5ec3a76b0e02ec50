#include "routing/registry.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

namespace sg::routing {

namespace {

using nlohmann::json;

constexpr int kRegistryVersion = 1;
constexpr std::size_t kMaxBuildIdLength = 128;

OpResult ok(int status, bool changed) { return OpResult{status, "", "", changed}; }

OpResult fail(int status, std::string error, std::string message) {
  return OpResult{status, std::move(error), std::move(message), false};
}

std::string build_named(std::string_view id) { return "build '" + std::string(id) + "'"; }

OpResult not_found(std::string_view id) { return fail(404, "build_not_found", build_named(id) + " is not registered"); }

// Deployment IDs travel in URLs, cookies and headers (design.md section 4),
// so they are restricted to characters that need no escaping anywhere.
bool valid_build_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxBuildIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// The registry is persisted as JSON, which carries only UTF-8 text; a path
// that is not would either fail to encode or come back different.
bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code = 0;
    if ((c & 0xE0) == 0xC0) {
      length = 2;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto continuation = static_cast<unsigned char>(text[i + k]);
      if ((continuation & 0xC0) != 0x80) return false;
      code = (code << 6) | (continuation & 0x3F);
    }
    const std::uint32_t minimum = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
    if (code < minimum || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

// SocketAddress has no operator==; its canonical text is its identity.
bool same_upstreams(const std::vector<conf::SocketAddress>& a, const std::vector<conf::SocketAddress>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const conf::SocketAddress& x, const conf::SocketAddress& y) {
                      return x.to_string() == y.to_string();
                    });
}

RegisteredBuild* find_build(AppRegistry& app, std::string_view id) {
  for (auto& build : app.builds) {
    if (build.id == id) return &build;
  }
  return nullptr;
}

void erase_from_previous(AppRegistry& app, std::string_view id) {
  std::erase_if(app.previous, [&](const std::string& entry) { return entry == id; });
}

std::optional<conf::BuildState> parse_state(std::string_view text) {
  for (auto state : {conf::BuildState::current, conf::BuildState::retained, conf::BuildState::preview,
                     conf::BuildState::retired}) {
    if (text == conf::to_string(state)) return state;
  }
  return std::nullopt;
}

// A decode step: false with `error` set stops the whole read.
bool expect_keys(const json& object, std::initializer_list<std::string_view> keys, const std::string& where,
                 std::string& error) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      error = where + ": unknown field '" + key + "'";
      return false;
    }
  }
  for (auto key : keys) {
    if (!object.contains(key)) {
      error = where + ": missing field '" + std::string(key) + "'";
      return false;
    }
  }
  return true;
}

bool decode_build(const json& value, const std::string& where, RegisteredBuild& build, std::string& error) {
  if (!value.is_object()) {
    error = where + ": expected an object";
    return false;
  }
  // functions_from (issue 15) is optional: a registry written before it has none.
  json keys = value;
  const bool has_functions = value.contains("functions_from");
  if (has_functions) keys.erase("functions_from");
  if (!expect_keys(keys, {"id", "upstreams", "manifest", "state", "registered_at_ms"}, where, error)) return false;

  const auto& id = value["id"];
  if (!id.is_string() || !valid_build_id(id.get_ref<const std::string&>())) {
    error = where + ".id: expected a build id matching [A-Za-z0-9._-]{1,128}";
    return false;
  }
  build.id = id.get<std::string>();
  const std::string at = where + " ('" + build.id + "')";

  const auto& upstreams = value["upstreams"];
  if (!upstreams.is_array() || upstreams.empty()) {
    error = at + ".upstreams: expected a non-empty array of addresses";
    return false;
  }
  for (std::size_t i = 0; i < upstreams.size(); ++i) {
    const auto& text = upstreams[i];
    // Names are kept as written (never the addresses they resolved to), so a
    // restart resolves them afresh.
    const auto address = text.is_string() ? conf::SocketAddress::parse_upstream(text.get_ref<const std::string&>())
                                          : std::nullopt;
    if (!address) {
      error = at + ".upstreams[" + std::to_string(i) + "]: expected an address like 127.0.0.1:3000, [::1]:3000, "
              "shop-a:3000 or unix:/path";
      return false;
    }
    build.upstreams.push_back(*address);
  }

  const auto& manifest = value["manifest"];
  if (!manifest.is_string() || !valid_utf8(manifest.get_ref<const std::string&>())) {
    error = at + ".manifest: expected a string";
    return false;
  }
  build.manifest = manifest.get<std::string>();

  if (has_functions) {
    const auto& functions = value["functions_from"];
    if (!functions.is_string() || !valid_utf8(functions.get_ref<const std::string&>())) {
      error = at + ".functions_from: expected a string";
      return false;
    }
    build.functions_from = functions.get<std::string>();
    if (!build.manifest.empty() && !build.functions_from.empty()) {
      error = at + ": manifest and functions_from are both set";
      return false;
    }
  }

  const auto& state_text = value["state"];
  const auto state = state_text.is_string() ? parse_state(state_text.get_ref<const std::string&>()) : std::nullopt;
  if (!state) {
    error = at + ".state: expected one of current, retained, preview, retired";
    return false;
  }
  build.state = *state;

  const auto& registered_at = value["registered_at_ms"];
  const bool in_range =
      registered_at.is_number_unsigned()
          ? registered_at.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
          : registered_at.is_number_integer() && registered_at.get<std::int64_t>() >= 0;
  if (!in_range) {
    error = at + ".registered_at_ms: expected a non-negative integer";
    return false;
  }
  build.registered_at_ms = registered_at.get<std::int64_t>();
  return true;
}

bool decode_app(const json& value, const std::string& where, AppRegistry& app, std::string& error) {
  if (!value.is_object()) {
    error = where + ": expected an object";
    return false;
  }
  if (!expect_keys(value, {"current", "builds", "previous"}, where, error)) return false;

  const auto& current = value["current"];
  if (!current.is_string()) {
    error = where + ".current: expected a string";
    return false;
  }
  app.current = current.get<std::string>();

  const auto& builds = value["builds"];
  if (!builds.is_array()) {
    error = where + ".builds: expected an array";
    return false;
  }
  std::set<std::string> ids;
  for (std::size_t i = 0; i < builds.size(); ++i) {
    RegisteredBuild build;
    if (!decode_build(builds[i], where + ".builds[" + std::to_string(i) + "]", build, error)) return false;
    if (!ids.insert(build.id).second) {
      error = where + ".builds[" + std::to_string(i) + "]: duplicate build id '" + build.id + "'";
      return false;
    }
    // The state machine keeps exactly one build in state current, the one
    // `current` names; anything else was not written by encode_registry().
    if ((build.state == conf::BuildState::current) != (build.id == app.current)) {
      error = where + ".builds[" + std::to_string(i) + "] ('" + build.id + "').state: " +
              (build.id == app.current ? "the current build must be in state current"
                                       : "only the build named by current may be in state current");
      return false;
    }
    app.builds.push_back(std::move(build));
  }
  if (!app.current.empty() && !ids.contains(app.current)) {
    error = where + ".current: names no registered build ('" + app.current + "')";
    return false;
  }

  // Entries may name builds that were since retired: rollback skips those.
  const auto& previous = value["previous"];
  if (!previous.is_array()) {
    error = where + ".previous: expected an array of build ids";
    return false;
  }
  for (std::size_t i = 0; i < previous.size(); ++i) {
    const auto& id = previous[i];
    if (!id.is_string() || !valid_build_id(id.get_ref<const std::string&>())) {
      error = where + ".previous[" + std::to_string(i) + "]: expected a build id";
      return false;
    }
    app.previous.push_back(id.get<std::string>());
  }
  return true;
}

}  // namespace

OpResult register_build(AppRegistry& app, RegisteredBuild build, std::int64_t now_ms) {
  if (!valid_build_id(build.id)) {
    return fail(400, "invalid_body", "build id must match [A-Za-z0-9._-]{1,128}");
  }
  if (build.upstreams.empty()) {
    return fail(400, "invalid_body", build_named(build.id) + " needs at least one upstream");
  }
  if (!valid_utf8(build.manifest)) {
    return fail(400, "invalid_body", build_named(build.id) + ": manifest path must be UTF-8 text");
  }
  if (!valid_utf8(build.functions_from)) {
    return fail(400, "invalid_body", build_named(build.id) + ": functions_from path must be UTF-8 text");
  }
  if (!build.manifest.empty() && !build.functions_from.empty()) {
    return fail(400, "invalid_body",
                build_named(build.id) + ": a build has either manifest (Next.js) or functions_from (react-server), "
                "not both");
  }
  if (const auto* existing = find_build(app, build.id)) {
    // Same id, same build: a retried deploy. Any difference (also for a
    // retired id) would silently re-point a deployment ID that clients may
    // still hold, so it is refused; a new build needs a new id.
    if (same_upstreams(existing->upstreams, build.upstreams) && existing->manifest == build.manifest &&
        existing->functions_from == build.functions_from) {
      return ok(200, false);
    }
    return fail(409, "build_conflict",
                build_named(build.id) + " is already registered with other upstreams, manifest or functions_from; use a new build id");
  }
  build.state = conf::BuildState::retained;
  build.registered_at_ms = now_ms;
  app.builds.push_back(std::move(build));
  return ok(201, true);
}

OpResult promote(AppRegistry& app, std::string_view id) {
  auto* build = find_build(app, id);
  if (build == nullptr) return not_found(id);
  if (build->state == conf::BuildState::retired) {
    return fail(409, "invalid_transition", build_named(id) + " is retired; register a new build id");
  }
  if (app.current == id) return ok(200, false);

  if (auto* old = find_build(app, app.current)) {
    old->state = conf::BuildState::retained;
    // Each id appears at most once in `previous` and never names the current
    // build, so the list stays bounded by the number of builds however often
    // two builds are promoted back and forth.
    erase_from_previous(app, old->id);
    app.previous.push_back(old->id);
  }
  erase_from_previous(app, id);
  build->state = conf::BuildState::current;
  app.current = std::string(id);
  return ok(200, true);
}

OpResult rollback(AppRegistry& app) {
  // Newest first; entries that were retired or removed since are skipped
  // (and dropped once a rollback succeeds). A preview build may come back:
  // promote() accepts it too.
  auto target = app.previous.end();
  RegisteredBuild* build = nullptr;
  for (auto it = app.previous.end(); it != app.previous.begin();) {
    --it;
    auto* candidate = find_build(app, *it);
    if (candidate != nullptr && candidate->state != conf::BuildState::retired && candidate->id != app.current) {
      target = it;
      build = candidate;
      break;
    }
  }
  if (build == nullptr) return fail(409, "invalid_transition", "nothing to roll back to");

  // The build rolled back from becomes retained but is NOT pushed onto
  // `previous`: rollback walks back through history (a->b->c, rollback
  // twice gives a) instead of toggling between the last two builds. To undo
  // a rollback, promote the build again by id.
  if (auto* old = find_build(app, app.current)) old->state = conf::BuildState::retained;
  app.previous.erase(target, app.previous.end());
  build->state = conf::BuildState::current;
  app.current = build->id;
  return ok(200, true);
}

OpResult retire(AppRegistry& app, std::string_view id) {
  auto* build = find_build(app, id);
  if (build == nullptr) return not_found(id);
  if (app.current == id) {
    return fail(409, "invalid_transition", build_named(id) + " is the current build; promote another build first");
  }
  if (build->state == conf::BuildState::retired) return ok(200, false);
  build->state = conf::BuildState::retired;
  return ok(200, true);
}

OpResult make_preview(AppRegistry& app, std::string_view id) {
  auto* build = find_build(app, id);
  if (build == nullptr) return not_found(id);
  if (app.current == id) {
    return fail(409, "invalid_transition", build_named(id) + " is the current build; it cannot be a preview");
  }
  if (build->state == conf::BuildState::retired) {
    return fail(409, "invalid_transition", build_named(id) + " is retired; register a new build id");
  }
  if (build->state == conf::BuildState::preview) return ok(200, false);
  build->state = conf::BuildState::preview;
  return ok(200, true);
}

void apply_registry(const AppRegistry& registry, conf::AppConfig& app) {
  app.builds.clear();
  for (const auto& build : registry.builds) {
    conf::BuildConfig config;
    config.id = build.id;
    config.upstreams = build.upstreams;
    config.manifest = build.manifest;
    config.functions_from = build.functions_from;
    // BuildConfig::state carries only what YAML may write: preview and
    // retired. Current comes from app.current; retained is the default.
    if (build.state == conf::BuildState::preview || build.state == conf::BuildState::retired) {
      config.state = build.state;
    }
    app.builds.push_back(std::move(config));
  }
  app.current = registry.current;
}

std::string encode_registry(const Registry& registry) {
  json apps = json::object();
  for (const auto& [name, app] : registry) {
    json builds = json::array();
    for (const auto& build : app.builds) {
      json upstreams = json::array();
      for (const auto& address : build.upstreams) upstreams.push_back(address.to_string());
      json entry{{"id", build.id},
                 {"upstreams", std::move(upstreams)},
                 {"manifest", build.manifest},
                 {"state", conf::to_string(build.state)},
                 {"registered_at_ms", build.registered_at_ms}};
      // Only when set: a registry without react-server builds stays byte-identical
      // to what older binaries wrote (and read back, for a rollback of skewgate).
      if (!build.functions_from.empty()) entry["functions_from"] = build.functions_from;
      builds.push_back(std::move(entry));
    }
    apps[name] = json{{"current", app.current}, {"builds", std::move(builds)}, {"previous", app.previous}};
  }
  const json document{{"version", kRegistryVersion}, {"apps", std::move(apps)}};
  // register_build() admits only UTF-8 text, so `replace` never fires for
  // what it wrote; it keeps a hand-built registry from throwing here.
  return document.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::optional<Registry> decode_registry(std::string_view text, std::string& error) {
  // A truncated file is not valid JSON (an object needs its closing brace),
  // and nothing is returned unless every field checked out.
  const json document = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    error = "registry: not valid JSON (truncated or corrupt)";
    return std::nullopt;
  }
  if (!document.is_object()) {
    error = "registry: expected an object";
    return std::nullopt;
  }
  if (!expect_keys(document, {"version", "apps"}, "registry", error)) return std::nullopt;
  const auto& version = document["version"];
  if (!version.is_number_integer() || version.get<std::int64_t>() != kRegistryVersion) {
    error = "registry.version: expected " + std::to_string(kRegistryVersion);
    return std::nullopt;
  }
  const auto& apps = document["apps"];
  if (!apps.is_object()) {
    error = "registry.apps: expected an object keyed by app name";
    return std::nullopt;
  }
  Registry registry;
  for (const auto& [name, value] : apps.items()) {
    if (name.empty()) {
      error = "registry.apps: empty app name";
      return std::nullopt;
    }
    AppRegistry app;
    if (!decode_app(value, "registry.apps['" + name + "']", app, error)) return std::nullopt;
    registry.emplace(name, std::move(app));
  }
  return registry;
}

}  // namespace sg::routing
