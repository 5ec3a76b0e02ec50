// The process's session-ticket keys (RFC 5077; TLS 1.3 tickets, RFC 8446
// section 4.6.1): stateless resumption, so the workers share this ring and
// nothing else (no server-side session cache). A key is made with RAND_bytes
// and is current for `rotation`; the current key encrypts new tickets, the
// current and the previous one decrypt, so a ticket stays usable for at least
// one rotation period after it was issued. A ticket under the previous key
// resumes and is re-issued under the current one.
//
// Rotation is lazy: the first handshake of a new period makes the new key
// (no timer, no thread). Periods are counted from the ring's creation; after
// two or more idle periods both keys are fresh, so no key outlives two
// periods of use.
//
// One mutex, taken once per handshake that issues or opens a ticket, never
// per request: a full handshake costs far more than an uncontended lock.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace sg::gateway {

class TicketKeyRing {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TicketKeyRing(std::chrono::milliseconds rotation, Clock::time_point now = Clock::now());
  ~TicketKeyRing();
  TicketKeyRing(const TicketKeyRing&) = delete;
  TicketKeyRing& operator=(const TicketKeyRing&) = delete;

  // A reload's tls.ticket_rotation: applies from the next period on.
  void set_rotation(std::chrono::milliseconds rotation);
  std::chrono::milliseconds rotation() const;

  // OpenSSL's ticket-key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb):
  // enc=1 fills `key_name` and `iv` and sets up AES-256-CBC and HMAC-SHA256
  // with the current key, returns 1 (or -1 when that fails); enc=0 finds the
  // key named `key_name`: 1 current, 2 previous (OpenSSL then issues a new
  // ticket), 0 unknown (a full handshake follows).
  int on_ticket(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int enc,
                Clock::time_point now = Clock::now());

  // Installs on_ticket as `ctx`'s ticket callback, finding this ring through
  // the SSL_CTX's ex_data. The ring must outlive `ctx`'s handshakes.
  bool install(SSL_CTX* ctx);

  // Tests: how many keys have been made (2 at creation: current and previous).
  std::uint64_t keys_made() const;

 private:
  struct Key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes{};
    std::array<unsigned char, 32> hmac{};
  };
  static bool fresh(Key& key);
  void rotate_locked(Clock::time_point now);

  mutable std::mutex mutex_;
  std::chrono::milliseconds rotation_;
  Clock::time_point period_start_;
  Key current_;
  Key previous_;
  std::uint64_t keys_made_ = 0;
};

}  // namespace sg::gateway
