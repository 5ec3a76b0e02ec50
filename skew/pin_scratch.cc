#include "skew/pin_scratch.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>

namespace sg::skew {

PinScratch::PinScratch() {
  encrypt_.ctx = EVP_CIPHER_CTX_new();
  decrypt_.ctx = EVP_CIPHER_CTX_new();
}

PinScratch::~PinScratch() {
  EVP_CIPHER_CTX_free(encrypt_.ctx);
  EVP_CIPHER_CTX_free(decrypt_.ctx);
  OPENSSL_cleanse(encrypt_.key.data(), encrypt_.key.size());
  OPENSSL_cleanse(decrypt_.key.data(), decrypt_.key.size());
}

bool PinScratch::next_nonce(unsigned char* out) {
  if (next_ + kNonceBytes > nonces_.size()) {
    if (RAND_bytes(nonces_.data(), static_cast<int>(nonces_.size())) != 1) return false;
    next_ = 0;
  }
  std::memcpy(out, nonces_.data() + next_, kNonceBytes);
  next_ += kNonceBytes;
  return true;
}

EVP_CIPHER_CTX* PinScratch::encrypting(const EVP_CIPHER* cipher, const unsigned char* key, const unsigned char* iv) {
  return ready(encrypt_, true, cipher, key, iv);
}

EVP_CIPHER_CTX* PinScratch::decrypting(const EVP_CIPHER* cipher, const unsigned char* key, const unsigned char* iv) {
  return ready(decrypt_, false, cipher, key, iv);
}

EVP_CIPHER_CTX* PinScratch::ready(Keyed& slot, bool encrypt, const EVP_CIPHER* cipher, const unsigned char* key,
                                  const unsigned char* iv) {
  if (slot.ctx == nullptr) return nullptr;
  const bool same_key = slot.keyed && CRYPTO_memcmp(slot.key.data(), key, slot.key.size()) == 0;
  // With a null cipher and key, init keeps the key schedule and takes the IV.
  const EVP_CIPHER* c = same_key ? nullptr : cipher;
  const unsigned char* k = same_key ? nullptr : key;
  const int ok = encrypt ? EVP_EncryptInit_ex2(slot.ctx, c, k, iv, nullptr) : EVP_DecryptInit_ex2(slot.ctx, c, k, iv, nullptr);
  if (ok != 1) {
    slot.keyed = false;
    return nullptr;
  }
  if (!same_key) {
    std::memcpy(slot.key.data(), key, slot.key.size());
    slot.keyed = true;
  }
  return slot.ctx;
}

const Pin* PinScratch::authenticated(std::string_view fingerprint, Pin::Kind kind, std::string_view value) const {
  if (fingerprint != remembered_by_) return nullptr;
  const auto it = remembered_.find(value);
  if (it == remembered_.end() || it->second.kind != kind) return nullptr;
  return &it->second;
}

void PinScratch::remember(std::string_view fingerprint, Pin::Kind kind, std::string_view value, const Pin& pin) {
  if (fingerprint != remembered_by_ || remembered_.size() >= kMaxRemembered) {
    remembered_.clear();
    remembered_by_.assign(fingerprint);
  }
  Pin& entry = remembered_.insert_or_assign(std::string(value), pin).first->second;
  entry.kind = kind;
}

}  // namespace sg::skew
