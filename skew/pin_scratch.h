// One thread's reusable state for sealing and opening pins, so the request
// path does not pay for a new cipher context and a DRBG call per pin: on a
// page load that gets a new pin those were 46% of the proxy's instructions
// (callgrind). Each worker owns one; it is not thread-safe. Optional
// wherever a PinKeyring takes it: without it each call builds its own.
#pragma once

#include <array>
#include <cstddef>

#include <openssl/types.h>

namespace sg::skew {

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

  static constexpr std::size_t kNonceBytes = 12;

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
};

}  // namespace sg::skew
