#include "gateway/cli/response_reader.h"

#include <algorithm>

#include "gateway/http1/http_parser.h"

namespace sg::gateway::cli {
namespace {

// The parser counts header names and values against header_bytes and the
// fields against headers (the request target limit does not apply to a
// response); the body is counted by the reader.
const conf::Limits kResponseHeadLimits{kMaxHeadBytes, kMaxHeaderFields, kMaxHeadBytes, 0};

// Until the final head is complete the parser gets at most this much at a
// time, so the bytes it has seen of heads (status lines and interim
// responses included, which it does not count) overshoot kMaxHeadBytes by
// less than one slice before the reader stops.
constexpr std::size_t kHeadSlice = 4 * 1024;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

class ResponseReader::Impl final : private HttpParserListener {
 public:
  Impl() : parser_(HttpParser::Mode::response, *this) {
    parser_.set_limits(&kResponseHeadLimits);
    parser_.let_chunked_override_length();
  }

  ParseStatus feed(std::string_view bytes) {
    while (status_ == ParseStatus::incomplete && !bytes.empty()) {
      const std::size_t n = final_head_ ? bytes.size() : std::min(bytes.size(), kHeadSlice);
      execute(bytes.substr(0, n));
      bytes.remove_prefix(n);
      if (status_ == ParseStatus::incomplete && !final_head_) {
        head_bytes_ += n;
        if (head_bytes_ > kMaxHeadBytes) fail(head_too_large());
      }
    }
    return status_;
  }

  ParseStatus finish() {
    if (status_ != ParseStatus::incomplete) return status_;
    // Completes a body delimited by the close (on_message_complete runs);
    // anything else unfinished is an error or a plain "not complete".
    parser_.finish();
    if (complete_) return status_ = ParseStatus::complete;
    return fail(final_head_ ? "connection closed before the end of the response body"
                            : "connection closed before the end of the response head");
  }

  HttpResponse& response() { return response_; }
  const std::string& error() const { return error_; }

 private:
  static std::string head_too_large() {
    return "response head too large (over " + std::to_string(kMaxHeadBytes / 1024) + " KiB or " +
           std::to_string(kMaxHeaderFields) + " fields)";
  }

  ParseStatus fail(std::string error) {
    error_ = std::move(error);
    return status_ = ParseStatus::invalid;
  }

  void execute(std::string_view bytes) {
    const HttpParser::Result r = parser_.execute(bytes);
    // on_message_complete pauses the parser: what follows the response is
    // not read.
    if (complete_) {
      status_ = ParseStatus::complete;
      return;
    }
    if (r.error == HPE_OK) return;
    if (!own_error_.empty()) {
      fail(own_error_);
      return;
    }
    const ParseRejection rejection = parser_.rejection();
    if (rejection.code == metrics::Reason::header_too_large) {
      fail(head_too_large());
      return;
    }
    fail("malformed response (" + std::string(rejection.detail) + ")");
  }

  int on_head_complete() override {
    const std::unique_ptr<ResponseHead> head = parser_.take_response();
    if (!head) return -1;
    if (head->status < 100) {
      own_error_ = "invalid status code " + std::to_string(head->status);
      return -1;
    }
    // Interim responses (100 Continue, 103 Early Hints) precede the final
    // one; a 101 is final (the CLI never asks for an upgrade).
    if (head->status < 200 && head->status != 101) return 0;
    if (head->content_length && *head->content_length > kMaxBodyBytes) {
      own_error_ = "response body too large";
      return -1;
    }
    final_head_ = true;
    response_.status = head->status;
    response_.reason = head->reason;
    for (const HeaderField& field : head->headers) {
      auto [it, inserted] = response_.headers.emplace(lower(field.name), field.value);
      if (!inserted) it->second += ", " + field.value;
    }
    return 0;
  }

  int on_body(std::string_view data) override {
    if (!final_head_) return 0;
    if (data.size() > kMaxBodyBytes - response_.body.size()) {
      own_error_ = "response body too large";
      return -1;
    }
    response_.body.append(data);
    return 0;
  }

  int on_message_complete() override {
    if (!final_head_) return 0;  // the end of an interim response: the next one follows
    complete_ = true;
    return HPE_PAUSED;
  }

  HttpParser parser_;
  HttpResponse response_;
  ParseStatus status_ = ParseStatus::incomplete;
  std::string error_;
  std::string own_error_;  // set by a callback that stopped the parser
  std::size_t head_bytes_ = 0;  // fed before the final head was complete
  bool final_head_ = false;
  bool complete_ = false;
};

ResponseReader::ResponseReader() : impl_(std::make_unique<Impl>()) {}
ResponseReader::~ResponseReader() = default;
ParseStatus ResponseReader::feed(std::string_view bytes) { return impl_->feed(bytes); }
ParseStatus ResponseReader::finish() { return impl_->finish(); }
HttpResponse& ResponseReader::response() { return impl_->response(); }
const std::string& ResponseReader::error() const { return impl_->error(); }

ParseStatus parse_http_response(std::string_view raw, bool at_eof, HttpResponse& response, std::string& error) {
  ResponseReader reader;
  ParseStatus status = reader.feed(raw);
  if (status == ParseStatus::incomplete && at_eof) status = reader.finish();
  response = std::move(reader.response());
  if (status == ParseStatus::invalid) error = reader.error();
  return status;
}

}  // namespace sg::gateway::cli
