#include "gateway/control/upstream_names.h"

#include <algorithm>

namespace sg::gateway {

NameUsers upstream_names(const conf::Config& config) {
  NameUsers out;
  for (const conf::AppConfig& app : config.apps)
    for (const conf::BuildConfig& build : app.builds) {
      if (build.state && *build.state == conf::BuildState::retired) continue;
      for (const std::string& name : names_in(build.upstreams)) {
        std::vector<std::string>& users = out[name];
        std::string key = routing::runtime_key(app.name, build.id);
        if (std::find(users.begin(), users.end(), key) == users.end()) users.push_back(std::move(key));
      }
    }
  return out;
}

std::set<std::string> names_in(const std::vector<conf::SocketAddress>& upstreams) {
  std::set<std::string> out;
  for (const conf::SocketAddress& upstream : upstreams)
    if (upstream.is_name()) out.insert(upstream.host);
  return out;
}

std::vector<conf::SocketAddress> normalized_addresses(std::vector<conf::SocketAddress> addresses) {
  for (conf::SocketAddress& address : addresses) address.port = 0;
  std::sort(addresses.begin(), addresses.end());
  addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
  return addresses;
}

bool answer_changes(const routing::ResolvedNames& resolved, const std::string& name,
                    const std::vector<conf::SocketAddress>& addresses) {
  const auto found = resolved.find(name);
  return found == resolved.end() || found->second != addresses;
}

std::chrono::milliseconds next_lookup_in(conf::Duration refresh, std::optional<std::chrono::seconds> ttl) {
  std::chrono::milliseconds wait = refresh;
  if (ttl) wait = std::min<std::chrono::milliseconds>(wait, *ttl);
  return std::max<std::chrono::milliseconds>(wait, conf::kMinDnsRefresh);
}

std::vector<VerifyTarget> resolve_targets(std::vector<VerifyTarget> targets, const routing::ResolvedNames& resolved,
                                          std::vector<std::string>& notes) {
  for (VerifyTarget& target : targets) {
    for (const conf::SocketAddress& upstream : target.upstreams)
      if (upstream.is_name() && !resolved.contains(upstream.host))
        notes.push_back("app " + target.app + " build " + target.build + " upstream " + upstream.to_string() +
                        " could not be verified (the name has not resolved); passed, it serves once it resolves");
    target.upstreams = routing::resolve_upstreams(target.upstreams, &resolved);
  }
  return targets;
}

}  // namespace sg::gateway
