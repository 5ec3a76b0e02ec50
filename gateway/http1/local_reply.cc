#include "gateway/http1/local_reply.h"

#include <nlohmann/json.hpp>

#include "gateway/http1/http_head.h"

namespace sg::gateway {

std::string render_reply(int status, const HeaderList& headers, std::string_view body, bool keep_alive,
                         bool head_only) {
  std::string out;
  out.reserve(128 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += reason_phrase(status);
  out += "\r\n";
  for (const auto& [name, value] : headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "content-length: ";
  out += std::to_string(body.size());
  out += "\r\n";
  if (!keep_alive) out += "connection: close\r\n";
  out += "\r\n";
  if (!head_only) out += body;
  return out;
}

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
