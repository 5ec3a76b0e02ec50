// Issue 16 step 2: the pure parts of TLS termination. The session-ticket key
// ring's rotation (current encrypts, current and previous decrypt), the
// handshake-error label list against its enum, and the redirect_https rule.
#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <array>
#include <memory>

#include "gateway/net/tls_ticket_keys.h"
#include "gateway/net/tls_transport.h"
#include "metrics/labels.h"
#include "skew/decide.h"
#include "skew/https_redirect.h"

using sg::gateway::TicketKeyRing;
using namespace std::chrono_literals;

namespace {

// One call of the ring's OpenSSL callback with fresh cipher and MAC states.
struct TicketCall {
  std::array<unsigned char, 16> name{};
  std::array<unsigned char, EVP_MAX_IV_LENGTH> iv{};
  int result = 0;

  TicketCall(TicketKeyRing& ring, int enc, TicketKeyRing::Clock::time_point now,
             const std::array<unsigned char, 16>* use_name = nullptr) {
    if (use_name) name = *use_name;
    EVP_CIPHER_CTX* cipher = EVP_CIPHER_CTX_new();
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* mac_ctx = EVP_MAC_CTX_new(mac);
    result = ring.on_ticket(name.data(), iv.data(), cipher, mac_ctx, enc, now);
    EVP_MAC_CTX_free(mac_ctx);
    EVP_MAC_free(mac);
    EVP_CIPHER_CTX_free(cipher);
  }
};

}  // namespace

TEST_CASE("ticket keys: current encrypts; current and previous decrypt; older keys are gone") {
  const auto t0 = TicketKeyRing::Clock::now();
  TicketKeyRing ring(10s, t0);
  const TicketCall issued(ring, 1, t0 + 1s);
  REQUIRE(issued.result == 1);
  // Same period: the current key opens it.
  CHECK(TicketCall(ring, 0, t0 + 9s, &issued.name).result == 1);
  CHECK(ring.keys_made() == 2);
  // Next period: a new current key; the old one still opens, and asks
  // OpenSSL to issue a fresh ticket (2).
  const TicketCall renewed(ring, 1, t0 + 11s);
  CHECK(renewed.result == 1);
  CHECK(renewed.name != issued.name);
  CHECK(ring.keys_made() == 3);
  CHECK(TicketCall(ring, 0, t0 + 12s, &issued.name).result == 2);
  CHECK(TicketCall(ring, 0, t0 + 12s, &renewed.name).result == 1);
  // Two periods on, the first key is gone: a full handshake (0).
  CHECK(TicketCall(ring, 0, t0 + 21s, &issued.name).result == 0);
  CHECK(TicketCall(ring, 0, t0 + 21s, &renewed.name).result == 2);
  // Idle for several periods: both keys are fresh, nothing old opens.
  CHECK(TicketCall(ring, 0, t0 + 95s, &renewed.name).result == 0);
  const std::array<unsigned char, 16> unknown{};
  CHECK(TicketCall(ring, 0, t0 + 95s, &unknown).result == 0);
}

TEST_CASE("ticket keys: each ticket gets its own IV") {
  const auto t0 = TicketKeyRing::Clock::now();
  TicketKeyRing ring(1h, t0);
  const TicketCall a(ring, 1, t0);
  const TicketCall b(ring, 1, t0);
  CHECK(a.name == b.name);
  CHECK(a.iv != b.iv);
}

TEST_CASE("skewgate_tls_handshake_errors_total labels: the catalogue's TLS run, in this order") {
  constexpr std::array<std::string_view, 8> kExported{
      "handshake_timeout",       "not_tls",              "protocol_version",  "no_shared_cipher",
      "no_application_protocol", "certificate_rejected", "handshake_aborted", "handshake_failed"};
  REQUIRE(sg::metrics::kTlsHandshakeErrors.size() == kExported.size());
  for (std::size_t i = 0; i < kExported.size(); ++i) CHECK(sg::metrics::kTlsHandshakeErrors[i] == kExported[i]);
}

TEST_CASE("redirect_https: 308 to the same host and target over https") {
  using sg::routing::HeaderField;
  using sg::routing::RequestView;
  const struct {
    const char* host;
    const char* target;
    int status;
    const char* location;
  } cases[] = {
      {"shop.example.com", "/cart?x=1", 308, "https://shop.example.com/cart?x=1"},
      {"Shop.Example.COM:8080", "/", 308, "https://shop.example.com/"},  // the port is the plain listener's
      {"[::1]:8080", "/a", 308, "https://[::1]/a"},
      {"shop.example.com", "http://shop.example.com/abs?q", 308, "https://shop.example.com/abs?q"},
      // Never off-site: the target is made same-origin.
      {"shop.example.com", "//evil.example/x", 308, "https://shop.example.com/evil.example/x"},
      {"shop.example.com", "/\\evil.example", 308, "https://shop.example.com/evil.example"},
      // No usable host: nothing to redirect to.
      {"", "/", 400, nullptr},
      {"a b", "/", 400, nullptr},
      {"user@shop.example.com", "/", 400, nullptr},
  };
  for (const auto& c : cases) {
    CAPTURE(c.host);
    CAPTURE(c.target);
    std::vector<HeaderField> headers;
    if (*c.host) headers.push_back({"Host", c.host});
    const RequestView view{"POST", c.target, headers};
    const sg::skew::Answer answer = sg::skew::https_redirect_answer(view);
    CHECK(answer.status == c.status);
    std::string location;
    std::string cache_control;
    for (const auto& [name, value] : answer.headers) {
      if (name == "location") location = value;
      if (name == "cache-control") cache_control = value;
    }
    CHECK(cache_control == "no-store");
    if (c.location) CHECK(location == c.location);
    if (!c.location) CHECK(location.empty());
  }
}

TEST_CASE("redirect_https comes before any app rule: no pin is read or set over plain HTTP") {
  sg::conf::AppConfig shop;
  shop.name = "shop";
  shop.hosts = {"shop.example.com"};
  shop.current = "dpl-a";
  shop.builds = {sg::conf::BuildConfig{"dpl-a", {sg::conf::SocketAddress::parse("127.0.0.1:3001").value()}}};
  sg::conf::Config config;
  config.apps = {shop};
  std::vector<std::string> errors;
  const auto snapshot = sg::routing::Snapshot::create(std::move(config), errors);
  REQUIRE(snapshot);
  std::vector<sg::routing::HeaderField> headers{{"Host", "shop.example.com"}, {"Cookie", "skewgate_pin=x"}};
  const sg::routing::RequestView view{"GET", "/", headers};
  sg::skew::DecisionInput input{view};
  input.redirect_https = true;
  const sg::skew::Verdict verdict = sg::skew::decide(input, *snapshot);
  REQUIRE(verdict.answer.has_value());
  CHECK(verdict.answer->status == 308);
  CHECK(verdict.reason == sg::metrics::Reason::redirect_https);
  CHECK(verdict.outcome == sg::skew::Outcome::answered);
  CHECK(verdict.target == nullptr);
  CHECK(verdict.set_cookie.empty());
  CHECK_FALSE(verdict.pin_result.has_value());
  input.redirect_https = false;
  CHECK(sg::skew::decide(input, *snapshot).target != nullptr);
}
