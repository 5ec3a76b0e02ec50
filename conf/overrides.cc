#include "conf/overrides.h"

#include <cstdlib>
#include <map>

namespace sg::conf {
namespace {

constexpr const char* kSource = "<command line>";

}  // namespace

void apply_overrides(const ProcessOverrides& overrides, LoadResult& result) {
  if (!result.config || overrides.empty()) return;
  Config& config = *result.config;
  std::vector<Diagnostic> errors;
  const auto error = [&errors](const std::string& flag, std::string message) {
    errors.push_back({kSource, 0, 0, flag, std::move(message)});
  };

  if (overrides.listen.size() > config.listeners.size()) {
    error("--listen", "given " + std::to_string(overrides.listen.size()) + " times but " + config.source + " has " +
                          std::to_string(config.listeners.size()) +
                          " listeners (the i-th --listen replaces the address of the i-th listener)");
  } else {
    for (std::size_t i = 0; i < overrides.listen.size(); ++i) config.listeners[i].address = overrides.listen[i];
    std::map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
      const auto [first, inserted] = seen.emplace(config.listeners[i].address.to_string(), i);
      if (!inserted)
        error("--listen", "listeners[" + std::to_string(i) + "] would have the same address as listeners[" +
                              std::to_string(first->second) + "]: " + first->first);
    }
  }

  if (overrides.admin) {
    config.admin.address = *overrides.admin;
    // The rule the loader applies to admin.address (load.cc read_admin).
    const char* env_token = std::getenv("SKEWGATE_ADMIN_TOKEN");
    if (!config.admin.address.is_loopback() && config.admin.token_file.empty() && !(env_token && *env_token))
      error("--admin-listen",
            "the admin API would be reachable from other hosts without a token; set admin.token_file "
            "(or SKEWGATE_ADMIN_TOKEN), or listen on a loopback address");
  }

  if (overrides.state_dir) {
    if (overrides.state_dir->empty())
      error("--state-dir", "expected a directory");
    else
      config.state_dir = *overrides.state_dir;
  }

  if (errors.empty()) return;
  result.config.reset();
  for (auto& e : errors) result.errors.push_back(std::move(e));
}

}  // namespace sg::conf
