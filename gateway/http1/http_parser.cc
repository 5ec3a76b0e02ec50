// The request parser: llhttp in strict mode (cmake/llhttp.cmake) plus our
// own checks. What it refuses, and why (design.md section 9: never forward a
// message that two parsers could read differently). Every refusal is answered
// at once and closes the connection; the code is the JSON body's "error", the
// access log's detail and, for codes outside metrics::kRejectLabels, the
// metric label bad_request (the label set stays fixed). Codes are
// metrics::Reason values (metrics/reason.h).
//
// By llhttp (strict), at the offending byte:
// - bare LF or bare CR as a line end, NUL or another control byte in a header
//   value, Content-Length with Transfer-Encoding, two Content-Lengths,
//   Transfer-Encoding whose last coding is not chunked, a bad method or
//   version (400 bad_request);
// - a control byte, space, CR or LF in the target; llhttp reads a LF there as
//   the end of an HTTP/0.9 request line and fails on the rest as a header,
//   which we recognise as no version having been seen (400 invalid_target);
// - a byte that is no token character in a header name, whitespace before
//   the colon included (RFC 9112 section 5.1) (400 invalid_header_name);
// - a chunk size that overflows 64 bits (400 chunk_size_overflow, at the
//   digit, never after waiting for a body) or holds a non-hex byte (400
//   invalid_chunk_size).
// By us, while parsing:
// - obs-fold (RFC 9112 section 5.2 lets a server refuse it; a proxy that
//   unfolds it and one that does not disagree) (400 bad_request);
// - a target over limits.uri_bytes (414 uri_too_long); a head over
//   limits.header_bytes or with more fields than limits.headers (431
//   header_too_large); a Content-Length, one chunk's size or the body read so
//   far over limits.body_bytes (413 body_too_large: at the head or the chunk
//   header, before that body is read).
// By us, once the head is complete (gateway/request_checks.h has the details
// and the rewrites): a request line without a version (400 invalid_version);
// HTTP/2.0 or later as text (505 http_version_not_supported); CONNECT (405
// method_not_allowed); a target that is not origin-form, http(s)
// absolute-form with a valid authority, or OPTIONS * (400 invalid_target); an
// empty header name (400 invalid_header_name); Host missing on HTTP/1.1 (400
// missing_host), repeated (400 duplicate_host) or not a plain host[:port]
// (400 invalid_host); Connection naming host, content-length or
// transfer-encoding (400 invalid_connection_header); a routing header
// repeated or holding a list (400 duplicate_routing_header).
#include "gateway/http1/http_parser.h"

#include <string>

#include "gateway/http1/request_checks.h"

