// The CLI's reading of one admin API response, with the gateway's own HTTP/1
// parser (gateway/http1/http_parser.h: llhttp in strict mode) instead of a
// second hand-written one. Fed as bytes arrive, so a response trickled over
// many reads costs linear time, and bounded so a server that is not ours
// ends in an error, never in unbounded memory or a wait for more.
//
// What it refuses (the error says which, for the user):
// - anything llhttp's strict mode refuses in a response: no "HTTP/1.x" status
//   line, a status that is not three digits, bare CR or LF line ends, a
//   header line without a name or colon, obs-fold, two Content-Lengths, a
//   Content-Length that is not a number, a bad chunk size, chunk data not
//   followed by CRLF;
// - a head (interim 1xx heads included) over kMaxHeadBytes or with more than
//   kMaxHeaderFields fields ("response head too large");
// - a body (Content-Length, de-chunked or read until the close) over
//   kMaxBodyBytes ("response body too large"), at the head when a
//   Content-Length announces it;
// - a close before the end of the head or of a body framed by Content-Length
//   or chunked ("connection closed before the end of the response ...").
// Transfer-Encoding wins over Content-Length (RFC 9112 section 6.3): the CLI
// reads one response on a connection it closes, so nothing can be smuggled
// past it; the proxy's parsers keep refusing the pair.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace sg::gateway::cli {

// An admin answer is a few KiB; anything this large is not our server.
constexpr std::size_t kMaxHeadBytes = 64 * 1024;
constexpr std::size_t kMaxHeaderFields = 256;
constexpr std::size_t kMaxBodyBytes = 16 * 1024 * 1024;

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // names lower-cased; repeated names joined with ", "
  std::string body;                            // de-chunked
};

enum class ParseStatus { complete, incomplete, invalid };

// One response, fed as it arrives. Interim 1xx responses are skipped; bytes
// after the final response are ignored. Once complete or invalid, further
// calls return the same status.
class ResponseReader {
 public:
  ResponseReader();
  ~ResponseReader();
  ResponseReader(const ResponseReader&) = delete;
  ResponseReader& operator=(const ResponseReader&) = delete;

  ParseStatus feed(std::string_view bytes);
  // The server closed: a body delimited by the close ends here; anything
  // still incomplete is a truncated response (invalid).
  ParseStatus finish();

  // The final response once complete (partly filled before).
  HttpResponse& response();
  // Why the status is invalid.
  const std::string& error() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// All the bytes received so far at once (the tests' entry point). `at_eof`:
// the server closed, as ResponseReader::finish.
ParseStatus parse_http_response(std::string_view raw, bool at_eof, HttpResponse& response, std::string& error);

}  // namespace sg::gateway::cli
