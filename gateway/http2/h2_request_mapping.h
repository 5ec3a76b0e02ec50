// How one HTTP/2 request's header block becomes the protocol-neutral
// RequestHead the exchange routes (RFC 9113 section 8.3), so that routing,
// skew decisions, pins and the upstream read exactly what an HTTP/1 client
// would have sent. Pure: no sockets, no nghttp2 here.
//
// nghttp2 has already refused (stream error PROTOCOL_ERROR) what RFC 9113
// section 8 calls malformed at its level: upper-case names, pseudo-headers
// out of order, repeated or unknown, connection-specific fields (section
// 8.2.2: connection, keep-alive, proxy-connection, transfer-encoding,
// upgrade), `te` other than "trailers", a content-length the DATA frames
// contradict. Here, on top:
//   :authority becomes Host; a `host` field that differs from it is a stream
//     error (authority_mismatch); without either: 400 missing_host;
//   :path must be origin-form ("*" only for OPTIONS), visible bytes only:
//     otherwise a stream error (invalid_target);
//   Cookie crumbs (section 8.2.3) are joined with "; " into one field before
//     the pin cookie is parsed;
//   routing headers once each (duplicate_routing_header, as HTTP/1);
//   the limits of HTTP/1: limits.header_bytes and limits.headers (431),
//     limits.uri_bytes (414), decoded bytes counted as they arrive so an
//     HPACK bomb stops at the limit;
//   CONNECT is refused (405) except RFC 8441's extended CONNECT for
//     websocket, which becomes the HTTP/1.1 upgrade the build understands:
//     GET, Upgrade: websocket, and a fresh Sec-WebSocket-Key (the build
//     answers 101, the stream answers 200).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "gateway/http/head_pool.h"
#include "gateway/http/http_head.h"
#include "gateway/http/routing_headers.h"

namespace sg::gateway {

// Why a request is refused: answered with `rejection.status`, or, when
// `reset`, a stream error (RST_STREAM PROTOCOL_ERROR: the request is
// malformed, RFC 9113 section 8.1.1).
struct H2Refusal {
  ParseRejection rejection;
  bool reset = false;
};

class H2RequestBuilder {
 public:
  // Heads come from `pool` (the loop's, head_pool.h) when there is one: the
  // fields are decoded straight into the head the exchange will route.
  explicit H2RequestBuilder(const conf::Limits& limits, HeadPool* pool = nullptr) : limits_(limits), pool_(pool) {}

  // One decoded field, in the order nghttp2 hands them (pseudo-headers
  // first). False once the block is past a limit: the rest is not kept.
  bool add(std::string_view name, std::string_view value);
  bool refused() const { return refusal_.has_value(); }

  // The head, or why not. `end_stream`: the HEADERS frame ended the stream
  // (no body follows).
  std::unique_ptr<RequestHead> finish(bool end_stream);
  const std::optional<H2Refusal>& refusal() const { return refusal_; }
  // RFC 8441: the stream carries a WebSocket once the build agrees.
  bool websocket() const { return websocket_; }

 private:
  void refuse(int status, metrics::Reason code, std::string_view detail, bool reset = false);
  // The head being built; its first field is Host's place, filled by finish().
  RequestHead& head();

  const conf::Limits limits_;  // copied: a reload may free the snapshot's
  std::string method_;
  std::string scheme_;
  std::string authority_;
  std::string path_;
  std::string protocol_;
  std::optional<std::string> host_;
  std::string cookie_;
  bool has_cookie_ = false;
  HeadPool* pool_;
  std::unique_ptr<RequestHead> head_;
  std::uint64_t bytes_ = 0;
  std::uint64_t count_ = 0;
  RoutingHeaderCheck routing_headers_;
  std::optional<H2Refusal> refusal_;
  bool websocket_ = false;
};

}  // namespace sg::gateway
