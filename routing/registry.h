// The build registry of `registry: api` apps and its state machine
// (design.md sections 7 and 11): register, promote, rollback, retire,
// preview. Pure: the control plane persists the result before acknowledging
// and folds it into the app's config for the next snapshot.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace sg::routing {

struct RegisteredBuild {
  std::string id;
  std::vector<conf::SocketAddress> upstreams;
  std::string manifest;  // path; the IDs are re-read from it on load
  std::string functions_from;  // react-server outDir; its ids are re-collected on load
  conf::BuildState state = conf::BuildState::retained;  // a new build is retained until promoted
  std::int64_t registered_at_ms = 0;
  bool operator==(const RegisteredBuild&) const = default;
};

struct AppRegistry {
  std::string current;                  // empty until the first promote
  std::vector<RegisteredBuild> builds;  // registration order (oldest first)
  // Builds promoted away from, most recent last: rollback pops from here.
  std::vector<std::string> previous;
  bool operator==(const AppRegistry&) const = default;
};

// Keyed by app name.
using Registry = std::map<std::string, AppRegistry>;

// The outcome of one operation: HTTP status and a stable snake_case code
// ("" on success) plus a human message, as the admin API answers it.
struct OpResult {
  int status = 200;
  std::string error;  // "", app_not_found, build_not_found, build_conflict, invalid_transition, invalid_body
  std::string message;
  bool changed = false;  // false for an idempotent repeat (nothing to persist)
  bool ok() const { return error.empty(); }
};

// Registering the same id again with the same upstreams, manifest and functions_from is
// idempotent (200, changed=false); with others it is 409 build_conflict.
OpResult register_build(AppRegistry& app, RegisteredBuild build, std::int64_t now_ms);
// current <- id; the old current becomes retained (its supersede time is the
// control plane's business). Retired builds cannot be promoted (409).
OpResult promote(AppRegistry& app, std::string_view id);
// The build promoted away from most recently (and still kept) comes back;
// the current one becomes retained. 409 when there is none.
OpResult rollback(AppRegistry& app);
// The kill switch: retired at once. The current build cannot be retired (409).
OpResult retire(AppRegistry& app, std::string_view id);
// Reachable only through a signed preview link. Not the current build (409).
OpResult make_preview(AppRegistry& app, std::string_view id);

// Writes the registry's builds, states and current into `app` (the YAML's
// builds of an api app are replaced). Action IDs are read by the caller.
void apply_registry(const AppRegistry& registry, conf::AppConfig& app);

// JSON text for state_dir/registry.json and back. decode() returns nullopt
// with `error` set on anything malformed or truncated (never a partial read).
std::string encode_registry(const Registry& registry);
std::optional<Registry> decode_registry(std::string_view text, std::string& error);

}  // namespace sg::routing
