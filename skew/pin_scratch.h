// One thread's reusable state for sealing and opening pins, so the request
// path does not pay for a new cipher context and a DRBG call per pin: on a
// page load that gets a new pin those were 46% of the proxy's instructions
// (callgrind). Each worker owns one; it is not thread-safe. Optional
// wherever a PinKeyring takes it: without it each call builds its own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <openssl/types.h>

namespace sg::skew {

// What a pin names (sealed and opened by PinKeyring, pin.h).
struct Pin {
  enum class Kind : std::uint8_t { pin = 1, preview = 2 };
  std::string app;
  std::string build;
  std::int64_t issued_at_s = 0;   // unix seconds
  std::int64_t expires_at_s = 0;  // unix seconds; valid while now < expires_at_s
  Kind kind = Kind::pin;
};

class PinScratch {
 public:
  PinScratch();
  ~PinScratch();
  PinScratch(const PinScratch&) = delete;
  PinScratch& operator=(const PinScratch&) = delete;

  // 12 fresh random bytes, drawn from RAND_bytes in batches of 4 KiB: every
  // nonce is still DRBG output, only the call is amortised. False when the
  // DRBG fails.
  bool next_nonce(unsigned char* out);

  // A context ready to encrypt (or decrypt) one message under `key` (32
  // bytes) with `iv`: re-keyed only when the key differs from the last one
  // (a GCM context takes a new IV and keeps its key schedule). nullptr when
  // OpenSSL fails.
  EVP_CIPHER_CTX* encrypting(const EVP_CIPHER* cipher, const unsigned char* key, const unsigned char* iv);
  EVP_CIPHER_CTX* decrypting(const EVP_CIPHER* cipher, const unsigned char* key, const unsigned char* iv);

  // Values authenticated before by the keyring named `fingerprint`, as
  // opened for `kind` (nullptr: not remembered). Only authenticity is
  // remembered: the app and the expiry are checked on every use. At most
  // kMaxRemembered values; when full, it starts over.
  const Pin* authenticated(std::string_view fingerprint, Pin::Kind kind, std::string_view value) const;
  void remember(std::string_view fingerprint, Pin::Kind kind, std::string_view value, const Pin& pin);

  static constexpr std::size_t kNonceBytes = 12;
  static constexpr std::size_t kMaxRemembered = 1024;
  // The characters of a value its cache hash reads (ValueHash below).
  static constexpr std::size_t kHashedChars = 32;

 private:
  struct Keyed {
    EVP_CIPHER_CTX* ctx = nullptr;
    std::array<unsigned char, 32> key{};
    bool keyed = false;
  };
  EVP_CIPHER_CTX* ready(Keyed& slot, bool encrypt, const EVP_CIPHER* cipher, const unsigned char* key,
                        const unsigned char* iv);

  Keyed encrypt_;
  Keyed decrypt_;
  std::array<unsigned char, 4096 - 4096 % kNonceBytes> nonces_{};
  std::size_t next_ = nonces_.size();

  // Remembered values are authentic pins: after the 8-character key id,
  // each starts with its 12-byte nonce, DRBG output (pin.h), so their first
  // 32 characters spread them as well as all ~100 do, at a third of the
  // hashing (~190 instructions per pinned request, callgrind). Nobody can
  // plant values sharing a prefix (only authenticated ones are kept), and
  // lookups still compare whole values.
  struct ValueHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view v) const noexcept {
      return std::hash<std::string_view>{}(v.substr(0, kHashedChars));
    }
  };
  std::string remembered_by_;  // the fingerprint of the keyring that authenticated them
  std::unordered_map<std::string, Pin, ValueHash, std::equal_to<>> remembered_;  // by wire value
};

}  // namespace sg::skew