namespace sg::gateway {
namespace {

using metrics::Reason;

HttpParser& self(llhttp_t* p) { return *static_cast<HttpParser*>(p->data); }

std::string_view trim_trailing(std::string_view v) {
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

const llhttp_settings_t* HttpParser::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t x;
    llhttp_settings_init(&x);
    x.on_message_begin = on_message_begin_cb;
    x.on_url = on_url_cb;
    x.on_status = on_status_cb;
    x.on_header_field = on_header_field_cb;
    x.on_header_value = on_header_value_cb;
    x.on_version_complete = on_version_complete_cb;
    x.on_header_field_complete = on_header_field_complete_cb;
    x.on_header_value_complete = on_header_value_complete_cb;
    x.on_chunk_header = on_chunk_header_cb;
    x.on_headers_complete = on_headers_complete_cb;
    x.on_body = on_body_cb;
    x.on_message_complete = on_message_complete_cb;
    return x;
  }();
  return &s;
}

HttpParser::HttpParser(Mode mode, HttpParserListener& listener) : listener_(listener), mode_(mode) {
  llhttp_init(&parser_, mode == Mode::request ? HTTP_REQUEST : HTTP_RESPONSE, settings());
  parser_.data = this;
}

HttpParser::Result HttpParser::execute(std::string_view data) {
  // A header value split exactly at the end of the last read goes on at the
  // start of this one (see on_header_value_cb).
  if (in_value_ && value_resume_ == buffer_end_) value_resume_ = data.data();
  buffer_end_ = data.data() + data.size();
  const llhttp_errno_t error = llhttp_execute(&parser_, data.data(), data.size());
  Result result{error, data.size()};
  if (error != HPE_OK) {
    const char* pos = llhttp_get_error_pos(&parser_);
    if (pos >= data.data() && pos <= data.data() + data.size()) result.consumed = pos - data.data();
  }
  return result;
}

ParseRejection HttpParser::rejection() const {
  if (own_rejection_.status != 0) return own_rejection_;
  const char* reason = llhttp_get_error_reason(&parser_);
  const std::string_view detail = reason ? reason : "malformed request";
  switch (llhttp_get_errno(&parser_)) {
    case HPE_INVALID_URL: return {400, Reason::invalid_target, detail};
    case HPE_INVALID_HEADER_TOKEN:
      // One errno for a bad byte in a name and in a value: where we are tells.
      // Before any HTTP version, llhttp took a LF inside the target for the
      // end of an HTTP/0.9 request line and the rest of it for a header.
      if (mode_ == Mode::request && !version_seen_)
        return {400, Reason::invalid_target, "CR or LF in the request target"};
      if (mode_ == Mode::request && reading_name_) return {400, Reason::invalid_header_name, detail};
      break;
    case HPE_INVALID_CHUNK_SIZE:
      // One errno for both; llhttp's reason text (a constant of its generated
      // parser) tells an overflow of 64 bits from a byte that is no hex digit.
      return {400, detail == "Chunk size overflow" ? Reason::chunk_size_overflow : Reason::invalid_chunk_size, detail};
    default: break;
  }
  return {400, Reason::bad_request, detail};
}

int HttpParser::fail(int status, metrics::Reason code, std::string_view detail) {
  own_rejection_ = {status, code, detail};
  llhttp_set_error_reason(&parser_, "rejected");
  return HPE_USER;
}

std::vector<HeaderField>& HttpParser::headers() {
  return mode_ == Mode::request ? request_->headers : response_->headers;
}

bool HttpParser::count_head_bytes(std::size_t n) {
  head_bytes_ += static_cast<std::uint32_t>(n);
  return !(limits_ && head_bytes_ > limits_->header_bytes);
}

// A head never taken (the message was refused) goes back to the pool first.
template <typename Head>
void HttpParser::next_head(std::unique_ptr<Head>& head) {
  if (pool_ == nullptr) {
    head = HeadPool::fresh<Head>();
    return;
  }
  pool_->give(std::move(head));
  head = pool_->take<Head>();
}

int HttpParser::on_message_begin_cb(llhttp_t* p) {
  HttpParser& s = self(p);
  s.in_message_ = true;
  s.head_complete_ = false;
  s.in_field_ = false;
  s.reading_name_ = true;
  s.version_seen_ = false;
  s.head_bytes_ = 0;
  s.body_bytes_ = 0;
  s.own_rejection_ = {0, {}, {}};
  if (s.mode_ == Mode::request) {
    s.next_head(s.request_);
  } else {
    s.next_head(s.response_);
  }
  return 0;
}

int HttpParser::on_url_cb(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = self(p);
  if (!s.request_) return 0;
  s.request_->target.append(at, n);
  if (s.limits_ && s.request_->target.size() > s.limits_->uri_bytes)
    return s.fail(414, Reason::uri_too_long, "request target longer than limits.uri_bytes");
  if (!s.count_head_bytes(n))
    return s.fail(431, Reason::header_too_large, "request head larger than limits.header_bytes");
  return 0;
}

int HttpParser::on_status_cb(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = self(p);
  if (s.response_) s.response_->reason.append(at, n);
  return 0;
}

int HttpParser::on_header_field_cb(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = self(p);
  if (s.head_complete_) return 0;  // trailers are dropped: the body is re-framed
  if (!s.count_head_bytes(n + 4))
    return s.fail(431, Reason::header_too_large, "request head larger than limits.header_bytes");
  auto& fields = s.headers();
  if (!s.in_field_) {
    if (s.limits_ && fields.size() >= s.limits_->headers)
      return s.fail(431, Reason::header_too_large, "more header fields than limits.headers");
    fields.emplace_back();
    s.in_field_ = true;
  }
  fields.back().name.append(at, n);
  return 0;
}

int HttpParser::on_header_value_cb(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = self(p);
  if (s.head_complete_) return 0;
  if (!s.count_head_bytes(n))
    return s.fail(431, Reason::header_too_large, "request head larger than limits.header_bytes");
  // llhttp hands an obs-fold continuation line (RFC 9112 section 5.2) to us
  // as a second piece of the same value that does not start where the first
  // ended: the CRLF lies between them. Refuse it rather than forward it.
  if (s.in_value_ && at != s.value_resume_) return s.fail(400, Reason::bad_request, "obs-fold header line folding");
  s.in_value_ = true;
  s.value_resume_ = at + n;
  s.in_field_ = false;
  s.headers().back().value.append(at, n);
  return 0;
}

int HttpParser::on_version_complete_cb(llhttp_t* p) {
  self(p).version_seen_ = true;
  return 0;
}

int HttpParser::on_header_field_complete_cb(llhttp_t* p) {
  self(p).reading_name_ = false;
  return 0;
}

int HttpParser::on_header_value_complete_cb(llhttp_t* p) {
  HttpParser& s = self(p);
  s.in_value_ = false;
  s.reading_name_ = true;
  if (s.head_complete_) return 0;
  s.in_field_ = false;
  auto& fields = s.headers();
  if (fields.empty()) return 0;
  std::string& value = fields.back().value;
  value.resize(trim_trailing(value).size());
  return 0;
}

int HttpParser::on_headers_complete_cb(llhttp_t* p) {
  HttpParser& s = self(p);
  s.head_complete_ = true;
  const bool chunked = (p->flags & F_CHUNKED) != 0;
  const bool has_length = (p->flags & F_CONTENT_LENGTH) != 0;
  if (s.mode_ == Mode::request) {
    RequestHead& h = *s.request_;
    h.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
    h.http_major = p->http_major;
    h.http_minor = p->http_minor;
    h.chunked = chunked;
    if (has_length) h.content_length = p->content_length;
    h.keep_alive = llhttp_should_keep_alive(p) != 0;
    h.upgrade = p->upgrade != 0;
    if (s.limits_ && s.limits_->body_bytes && has_length && p->content_length > s.limits_->body_bytes)
      return s.fail(413, Reason::body_too_large, "Content-Length over limits.body_bytes");
    if (s.request_checks_) {
      if (const std::optional<ParseRejection> refused = vet_request_head(h))
        return s.fail(refused->status, refused->code, refused->detail);
      // llhttp decides from this field whether the message ends in a protocol
      // switch; only a websocket upgrade may (an h2c one is plain HTTP now).
      p->upgrade = h.upgrade ? 1 : 0;
    }
  } else {
    ResponseHead& h = *s.response_;
    h.status = p->status_code;
    h.http_major = p->http_major;
    h.http_minor = p->http_minor;
    h.chunked = chunked;
    if (has_length) h.content_length = p->content_length;
    h.keep_alive = llhttp_should_keep_alive(p) != 0;
  }
  const int decision = s.listener_.on_head_complete();
  if (decision == 0 && s.mode_ == Mode::response && s.no_body_) return 1;
  return decision;
}

// A chunk's size is known before its data: one over what limits.body_bytes
// still allows is refused now rather than after reading up to the limit.
int HttpParser::on_chunk_header_cb(llhttp_t* p) {
  HttpParser& s = self(p);
  if (s.mode_ != Mode::request || !s.limits_ || !s.limits_->body_bytes) return 0;
  const std::uint64_t allowed = s.limits_->body_bytes > s.body_bytes_ ? s.limits_->body_bytes - s.body_bytes_ : 0;
  if (p->content_length > allowed) return s.fail(413, Reason::body_too_large, "chunk size over limits.body_bytes");
  return 0;
}

int HttpParser::on_body_cb(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = self(p);
  s.body_bytes_ += n;
  if (s.limits_ && s.limits_->body_bytes && s.body_bytes_ > s.limits_->body_bytes)
    return s.fail(413, Reason::body_too_large, "request body over limits.body_bytes");
  return s.listener_.on_body({at, n});
}

int HttpParser::on_message_complete_cb(llhttp_t* p) {
  HttpParser& s = self(p);
  s.in_message_ = false;
  return s.listener_.on_message_complete();
}

}  // namespace sg::gateway
