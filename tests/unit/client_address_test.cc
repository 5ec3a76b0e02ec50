// The client address for canary cohorts (design.md section 7): X-Forwarded-For
// walked right to left past trusted proxies, as nginx's realip module with
// `real_ip_recursive on`.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "routing/client_address.h"

using sg::conf::Cidr;
using sg::routing::client_address;
using sg::routing::HeaderField;

namespace {

std::vector<Cidr> cidrs(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* text : texts) out.push_back(Cidr::parse(text).value());
  return out;
}

}  // namespace

TEST_CASE("client_address: X-Forwarded-For through trusted proxies") {
  const std::vector<Cidr> trusted = cidrs({"127.0.0.1", "10.0.0.0/8", "2001:db8:ffff::/48"});
  struct Row {
    const char* name;
    const char* peer;
    bool peer_trusted;
    std::vector<HeaderField> headers;
    const char* client;
  };
  const std::vector<Row> rows = {
      {"untrusted peer: its own address, whatever it claims", "198.51.100.7", false,
       {{"X-Forwarded-For", "203.0.113.9"}}, "198.51.100.7"},
      {"untrusted peer without XFF", "198.51.100.7", false, {}, "198.51.100.7"},
      {"trusted peer without XFF", "127.0.0.1", true, {}, "127.0.0.1"},
      {"trusted peer, empty XFF", "127.0.0.1", true, {{"X-Forwarded-For", ""}}, "127.0.0.1"},
      {"one hop", "127.0.0.1", true, {{"X-Forwarded-For", "203.0.113.9"}}, "203.0.113.9"},
      {"header name in any case", "127.0.0.1", true, {{"x-forwarded-for", "203.0.113.9"}}, "203.0.113.9"},
      {"trusted hops on the right are skipped", "127.0.0.1", true,
       {{"X-Forwarded-For", "203.0.113.9, 10.0.0.1, 10.2.3.4"}}, "203.0.113.9"},
      {"the right-most untrusted, not the spoofable left-most", "127.0.0.1", true,
       {{"X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.0.0.1"}}, "203.0.113.9"},
      {"no spaces, extra spaces, tabs", "127.0.0.1", true,
       {{"X-Forwarded-For", "1.1.1.1,203.0.113.9 ,\t10.0.0.1"}}, "203.0.113.9"},
      {"every address trusted: the left-most", "127.0.0.1", true, {{"X-Forwarded-For", "10.0.0.2, 10.0.0.1"}},
       "10.0.0.2"},
      {"several fields are one list", "127.0.0.1", true,
       {{"X-Forwarded-For", "1.1.1.1"}, {"Host", "shop"}, {"X-Forwarded-For", "203.0.113.9, 10.0.0.1"}},
       "203.0.113.9"},
      {"several fields, the untrusted one in the first", "127.0.0.1", true,
       {{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-For", "10.0.0.1"}}, "203.0.113.9"},
      {"empty list elements are skipped", "127.0.0.1", true, {{"X-Forwarded-For", "203.0.113.9, , 10.0.0.1,"}},
       "203.0.113.9"},
      {"IPv6", "127.0.0.1", true, {{"X-Forwarded-For", "2001:db8::1, 2001:db8:ffff::2"}}, "2001:db8::1"},
      {"IPv6 in brackets", "127.0.0.1", true, {{"X-Forwarded-For", "[2001:db8::1]"}}, "2001:db8::1"},
      {"IPv6 in brackets with a port", "127.0.0.1", true, {{"X-Forwarded-For", "[2001:db8::1]:4711"}},
       "2001:db8::1"},
      {"IPv4 with a port", "127.0.0.1", true, {{"X-Forwarded-For", "198.51.100.23:4711, 10.0.0.1"}},
       "198.51.100.23"},
      {"IPv4-mapped IPv6 inside an IPv4 range is trusted", "127.0.0.1", true,
       {{"X-Forwarded-For", "203.0.113.9, ::ffff:10.0.0.1"}}, "203.0.113.9"},
      {"junk left of the client does not matter", "127.0.0.1", true,
       {{"X-Forwarded-For", "not-an-ip, 203.0.113.9"}}, "203.0.113.9"},
      {"junk between trusted hops stops the walk: the peer", "127.0.0.1", true,
       {{"X-Forwarded-For", "203.0.113.9, not-an-ip, 10.0.0.1"}}, "127.0.0.1"},
      {"`unknown` (nginx, Squid) stops the walk", "127.0.0.1", true, {{"X-Forwarded-For", "unknown"}}, "127.0.0.1"},
      {"a host name stops the walk", "127.0.0.1", true, {{"X-Forwarded-For", "client.example, 10.0.0.1"}},
       "127.0.0.1"},
      {"IPv4 with a bad port", "127.0.0.1", true, {{"X-Forwarded-For", "203.0.113.9:http"}}, "127.0.0.1"},
      {"IPv4 with an empty port", "127.0.0.1", true, {{"X-Forwarded-For", "203.0.113.9:"}}, "127.0.0.1"},
      {"IPv4 with a long port", "127.0.0.1", true, {{"X-Forwarded-For", "203.0.113.9:123456"}}, "127.0.0.1"},
      {"IPv6 bracket not closed", "127.0.0.1", true, {{"X-Forwarded-For", "[2001:db8::1"}}, "127.0.0.1"},
      {"IPv6 bracket junk after", "127.0.0.1", true, {{"X-Forwarded-For", "[2001:db8::1]x"}}, "127.0.0.1"},
      {"IPv6 zone", "127.0.0.1", true, {{"X-Forwarded-For", "fe80::1%eth0"}}, "127.0.0.1"},
      {"IPv4 in brackets", "127.0.0.1", true, {{"X-Forwarded-For", "[203.0.113.9]"}}, "127.0.0.1"},
      {"short IPv4", "127.0.0.1", true, {{"X-Forwarded-For", "203.0.113"}}, "127.0.0.1"},
      {"IPv4 out of range", "127.0.0.1", true, {{"X-Forwarded-For", "203.0.113.256"}}, "127.0.0.1"},
      {"an over-long entry", "127.0.0.1", true,
       {{"X-Forwarded-For", "2001:0db8:0000:0000:0000:0000:0000:0001:0000:0000"}}, "127.0.0.1"},
      {"X-Real-IP is not read", "127.0.0.1", true, {{"X-Real-IP", "203.0.113.9"}}, "127.0.0.1"},
      {"Forwarded is not read", "127.0.0.1", true, {{"Forwarded", "for=203.0.113.9"}}, "127.0.0.1"},
      {"underscore variant is not the header", "127.0.0.1", true, {{"X_Forwarded_For", "203.0.113.9"}},
       "127.0.0.1"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.name);
    CHECK(std::string(client_address(row.peer, row.peer_trusted, row.headers, trusted)) == row.client);
  }
}

TEST_CASE("client_address: no trusted ranges, every address is the client's") {
  const std::vector<HeaderField> headers = {{"X-Forwarded-For", "1.1.1.1, 203.0.113.9"}};
  CHECK(client_address("127.0.0.1", true, headers, {}) == "203.0.113.9");
}

TEST_CASE("client_address: thousands of trusted entries are walked, the result points into the header") {
  std::string list = "203.0.113.9";
  for (int i = 0; i < 2000; ++i) list += ", 10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
  const std::vector<HeaderField> headers = {{"X-Forwarded-For", list}};
  const std::vector<Cidr> trusted = cidrs({"10.0.0.0/8"});
  const std::string_view client = client_address("127.0.0.1", true, headers, trusted);
  CHECK(client == "203.0.113.9");
  CHECK(client.data() == headers[0].value.data());
}
