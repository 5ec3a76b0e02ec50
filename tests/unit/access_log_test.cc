// The plain access-log format's field escaping (issue 13 item 11): one request
// is one line and its fields split on spaces, whatever the request held.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "gateway/proxy/access_log.h"

using sg::gateway::append_log_escaped;

namespace {

std::string escaped(std::string_view value) {
  std::string out;
  append_log_escaped(out, value);
  return out;
}

}  // namespace

TEST_CASE("append_log_escaped: nginx escape=default, plus space") {
  const struct {
    std::string value;
    const char* expected;
  } cases[] = {
      {"/cart?q=1&x=%20y", "/cart?q=1&x=%20y"},
      {"dpl-a_1.2", "dpl-a_1.2"},
      {"two words", "two\\x20words"},
      {"q\"uote", "q\\x22uote"},
      {"back\\slash", "back\\x5Cslash"},
      {"line\r\nnext", "line\\x0D\\x0Anext"},
      {"tab\t", "tab\\x09"},
      {std::string("nul\0", 4), "nul\\x00"},
      {"\x01\x1f\x7f", "\\x01\\x1F\\x7F"},
      {"caf\xc3\xa9", "caf\\xC3\\xA9"},
      {"\xff\xfe", "\\xFF\\xFE"},
      {"\\x41", "\\x5Cx41"},  // an escape cannot be forged: the backslash is escaped
  };
  for (const auto& c : cases) {
    CAPTURE(c.value);
    CHECK(escaped(c.value) == c.expected);
  }
  // Every byte: the result holds only visible ASCII other than '"' and '\\'
  // outside an escape, and never a space.
  for (int b = 0; b < 256; ++b) {
    const std::string out = escaped(std::string(1, static_cast<char>(b)));
    CAPTURE(b);
    for (const char ch : out) {
      const auto c = static_cast<unsigned char>(ch);
      CHECK((c > 0x20 && c < 0x7F && c != '"'));
    }
    const bool plain = b > 0x20 && b < 0x7F && b != '"' && b != '\\';
    CHECK(out.size() == (plain ? 1U : 4U));
  }
}

namespace {

// The lines AccessLog writes for `entry` in `format`, through a real sink.
std::string logged(const sg::gateway::AccessLogEntry& entry, sg::conf::LogFormat format) {
  char path[] = "/tmp/skewgate-access-log-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::string out;
  {
    sg::gateway::AccessLogSink sink;
    std::string error;
    REQUIRE(sink.open(sg::conf::AccessLogConfig{path, format}, error));
    sg::gateway::AccessLog log(&sink);
    log.record(entry);
    log.flush();
  }
  std::ifstream in(path);
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  ::unlink(path);
  return out;
}

}  // namespace

// Issue 14: a replayed action or an asset fallback names the builds whose
// answers were discarded, in order; a request that had none has no field.
TEST_CASE("access log: tried builds, in order, only when there were some") {
  sg::gateway::AccessLogEntry entry;
  entry.method = "POST";
  entry.target = "/cart";
  entry.build = "dpl-a";
  entry.outcome = "rerouted";
  entry.detail = sg::metrics::Reason::action_replayed;
  entry.tried = {"dpl-c", "dpl-b"};
  const std::string plain = logged(entry, sg::conf::LogFormat::plain);
  CHECK(plain.find(" tried=dpl-c,dpl-b") != std::string::npos);
  const nlohmann::json json = nlohmann::json::parse(logged(entry, sg::conf::LogFormat::json));
  CHECK(json.at("tried") == nlohmann::json::array({"dpl-c", "dpl-b"}));
  entry.tried.clear();
  CHECK(logged(entry, sg::conf::LogFormat::plain).find("tried=") == std::string::npos);
  CHECK_FALSE(nlohmann::json::parse(logged(entry, sg::conf::LogFormat::json)).contains("tried"));
}

// Issue 15: whose request shape it was (next, react-server), only when one.
TEST_CASE("access log: the request's framework, only for requests of one") {
  sg::gateway::AccessLogEntry entry;
  entry.method = "POST";
  entry.target = "/todos/rsc.x-component";
  entry.kind = "action";
  entry.outcome = "served";
  for (const char* framework : {"next", "react-server"}) {
    CAPTURE(framework);
    entry.framework = framework;
    const std::string plain = logged(entry, sg::conf::LogFormat::plain);
    CHECK(plain.find(" kind=action framework=" + std::string(framework) + " outcome=served") != std::string::npos);
    CHECK(nlohmann::json::parse(logged(entry, sg::conf::LogFormat::json)).at("framework") == framework);
  }
  entry.framework = {};
  CHECK(logged(entry, sg::conf::LogFormat::plain).find("framework=") == std::string::npos);
  CHECK_FALSE(nlohmann::json::parse(logged(entry, sg::conf::LogFormat::json)).contains("framework"));
}

// Issue 19: the line's time and numbers are written without snprintf per
// request; the text is what it was: an ISO 8601 UTC stamp with milliseconds,
// then status, bytes in, bytes out and the duration as printf's %.3f.
TEST_CASE("access log: the plain line's time stamp and numbers") {
  sg::gateway::AccessLogEntry entry;
  entry.peer = "127.0.0.1";
  entry.method = "GET";
  entry.target = "/a";
  entry.status = 204;
  entry.bytes_received = 18446744073709551615ULL;
  entry.bytes_sent = 0;
  for (const double ms : {0.0, 0.0005, 0.0015, 1.2345, 2.5, 999.9995, 123456.78901, 1e12}) {
    entry.duration_ms = ms;
    const std::string line = logged(entry, sg::conf::LogFormat::plain);
    char expected[128];
    std::snprintf(expected, sizeof expected, " 127.0.0.1 \"GET /a\" 204 18446744073709551615 0 %.3f app=", ms);
    CHECK_MESSAGE(line.find(expected) == 24, line);
    REQUIRE(line.size() > 24);
    for (std::size_t i = 0; i < 24; ++i) {
      const char c = line[i];
      const bool digit = c >= '0' && c <= '9';
      switch (i) {
        case 4: case 7: CHECK(c == '-'); break;
        case 10: CHECK(c == 'T'); break;
        case 13: case 16: CHECK(c == ':'); break;
        case 19: CHECK(c == '.'); break;
        case 23: CHECK(c == 'Z'); break;
        default: CHECK_MESSAGE(digit, line);
      }
    }
  }
  const nlohmann::json json = nlohmann::json::parse(logged(entry, sg::conf::LogFormat::json));
  CHECK(json.at("time").get<std::string>().size() == 24);
}
