// Message heads as the proxy sees them, whatever protocol carried them:
// HTTP/1 parses into these (gateway/http1/http_parser.h) and writes them
// (gateway/http1/http_head.h); an HTTP/2 codec would fill the same types.
// Pure data: no sockets, no wire format here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/reason.h"
#include "routing/request_view.h"

namespace sg::gateway {

using routing::HeaderField;

// Headers of a response skewgate writes itself (local answers, errors).
using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct RequestHead {
  std::string method;
  std::string target;
  std::uint8_t http_major = 1;
  std::uint8_t http_minor = 1;
  std::vector<HeaderField> headers;
  // Framing as the parser understood it.
  bool chunked = false;
  std::optional<std::uint64_t> content_length;
  bool keep_alive = true;  // the client wants the connection kept
  bool upgrade = false;    // Connection: upgrade + Upgrade: <proto>

  routing::RequestView view() const { return {method, target, headers}; }
  bool has_body() const { return chunked || (content_length && *content_length > 0); }
};

// Why a request was refused: the HTTP status and a catalogue code (metrics/reason.h)
// that reaches the response, the access log and the metrics.
struct ParseRejection {
  int status = 400;
  metrics::Reason code = metrics::Reason::bad_request;
  std::string_view detail;  // llhttp's reason, or ours
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  std::uint8_t http_major = 1;
  std::uint8_t http_minor = 1;
  std::vector<HeaderField> headers;
  bool chunked = false;
  std::optional<std::uint64_t> content_length;
  bool keep_alive = true;  // the upstream will keep the connection
};

}  // namespace sg::gateway
