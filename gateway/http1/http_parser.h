// llhttp glue for both directions. As in Node's glue, the callbacks only
// append to the head being built and enforce limits; every decision is taken
// by the listener after the head is complete.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "conf/config.h"
#include "gateway/http/head_pool.h"
#include "gateway/http1/http_head.h"

namespace sg::gateway {

class HttpParserListener {
 public:
  // Return values as llhttp's on_headers_complete: 0 proceed, 1 no body,
  // 2 no body and pause for an upgrade, -1 error.
  virtual int on_head_complete() = 0;
  virtual int on_body(std::string_view data) = 0;
  // Return 0 to go on with the next pipelined message, or HPE_PAUSED to stop.
  virtual int on_message_complete() = 0;

 protected:
  ~HttpParserListener() = default;
};

class HttpParser {
 public:
  enum class Mode { request, response };

  HttpParser(Mode mode, HttpParserListener& listener);
  HttpParser(const HttpParser&) = delete;
  HttpParser& operator=(const HttpParser&) = delete;

  // Requests only: limits are checked while parsing (431/414/413).
  // Copied: the parser outlives the snapshot the limits came from (a
  // keep-alive connection keeps parsing after its exchange released its
  // snapshot lease, and across reloads; ASan saw a read of a freed snapshot
  // in on_url_cb).
  void set_limits(const conf::Limits* limits) {
    if (limits) limits_storage_ = *limits;
    limits_ = limits ? &limits_storage_ : nullptr;
  }
  // Requests only: run vet_request_head (gateway/request_checks.h) on every
  // head before the listener sees it. The downstream side turns it on.
  void set_request_checks(bool on) { request_checks_ = on; }
  // Heads come from `pool` (the loop's, head_pool.h) instead of the heap; the
  // taker gives them back. Null: a new head per message.
  void set_head_pool(HeadPool* pool) { pool_ = pool; }
  // Responses only: the request was HEAD, so a response has no body.
  void expect_no_body(bool no_body) { no_body_ = no_body; }
  // Responses only: Transfer-Encoding overrides Content-Length when both
  // come (RFC 9112 section 6.3) instead of failing the message. For a
  // client that reads one answer and forwards nothing (the CLI); the proxy
  // keeps refusing the pair, which could frame a message two ways.
  void let_chunked_override_length() { llhttp_set_lenient_chunked_length(&parser_, 1); }

  struct Result {
    llhttp_errno_t error = HPE_OK;
    std::size_t consumed = 0;  // bytes of `data` used; the rest waits (pause) or is tunnel data (upgrade)
  };
  Result execute(std::string_view data);
  // Resumes after HPE_PAUSED.
  void resume() { llhttp_resume(&parser_); }
  // Resumes a response paused by on_head_complete: what follows is its body,
  // unless it has none (expect_no_body: a HEAD request's), as it would have
  // been had on_head_complete not paused (llhttp reads F_SKIPBODY next).
  void resume_after_head() {
    if (no_body_) parser_.flags |= F_SKIPBODY;
    llhttp_resume(&parser_);
  }
  // After an Upgrade the upstream declined: the connection stays HTTP/1.1
  // (RFC 9110 section 7.8), so what follows is parsed as the next request.
  void resume_after_upgrade() { llhttp_resume_after_upgrade(&parser_); }
  // Read EOF: completes a response delimited by close. Returns HPE_OK or an error.
  llhttp_errno_t finish() { return llhttp_finish(&parser_); }

  ParseRejection rejection() const;

  // The head built by the last on_head_complete, owned by the caller after take.
  std::unique_ptr<RequestHead> take_request() { return std::move(request_); }
  std::unique_ptr<ResponseHead> take_response() { return std::move(response_); }
  bool in_message() const { return in_message_; }
  bool head_complete() const { return head_complete_; }

 private:
  static int on_message_begin_cb(llhttp_t* p);
  static int on_url_cb(llhttp_t* p, const char* at, std::size_t n);
  static int on_status_cb(llhttp_t* p, const char* at, std::size_t n);
  static int on_header_field_cb(llhttp_t* p, const char* at, std::size_t n);
  static int on_header_value_cb(llhttp_t* p, const char* at, std::size_t n);
  static int on_version_complete_cb(llhttp_t* p);
  static int on_header_field_complete_cb(llhttp_t* p);
  static int on_header_value_complete_cb(llhttp_t* p);
  static int on_chunk_header_cb(llhttp_t* p);
  static int on_headers_complete_cb(llhttp_t* p);
  static int on_body_cb(llhttp_t* p, const char* at, std::size_t n);
  static int on_message_complete_cb(llhttp_t* p);
  static const llhttp_settings_t* settings();

  int fail(int status, metrics::Reason code, std::string_view detail);
  bool count_head_bytes(std::size_t n);
  // The head the next message is parsed into (pool_'s, or a new one).
  template <typename Head>
  void next_head(std::unique_ptr<Head>& head);
  std::vector<HeaderField>& headers();

  llhttp_t parser_;
  HttpParserListener& listener_;
  conf::Limits limits_storage_;
  const conf::Limits* limits_ = nullptr;  // &limits_storage_ once set
  Mode mode_;
  bool no_body_ = false;
  bool request_checks_ = false;
  bool version_seen_ = false;  // the start line had an HTTP version (llhttp also takes HTTP/0.9 lines)
  bool reading_name_ = true;  // between a value's end (or the start line) and the next name's end
  bool in_message_ = false;
  bool head_complete_ = false;
  bool in_field_ = false;  // the last header callback was a field-name one
  bool in_value_ = false;  // inside a header value, until its completion
  const char* value_resume_ = nullptr;  // where the current value's next piece must start
  const char* buffer_end_ = nullptr;    // end of the buffer of the last execute()
  std::uint32_t head_bytes_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::unique_ptr<RequestHead> request_;
  std::unique_ptr<ResponseHead> response_;
  HeadPool* pool_ = nullptr;
  ParseRejection own_rejection_{0, {}, {}};  // status 0: not ours
};

}  // namespace sg::gateway
