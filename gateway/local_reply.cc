#include "gateway/local_reply.h"

#include <nlohmann/json.hpp>

namespace sg::gateway {

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

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

std::string json_error_body(std::string_view code, std::string_view message) {
  return nlohmann::json{{"error", code}, {"message", message}}.dump(-1, ' ', false,
                                                                    nlohmann::json::error_handler_t::replace);
}

std::string upstream_error_body(std::string_view app, std::string_view build, std::string_view reason) {
  return nlohmann::json{{"error", "upstream_unavailable"}, {"app", app}, {"build", build}, {"reason", reason}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace sg::gateway
