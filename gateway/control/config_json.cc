#include "gateway/control/config_json.h"

namespace sg::gateway {
namespace {

using nlohmann::json;

constexpr const char* kRedacted = "<redacted>";

json addresses(const std::vector<conf::SocketAddress>& list) {
  json out = json::array();
  for (const auto& a : list) out.push_back(a.to_string());
  return out;
}

std::string duration(conf::Duration d) { return std::to_string(d.count()) + "ms"; }

json app_to_json(const conf::AppConfig& app) {
  json builds = json::array();
  for (const auto& b : app.builds) {
    json build = {{"id", b.id}, {"upstreams", addresses(b.upstreams)}};
    if (!b.manifest.empty()) build["manifest"] = b.manifest;
    if (!b.functions_from.empty()) build["functions_from"] = b.functions_from;
    if (b.state) build["state"] = conf::to_string(*b.state);
    if (!b.verify) build["verify"] = false;
    builds.push_back(build);
  }
  json out = {
      {"name", app.name},
      {"hosts", app.hosts},
      {"default", app.is_default},
      {"registry", app.registry == conf::RegistrySource::api ? "api" : "config"},
      {"framework", conf::to_string(app.framework)},
      {"current", app.current},
      {"builds", builds},
      {"asset_prefixes", app.asset_prefixes},
      {"skew",
       {{"action_policy", app.skew.action_policy == conf::ActionPolicy::reload ? "reload" : "error"},
        {"message", app.skew.message},
        {"reload_module_path", app.skew.reload_module_path}}},
      {"actions",
       {{"inspect_form_posts", app.actions.inspect_form_posts},
        {"inspect_bytes", app.actions.inspect_bytes},
        {"manifest_max_bytes", app.actions.manifest_max_bytes},
        {"functions_max_bytes", app.actions.functions_max_bytes},
        {"replay_bytes", app.actions.replay_bytes}}},
      {"assets", {{"fallback_builds", app.assets.fallback_builds}}},
      {"retention",
       {{"max_age", duration(app.retention.max_age)},
        {"max_builds", app.retention.max_builds},
        {"min_retained", app.retention.min_retained},
        {"keep_while_active", app.retention.keep_while_active},
        {"active_window", duration(app.retention.active_window)},
        {"hard_max_age", duration(app.retention.hard_max_age)}}},
      {"security", {{"check_origin", app.security.check_origin}, {"allowed_origins", app.security.allowed_origins}}},
      {"health",
       {{"path", app.health.path},
        {"interval", duration(app.health.interval)},
        {"timeout", duration(app.health.timeout)},
        {"rise", app.health.rise},
        {"fall", app.health.fall}}},
  };
  if (app.canary) out["canary"] = {{"build", app.canary->build}, {"percent", app.canary->percent}};
  if (app.tls) out["tls"] = {{"cert", app.tls->cert}, {"key", app.tls->key}};
  return out;
}

}  // namespace

json config_to_json(const conf::Config& config) {
  json listeners = json::array();
  for (const auto& l : config.listeners) {
    json listener = {{"address", l.address.to_string()}};
    // Paths only: a key file's content is never read into a Config.
    if (l.tls) listener["tls"] = {{"cert", l.tls->cert}, {"key", l.tls->key}};
    if (l.redirect_https) listener["redirect_https"] = true;
    listeners.push_back(listener);
  }
  json previous = json::array();
  for (std::size_t i = 0; i < config.pins.previous_secrets.size(); ++i) previous.push_back(kRedacted);
  json trusted = json::array();
  for (const auto& c : config.trusted_proxies) trusted.push_back(c.to_string());
  json apps = json::array();
  for (const auto& app : config.apps) apps.push_back(app_to_json(app));
  return {
      {"source", config.source},
      {"listeners", listeners},
      {"admin",
       {{"address", config.admin.address.to_string()},
        {"token_file", config.admin.token_file},
        {"allowed_hosts", config.admin.allowed_hosts}}},
      {"workers", config.workers == 0 ? json("auto") : json(config.workers)},
      {"state_dir", config.state_dir},
      {"watch", config.watch},
      {"limits",
       {{"header_bytes", config.limits.header_bytes},
        {"headers", config.limits.headers},
        {"uri_bytes", config.limits.uri_bytes},
        {"body_bytes", config.limits.body_bytes}}},
      {"timeouts",
       {{"client_header", duration(config.timeouts.client_header)},
        {"client_body", duration(config.timeouts.client_body)},
        {"client_send", duration(config.timeouts.client_send)},
        {"client_idle", duration(config.timeouts.client_idle)},
        {"tunnel_idle", duration(config.timeouts.tunnel_idle)},
        {"upstream_connect", duration(config.timeouts.upstream_connect)},
        {"upstream_response", duration(config.timeouts.upstream_response)},
        {"upstream_idle", duration(config.timeouts.upstream_idle)},
        {"drain", duration(config.timeouts.drain)},
        {"tls_handshake", duration(config.timeouts.tls_handshake)}}},
      {"tls",
       {{"ciphers", config.tls.ciphers},
        {"ciphersuites", config.tls.ciphersuites},
        {"ticket_rotation", duration(config.tls.ticket_rotation)}}},
      {"access_log",
       {{"path", config.access_log.path}, {"format", config.access_log.format == conf::LogFormat::json ? "json" : "plain"}}},
      {"metrics", {{"enabled", config.metrics.enabled}}},
      {"dns", {{"refresh", duration(config.dns.refresh)}, {"servers", addresses(config.dns.servers)}}},
      {"trusted_proxies", trusted},
      {"pins",
       {{"cookie", config.pins.cookie},
        {"secret", config.pins.secret.empty() ? json(nullptr) : json(kRedacted)},
        {"secret_file", config.pins.secret_file},
        {"previous_secrets", previous}}},
      {"apps", apps},
  };
}

}  // namespace sg::gateway
