#include "gateway/http_parser.h"

#include <string>

namespace sg::gateway {
namespace {

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
    x.on_header_value_complete = on_header_value_complete_cb;
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
  return {400, "bad_request", reason ? reason : "malformed request"};
}

int HttpParser::fail(int status, std::string_view code, std::string_view detail) {
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

int HttpParser::on_message_begin_cb(llhttp_t* p) {
  HttpParser& s = self(p);
  s.in_message_ = true;
  s.head_complete_ = false;
  s.in_field_ = false;
  s.head_bytes_ = 0;
  s.body_bytes_ = 0;
  s.own_rejection_ = {0, {}, {}};
  // One allocation for a typical head (a browser sends 12-20 fields) instead
  // of a vector growing field by field.
  constexpr std::size_t kTypicalFields = 16;
  if (s.mode_ == Mode::request) {
    s.request_ = std::make_unique<RequestHead>();
    s.request_->headers.reserve(kTypicalFields);
  } else {
    s.response_ = std::make_unique<ResponseHead>();
    s.response_->headers.reserve(kTypicalFields);
  }
  return 0;
}

int HttpParser::on_url_cb(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = self(p);
  if (!s.request_) return 0;
  s.request_->target.append(at, n);
  if (s.limits_ && s.request_->target.size() > s.limits_->uri_bytes)
    return s.fail(414, "uri_too_long", "request target longer than limits.uri_bytes");
  if (!s.count_head_bytes(n)) return s.fail(431, "header_too_large", "request head larger than limits.header_bytes");
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
  if (!s.count_head_bytes(n + 4)) return s.fail(431, "header_too_large", "request head larger than limits.header_bytes");
  auto& fields = s.headers();
  if (!s.in_field_) {
    if (s.limits_ && fields.size() >= s.limits_->headers)
      return s.fail(431, "header_too_large", "more header fields than limits.headers");
    fields.emplace_back();
    s.in_field_ = true;
  }
  fields.back().name.append(at, n);
  return 0;
}

int HttpParser::on_header_value_cb(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = self(p);
  if (s.head_complete_) return 0;
  if (!s.count_head_bytes(n)) return s.fail(431, "header_too_large", "request head larger than limits.header_bytes");
  // llhttp hands an obs-fold continuation line (RFC 9112 section 5.2) to us
  // as a second piece of the same value that does not start where the first
  // ended: the CRLF lies between them. Refuse it rather than forward it.
  if (s.in_value_ && at != s.value_resume_) return s.fail(400, "bad_request", "obs-fold header line folding");
  s.in_value_ = true;
  s.value_resume_ = at + n;
  s.in_field_ = false;
  s.headers().back().value.append(at, n);
  return 0;
}

int HttpParser::on_header_value_complete_cb(llhttp_t* p) {
  HttpParser& s = self(p);
  s.in_value_ = false;
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
      return s.fail(413, "body_too_large", "Content-Length over limits.body_bytes");
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

int HttpParser::on_body_cb(llhttp_t* p, const char* at, std::size_t n) {
  HttpParser& s = self(p);
  s.body_bytes_ += n;
  if (s.limits_ && s.limits_->body_bytes && s.body_bytes_ > s.limits_->body_bytes)
    return s.fail(413, "body_too_large", "request body over limits.body_bytes");
  return s.listener_.on_body({at, n});
}

int HttpParser::on_message_complete_cb(llhttp_t* p) {
  HttpParser& s = self(p);
  s.in_message_ = false;
  return s.listener_.on_message_complete();
}

}  // namespace sg::gateway
