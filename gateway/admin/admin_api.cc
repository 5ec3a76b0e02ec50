#include "gateway/admin/admin_api.h"

#include <cstdlib>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/admin/admin_guard.h"
#include "gateway/control/control_plane.h"
#include "routing/request_view.h"

namespace sg::gateway {
namespace {

using nlohmann::json;

AdminResponse reply(int status, const json& body) {
  return {status, body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
}

AdminResponse error(int status, std::string_view code, std::string_view message) {
  return reply(status, {{"error", code}, {"message", message}});
}

// A control-plane answer. Its only 503 is handover_in_progress: a change that
// passed the admin API's own handover check but reached the registry after the
// hand-over began (a registration waits for its build probe meanwhile). It
// tells the client to retry like the admin API's refusal does.
AdminResponse api_reply(int status, const json& body) {
  AdminResponse response = reply(status, body);
  if (status == 503) response.headers.emplace_back("retry-after", "1");
  return response;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const std::size_t j = path.find('/', i);
    const std::size_t end = j == std::string_view::npos ? path.size() : j;
    if (end > i) parts.emplace_back(path.substr(i, end - i));
    i = end;
  }
  return parts;
}

}  // namespace

bool read_admin_token(const std::string& token_file, std::string& token, std::string& error) {
  if (const char* env = std::getenv("SKEWGATE_ADMIN_TOKEN"); env && *env) {
    token = env;
    return true;
  }
  if (token_file.empty()) return true;
  std::ifstream in(token_file);
  if (!in || !std::getline(in, token)) {
    error = "cannot read admin.token_file " + token_file;
    return false;
  }
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) {
    error = "admin.token_file " + token_file + " is empty";
    return false;
  }
  return true;
}

bool AdminApi::authorized(const AdminRequest& request) const {
  if (token_.empty()) return true;
  // Two Authorization lines: which one would a proxy in front have checked?
  int seen = 0;
  for (const auto& f : request.headers) seen += routing::iequals(f.name, "authorization") ? 1 : 0;
  return seen == 1 && bearer_matches(request.header("authorization"), token_);
}

// Behind the token like the API when one is set (Prometheus sends it with
// `authorization: {credentials_file: ...}`): the series name every build.
AdminResponse AdminApi::metrics_text(const AdminRequest& request) const {
  if (request.method != "GET" && request.method != "HEAD")
    return error(405, "method_not_allowed", request.method + " is not allowed on /metrics");
  if (!authorized(request)) return error(401, "unauthorized", "a valid 'Authorization: Bearer <token>' is required");
  if (metrics_ == nullptr || !control_.snapshot()->config().metrics.enabled)
    return error(404, "metrics_disabled", "metrics.enabled is false");
  AdminResponse response{200, metrics::serialize_text(metrics_->Collect()), metrics::kTextContentType};
  return response;
}

void AdminApi::handle(const AdminRequest& request, Reply respond) {
  if (std::optional<AdminResponse> now = route(request, respond)) respond(std::move(*now));
}

std::optional<AdminResponse> AdminApi::route(const AdminRequest& request, Reply& respond) {
  const std::string& method = request.method;
  const std::vector<std::string> parts = split_path(request.path);
  const bool get = method == "GET" || method == "HEAD";

  // Before anything answers, /healthz included: a rebinding page must not
  // even learn that the listener is skewgate.
  // The file's list, so a reload applies it at once (and no snapshot is
  // needed: handle() also runs on a control plane that has not loaded state).
  if (auto refusal = check_admin_request(request, control_.file_config().admin.allowed_hosts))
    return error(refusal->status, refusal->code, refusal->message);
  if (parts.size() == 1 && parts[0] == "healthz") return reply(200, {{"status", "ok"}});
  if (parts.size() == 1 && parts[0] == "readyz") {
    if (control_.ready()) return reply(200, {{"status", "ready"}});
    return reply(503, {{"status", control_.draining() ? "draining" : "starting"}});
  }
  if (parts.size() == 1 && parts[0] == "metrics") return metrics_text(request);
  if (parts.size() < 2 || parts[0] != "api" || parts[1] != "v1")
    return error(404, "not_found", "no such endpoint: " + request.path);
  if (!authorized(request)) return error(401, "unauthorized", "a valid 'Authorization: Bearer <token>' is required");

  // A successor is taking the state over (handover.h): a change accepted now
  // could be missing from what it reads. Refused until it is done (this
  // process then exits) or has failed (this process takes changes again).
  if (!get && control_.handing_over()) {
    AdminResponse busy = error(503, "handover_in_progress",
                               "a new skewgate process is taking over; retry the change in a moment");
    busy.headers.emplace_back("retry-after", "1");
    return busy;
  }

  auto result = [](const ControlPlane::ApiResult& r) { return api_reply(r.status, r.body); };
  // Operations that probe a build answer later, through `reply`.
  auto later = [&respond]() {
    return [respond = std::move(respond)](ControlPlane::ApiResult r) { respond(api_reply(r.status, r.body)); };
  };
  auto wrong_method = [&]() { return error(405, "method_not_allowed", method + " is not allowed on " + request.path); };
  const std::size_t n = parts.size();

  if (n == 3 && parts[2] == "reload") {
    if (method != "POST") return wrong_method();
    control_.reload_api(later());
    return std::nullopt;
  }
  if (n == 3 && parts[2] == "config") return get ? reply(200, control_.config_json()) : wrong_method();
  if (n == 3 && parts[2] == "apps") return get ? result(control_.list_apps()) : wrong_method();
  if (n >= 4 && parts[2] == "apps") {
    const std::string& app = parts[3];
    if (n == 4) return get ? result(control_.describe_app(app)) : wrong_method();
    if (n == 5 && parts[4] == "rollback") return method == "POST" ? result(control_.rollback(app)) : wrong_method();
    if (n == 5 && parts[4] == "builds") {
      if (get) return result(control_.describe_app(app));
      if (method != "POST") return wrong_method();
      const json body = json::parse(request.body, nullptr, false);
      if (body.is_discarded()) return error(400, "invalid_body", "the body is not valid JSON");
      control_.register_build(app, body, later());
      return std::nullopt;
    }
    if (n == 7 && parts[4] == "builds") {
      if (method != "POST") return wrong_method();
      const std::string& id = parts[5];
      if (parts[6] == "promote") {
        // An empty body is {}: `verify` defaults to true.
        const json body = request.body.empty() ? json(nullptr) : json::parse(request.body, nullptr, false);
        if (body.is_discarded()) return error(400, "invalid_body", "the body is not valid JSON");
        control_.promote(app, id, body, later());
        return std::nullopt;
      }
      if (parts[6] == "retire") return result(control_.retire(app, id));
      if (parts[6] == "preview") return result(control_.preview(app, id));
    }
  }
  return error(404, "not_found", "no such endpoint: " + request.path);
}

}  // namespace sg::gateway
