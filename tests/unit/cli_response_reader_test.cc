// The CLI's response reading over the gateway's HTTP/1 parser, fed as the
// socket would deliver it: in pieces, too much, too little, or not HTTP.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "gateway/cli/response_reader.h"

using namespace sg::gateway::cli;

namespace {

// Feeds `raw` `step` bytes at a time; the status after the last piece.
ParseStatus feed_in_steps(ResponseReader& reader, std::string_view raw, std::size_t step) {
  ParseStatus status = ParseStatus::incomplete;
  for (std::size_t at = 0; at < raw.size(); at += step) status = reader.feed(raw.substr(at, step));
  return status;
}

}  // namespace

TEST_CASE("cli reader: a chunked answer fed one byte at a time") {
  const std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\n{\"a\"\r\n6;x=y\r\n:true}\r\n0\r\n\r\nHTTP/1.1 500 Next\r\n\r\n";
  const std::size_t end = raw.find("HTTP/1.1 500");
  ResponseReader reader;
  for (std::size_t i = 0; i < end; ++i) {
    CAPTURE(i);
    const ParseStatus status = reader.feed(std::string_view(raw).substr(i, 1));
    CHECK(status == (i + 1 == end ? ParseStatus::complete : ParseStatus::incomplete));
  }
  // What follows the response is never read.
  CHECK(reader.feed(std::string_view(raw).substr(end)) == ParseStatus::complete);
  CHECK(reader.finish() == ParseStatus::complete);
  CHECK(reader.response().status == 200);
  CHECK(reader.response().headers.at("content-type") == "application/json");
  CHECK(reader.response().body == "{\"a\":true}");
}

TEST_CASE("cli reader: a Content-Length body split across reads of every size") {
  std::string body(40000, 'x');
  body.front() = '{';
  body.back() = '}';
  const std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (std::size_t step : {1u, 7u, 4096u, 16384u, 100000u}) {
    CAPTURE(step);
    ResponseReader reader;
    CHECK(feed_in_steps(reader, raw, step) == ParseStatus::complete);
    CHECK(reader.response().body == body);
  }
}

TEST_CASE("cli reader: no Content-Length: the body runs to the close") {
  ResponseReader reader;
  CHECK(reader.feed("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"x\"") == ParseStatus::incomplete);
  CHECK(reader.feed(":1}") == ParseStatus::incomplete);
  CHECK(reader.finish() == ParseStatus::complete);
  CHECK(reader.response().body == "{\"x\":1}");
}

TEST_CASE("cli reader: a close before the end is an error naming what was cut") {
  SUBCASE("head") {
    ResponseReader reader;
    CHECK(reader.feed("HTTP/1.1 200 OK\r\nContent-Le") == ParseStatus::incomplete);
    CHECK(reader.finish() == ParseStatus::invalid);
    CHECK(reader.error() == "connection closed before the end of the response head");
  }
  SUBCASE("nothing at all") {
    ResponseReader reader;
    CHECK(reader.finish() == ParseStatus::invalid);
    CHECK(reader.error() == "connection closed before the end of the response head");
  }
  SUBCASE("Content-Length body") {
    ResponseReader reader;
    CHECK(reader.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}") == ParseStatus::incomplete);
    CHECK(reader.finish() == ParseStatus::invalid);
    CHECK(reader.error() == "connection closed before the end of the response body");
  }
  SUBCASE("chunked body, before the last chunk") {
    ResponseReader reader;
    CHECK(reader.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n") == ParseStatus::incomplete);
    CHECK(reader.finish() == ParseStatus::invalid);
    CHECK(reader.error() == "connection closed before the end of the response body");
  }
}

TEST_CASE("cli reader: an oversized head is refused before its end, whatever makes it large") {
  SUBCASE("one long header value, never ended") {
    ResponseReader reader;
    CHECK(reader.feed("HTTP/1.1 200 OK\r\nX-Big: ") == ParseStatus::incomplete);
    const std::string piece(1024, 'a');
    ParseStatus status = ParseStatus::incomplete;
    std::size_t fed = 0;
    while (status == ParseStatus::incomplete && fed < 4 * kMaxHeadBytes) {
      status = reader.feed(piece);
      fed += piece.size();
    }
    CHECK(status == ParseStatus::invalid);
    CHECK(fed <= kMaxHeadBytes + 2 * piece.size());
    CHECK(reader.error().find("response head too large") == 0);
  }
  SUBCASE("many small fields, all in one read") {
    std::string raw = "HTTP/1.1 200 OK\r\n";
    for (std::size_t i = 0; i <= kMaxHeaderFields; ++i) raw += "X-F" + std::to_string(i) + ": v\r\n";
    raw += "Content-Length: 0\r\n\r\n";
    ResponseReader reader;
    CHECK(reader.feed(raw) == ParseStatus::invalid);
    CHECK(reader.error().find("response head too large") == 0);
  }
  SUBCASE("a reason phrase the parser does not count") {
    ResponseReader reader;
    CHECK(reader.feed("HTTP/1.1 200 " + std::string(kMaxHeadBytes + 1, 'r')) == ParseStatus::invalid);
    CHECK(reader.error().find("response head too large") == 0);
  }
  SUBCASE("an endless run of interim responses") {
    std::string raw;
    while (raw.size() <= kMaxHeadBytes) raw += "HTTP/1.1 100 Continue\r\n\r\n";
    ResponseReader reader;
    CHECK(reader.feed(raw) == ParseStatus::invalid);
    CHECK(reader.error().find("response head too large") == 0);
  }
  SUBCASE("interim responses below the bound are skipped") {
    ResponseReader reader;
    CHECK(reader.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
                      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}") == ParseStatus::complete);
    CHECK(reader.response().status == 201);
    CHECK(reader.response().headers.count("link") == 0);
  }
}

TEST_CASE("cli reader: an oversized body is refused, at the head when announced") {
  SUBCASE("Content-Length") {
    ResponseReader reader;
    CHECK(reader.feed("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kMaxBodyBytes + 1) + "\r\n\r\n") ==
          ParseStatus::invalid);
    CHECK(reader.error() == "response body too large");
  }
  SUBCASE("chunked") {
    ResponseReader reader;
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", kMaxBodyBytes);
    CHECK(reader.feed(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") + size_line +
                      std::string(kMaxBodyBytes, 'x') + "\r\n") == ParseStatus::incomplete);
    CHECK(reader.feed("1\r\ny") == ParseStatus::invalid);
    CHECK(reader.error() == "response body too large");
  }
  SUBCASE("read until the close") {
    ResponseReader reader;
    CHECK(reader.feed("HTTP/1.0 200 OK\r\n\r\n") == ParseStatus::incomplete);
    CHECK(reader.feed(std::string(kMaxBodyBytes, 'x')) == ParseStatus::incomplete);
    CHECK(reader.feed("y") == ParseStatus::invalid);
    CHECK(reader.error() == "response body too large");
  }
}

TEST_CASE("cli reader: what is not a well-formed HTTP/1.x response") {
  for (const char* raw : {
           "SSH-2.0-OpenSSH_9.2\r\n",
           "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 20 OK\r\n\r\n",
           "HTTP/1.1 200 OK\nContent-Length: 0\n\n",             // bare LF
           "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\n\r\n",         // obs-fold
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
           "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
       }) {
    CAPTURE(raw);
    ResponseReader reader;
    CHECK(reader.feed(raw) == ParseStatus::invalid);
    CHECK(!reader.error().empty());
    // Once invalid it stays so.
    CHECK(reader.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == ParseStatus::invalid);
    CHECK(reader.finish() == ParseStatus::invalid);
  }
}

TEST_CASE("cli reader: repeated fields are joined; Transfer-Encoding wins over Content-Length") {
  ResponseReader reader;
  CHECK(reader.feed("HTTP/1.1 200 OK\r\nVary: a\r\nvary: b\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "2\r\n{}\r\n0\r\n\r\n") == ParseStatus::complete);
  CHECK(reader.response().headers.at("vary") == "a, b");
  CHECK(reader.response().body == "{}");
}
