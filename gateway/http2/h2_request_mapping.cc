#include "gateway/http2/h2_request_mapping.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>

namespace sg::gateway {
namespace {

using metrics::Reason;
using routing::iequals;

// What an HTTP/1 head line would cost: name, ": ", value, CRLF (so the same
// limits.header_bytes means the same thing for both protocols).
constexpr std::uint64_t kFieldOverhead = 4;

bool visible(std::string_view text) {
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

// RFC 6455 section 4.1: 16 random bytes, base64. The build checks it is
// there; the client over h2 never sends one (RFC 8441 section 5).
std::string websocket_key() {
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return "AAAAAAAAAAAAAAAAAAAAAA==";
  unsigned char text[25];
  const int n = EVP_EncodeBlock(text, raw, sizeof raw);
  return std::string(reinterpret_cast<char*>(text), static_cast<std::size_t>(n));
}

}  // namespace

void H2RequestBuilder::refuse(int status, Reason code, std::string_view detail, bool reset) {
  if (!refusal_) refusal_ = H2Refusal{ParseRejection{status, code, detail}, reset};
}

RequestHead& H2RequestBuilder::head() {
  if (!head_) {
    head_ = pool_ ? pool_->request() : HeadPool::fresh<RequestHead>();
    // Host goes first, where an HTTP/1 client puts it.
    head_->headers.push_back({"host", {}});
  }
  return *head_;
}

bool H2RequestBuilder::add(std::string_view name, std::string_view value) {
  if (refusal_) return false;
  bytes_ += name.size() + value.size() + kFieldOverhead;
  if (bytes_ > limits_.header_bytes) {
    refuse(431, Reason::header_too_large, "header block larger than limits.header_bytes");
    return false;
  }
  if (!name.empty() && name.front() == ':') {
    if (name == ":method") {
      method_.assign(value);
    } else if (name == ":scheme") {
      scheme_.assign(value);
    } else if (name == ":authority") {
      authority_.assign(value);
    } else if (name == ":path") {
      if (value.size() > limits_.uri_bytes) {
        refuse(414, Reason::uri_too_long, ":path longer than limits.uri_bytes");
        return false;
      }
      path_.assign(value);
    } else if (name == ":protocol") {
      protocol_.assign(value);
    }
    return true;
  }
  if (++count_ > limits_.headers) {
    refuse(431, Reason::header_too_large, "more header fields than limits.headers");
    return false;
  }
  if (name == "host") {
    if (host_) {
      refuse(400, Reason::duplicate_host, "more than one host field", true);
      return false;
    }
    host_.emplace(value);
    return true;
  }
  if (name == "cookie") {
    // RFC 9113 section 8.2.3: crumbs are joined with "; " for HTTP/1.1.
    if (has_cookie_) cookie_.append("; ");
    cookie_.append(value);
    has_cookie_ = true;
    return true;
  }
  if (!routing_headers_.add(name, value)) {
    refuse(400, Reason::duplicate_routing_header, "routing header repeated or holding a list");
    return false;
  }
  head().headers.push_back({std::string(name), std::string(value)});
  return true;
}

std::unique_ptr<RequestHead> H2RequestBuilder::finish(bool end_stream) {
  if (refusal_) return nullptr;
  RequestHead& h = head();
  h.http_major = 2;
  h.http_minor = 0;

  if (method_ == "CONNECT") {
    // RFC 8441 section 4: :protocol names the protocol tunnelled; only
    // websocket is, as for HTTP/1 upgrades.
    if (!iequals(protocol_, "websocket")) {
      refuse(405, Reason::method_not_allowed, "CONNECT is not proxied (only RFC 8441 websocket)");
      return nullptr;
    }
    websocket_ = true;
    h.method = "GET";
    h.upgrade = true;
  } else {
    h.method = std::move(method_);
  }

  // RFC 9113 section 8.3.1: origin-form, or "*" for OPTIONS.
  const bool asterisk = path_ == "*" && h.method == "OPTIONS";
  if ((!asterisk && (path_.empty() || path_.front() != '/')) || !visible(path_)) {
    refuse(400, Reason::invalid_target, ":path is not origin-form (or * for OPTIONS)", true);
    return nullptr;
  }
  h.target = std::move(path_);

  // RFC 9113 section 8.3.1: :authority stands for Host; a Host that names
  // another authority would route one way here and another way upstream.
  if (!authority_.empty() && host_ && !iequals(*host_, authority_)) {
    refuse(400, Reason::authority_mismatch, "host differs from :authority", true);
    return nullptr;
  }
  std::string authority = !authority_.empty() ? std::move(authority_) : host_.value_or(std::string());
  if (authority.empty()) {
    refuse(400, Reason::missing_host, "request without :authority or host");
    return nullptr;
  }
  if (!routing::parse_authority(authority)) {
    refuse(400, Reason::invalid_host, ":authority is not a valid authority (host[:port])");
    return nullptr;
  }

  h.headers.front().value = std::move(authority);
  if (websocket_) {
    // A websocket's HTTP/1 handshake fields are ours to write.
    std::erase_if(h.headers, [](const HeaderField& field) {
      return field.name == "sec-websocket-key" || field.name == "content-length";
    });
  } else {
    for (const HeaderField& field : h.headers) {
      if (field.name != "content-length") continue;
      // nghttp2 checked it is one number and that the DATA frames agree.
      std::uint64_t length = 0;
      const char* first = field.value.data();
      const auto [end, ec] = std::from_chars(first, first + field.value.size(), length);
      if (ec == std::errc() && end == first + field.value.size()) h.content_length = length;
    }
  }
  if (has_cookie_) h.headers.push_back({"cookie", std::move(cookie_)});
  if (websocket_) {
    h.headers.push_back({"upgrade", "websocket"});
    h.headers.push_back({"sec-websocket-key", websocket_key()});
  }
  // A body of unknown length goes upstream chunked (HTTP/1.1 needs framing).
  h.chunked = !end_stream && !h.content_length && !websocket_;
  h.keep_alive = true;
  return std::move(head_);
}

}  // namespace sg::gateway
