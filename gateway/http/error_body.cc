#include "gateway/http/error_body.h"

#include <nlohmann/json.hpp>

namespace sg::gateway {

std::string json_error_body(metrics::Reason code, std::string_view message) {
  return nlohmann::json{{"error", metrics::to_string(code)}, {"message", message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string upstream_error_body(std::string_view app, std::string_view build, metrics::Reason reason) {
  return nlohmann::json{{"error", metrics::to_string(metrics::Reason::upstream_unavailable)},
                        {"app", app},
                        {"build", build},
                        {"reason", metrics::to_string(reason)}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sg::gateway
