// Signed pins (design.md section 6): an affinity cookie, or a preview link
// token, that names an app and a build, sealed with AES-256-GCM.
//
// Wire form: `<key id>.<base64url(nonce(12) || ciphertext || tag(16))>`
//   key id   8 lower-case hex chars: the first 4 bytes of SHA-256 of the
//            derived key (names the key; says nothing about the secret)
//   AAD      "skewgate-pin-v1" || key id || kind byte, so a value sealed as
//            one kind never opens as the other, and the key id is bound
//   plaintext version(1) = 1 || issued_at_s (i64 BE) || expires_at_s (i64 BE)
//            || app length (u8) || app || build length (u8) || build
// Every character of the value is URL- and cookie-safe (hex, '.', base64url).
//
// Pure: no I/O. RAND_bytes makes the nonce (through a PinScratch's batch on
// the request path). Functions here never throw.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

#include "skew/pin_scratch.h"  // also struct Pin

namespace sg::skew {

// Stable snake_case codes: the `result` label of skewgate_pins_total.
enum class PinResult { valid, tampered, expired, unknown_key, foreign_app, malformed };
const char* to_string(PinResult result);

struct OpenResult {
  PinResult result = PinResult::malformed;
  Pin pin;  // filled only when result is valid, expired or foreign_app
};

// Values longer than this are malformed before any decoding (a cookie is
// attacker-controlled); seal() refuses to make one (app + build too long).
inline constexpr std::size_t kMaxPinValueBytes = 512;
// The key id is this many hex characters.
inline constexpr std::size_t kPinKeyIdChars = 8;

// Keys derived from secrets: HKDF-SHA256(secret, salt "skewgate-pin-v1",
// info "aes-256-gcm") -> 32 bytes. The first secret signs and verifies; the
// rest (pins.previous_secrets) only verify, so keys rotate without logging
// anyone out. Immutable after construction; seal and open are safe to call
// from several threads at once. Key bytes are wiped on destruction.
class PinKeyring {
 public:
  // Never fails loudly: when derivation fails (OpenSSL out of memory, no
  // secrets), ok() is false and seal() returns "" and open() `unknown_key`.
  explicit PinKeyring(const std::vector<std::string>& secrets);
  PinKeyring();  // empty: ok() is false

  bool ok() const { return !keys_.empty() && cipher_ != nullptr; }
  // The signing key's id ("" when !ok()). Key ids may be shown (/config).
  std::string signing_key_id() const;
  std::vector<std::string> key_ids() const;

  // The wire value, or "" when the keyring is empty, app or build is longer
  // than 255 bytes, the value would exceed kMaxPinValueBytes, or OpenSSL
  // fails.
  // `scratch` (optional): the calling thread's reusable contexts, nonces and
  // cache of values it already authenticated.
  std::string seal(const Pin& pin, PinScratch* scratch = nullptr) const;

  // Checks in this order: length and syntax (malformed), key id (unknown_key,
  // compared with CRYPTO_memcmp against every key), GCM tag (tampered; a
  // value sealed as another kind is tampered too), plaintext layout
  // (malformed), app (foreign_app), expiry (expired when now_s >=
  // expires_at_s). A base64 encoding that is not canonical is malformed, so
  // every change to the value's characters is rejected.
  OpenResult open(std::string_view value, std::string_view expected_app, std::int64_t now_s,
                  Pin::Kind expected_kind = Pin::Kind::pin, PinScratch* scratch = nullptr) const;

 private:
  struct Key {
    std::array<unsigned char, 32> bytes{};
    std::array<char, kPinKeyIdChars> id{};
    Key() = default;
    Key(const Key&) = default;
    Key& operator=(const Key&) = default;
    ~Key();
  };
  // Decodes and decrypts: malformed, unknown_key, tampered, or `valid`
  // meaning authentic (app and expiry not yet checked).
  OpenResult open_authentic(std::string_view value, Pin::Kind expected_kind, PinScratch* scratch) const;

  std::vector<Key> keys_;  // keys_[0] signs
  std::shared_ptr<EVP_CIPHER> cipher_;
  std::string fingerprint_;  // SHA-256 of every key: which keyring a cached value was opened by
};

// RFC 4648 section 5, without padding.
std::string base64url_encode(std::string_view bytes);
// Strict: only the base64url alphabet, no padding, length % 4 != 1, and the
// unused low bits of the last character must be zero (canonical), so each
// byte string has exactly one encoding. nullopt otherwise.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace sg::skew
