// Issue 19: the loop's pool of message heads (gateway/http/head_pool.h) and
// the HTTP/1 parser drawing from it. A head given back comes out with every
// member at its default and its field list's storage kept; the pool is
// bounded; a parser with a pool parses the next message into a kept head.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>

#include "gateway/http/head_pool.h"
#include "gateway/http1/http_parser.h"

using sg::gateway::HeadPool;
using sg::gateway::HttpParser;
using sg::gateway::HttpParserListener;
using sg::gateway::RequestHead;
using sg::gateway::ResponseHead;

TEST_CASE("head pool: a head given back is reused, reset, with its field storage") {
  HeadPool pool;
  std::unique_ptr<RequestHead> head = pool.request();
  CHECK(head->headers.capacity() >= HeadPool::kTypicalFields);
  head->method = "POST";
  head->target = "/a-target-longer-than-the-small-string-buffer";
  head->http_minor = 0;
  head->headers.push_back({"x-a-rather-long-header-name", "and a value longer than fifteen"});
  head->chunked = true;
  head->content_length = 7;
  head->keep_alive = false;
  head->upgrade = true;
  const RequestHead* address = head.get();
  const auto* storage = head->headers.data();
  pool.give(std::move(head));
  CHECK(pool.kept() == 1);

  std::unique_ptr<RequestHead> again = pool.request();
  CHECK(again.get() == address);
  CHECK(pool.kept() == 0);
  CHECK(again->method.empty());
  CHECK(again->target.empty());
  CHECK(again->http_major == 1);
  CHECK(again->http_minor == 1);
  CHECK(again->headers.empty());
  CHECK(again->headers.data() == storage);  // no allocation for the next head's fields
  CHECK(!again->chunked);
  CHECK(!again->content_length);
  CHECK(again->keep_alive);
  CHECK(!again->upgrade);

  std::unique_ptr<ResponseHead> response = pool.response();
  response->status = 503;
  response->reason = "Service Unavailable";
  response->headers.push_back({"retry-after", "5"});
  response->keep_alive = false;
  pool.give(std::move(response));
  response = pool.response();
  CHECK(response->status == 0);
  CHECK(response->reason.empty());
  CHECK(response->headers.empty());
  CHECK(response->keep_alive);
}

TEST_CASE("head pool: bounded in count and in field storage; shed frees all; null is nothing") {
  HeadPool pool;
  pool.give(std::unique_ptr<RequestHead>());
  pool.give(std::unique_ptr<ResponseHead>());
  CHECK(pool.kept() == 0);

  auto big = std::make_unique<RequestHead>();
  big->headers.resize(HeadPool::kMaxFields + 1);
  pool.give(std::move(big));
  CHECK(pool.kept() == 0);  // a head that grew past kMaxFields is freed

  for (std::size_t i = 0; i < HeadPool::kMaxKept + 5; ++i) pool.give(std::make_unique<RequestHead>());
  CHECK(pool.kept() == HeadPool::kMaxKept);
  for (std::size_t i = 0; i < 3; ++i) pool.give(std::make_unique<ResponseHead>());
  CHECK(pool.kept() == HeadPool::kMaxKept + 3);
  pool.shed();
  CHECK(pool.kept() == 0);
  CHECK(pool.request() != nullptr);  // empty: a fresh head
}

namespace {

struct Heads : HttpParserListener {
  int heads = 0;
  int on_head_complete() override {
    ++heads;
    return 0;
  }
  int on_body(std::string_view) override { return 0; }
  int on_message_complete() override { return 0; }
};

}  // namespace

TEST_CASE("head pool: a parser with a pool parses each message into a kept head, from its defaults") {
  HeadPool pool;
  Heads listener;
  HttpParser parser(HttpParser::Mode::request, listener);
  parser.set_head_pool(&pool);

  const std::string first = "POST /first HTTP/1.0\r\nHost: a\r\nContent-Length: 0\r\nX-Long: 0123456789abcdefghij\r\n\r\n";
  CHECK(parser.execute(first).error == llhttp_errno_t::HPE_OK);
  std::unique_ptr<RequestHead> head = parser.take_request();
  REQUIRE(head);
  CHECK(head->method == "POST");
  CHECK(head->http_minor == 0);
  CHECK(!head->keep_alive);
  CHECK(head->headers.size() == 3);
  const RequestHead* address = head.get();
  pool.give(std::move(head));

  // A new parser (the next connection) on the same pool.
  HttpParser next(HttpParser::Mode::request, listener);
  next.set_head_pool(&pool);
  CHECK(next.execute("GET /second HTTP/1.1\r\nHost: b\r\n\r\n").error == llhttp_errno_t::HPE_OK);
  head = next.take_request();
  REQUIRE(head);
  CHECK(head.get() == address);
  CHECK(head->method == "GET");
  CHECK(head->target == "/second");
  CHECK(head->http_minor == 1);
  CHECK(head->keep_alive);
  CHECK(!head->content_length);
  REQUIRE(head->headers.size() == 1);
  CHECK(head->headers[0].name == "Host");
  CHECK(head->headers[0].value == "b");
  CHECK(listener.heads == 2);
}
