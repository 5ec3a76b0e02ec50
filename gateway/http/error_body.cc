#include "gateway/http/error_body.h"

#include <nlohmann/json.hpp>

namespace sg::gateway {

std::string json_error_body(std::string_view code, std::string_view message) {
  return nlohmann::json{{"error", code}, {"message", message}}.dump(-1, ' ', false,
                                                                    nlohmann::json::error_handler_t::replace);
}

std::string upstream_error_body(std::string_view app, std::string_view build, std::string_view reason) {
  return nlohmann::json{{"error", "upstream_unavailable"}, {"app", app}, {"build", build}, {"reason", reason}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sg::gateway
