#include "gateway/net/tls_ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstring>

namespace sg::gateway {
namespace {

// The SSL_CTX ex_data slot that points at the ring: allocated once per
// process (OpenSSL's own registry), constant after that.
int ring_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int ticket_callback(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX* cipher,
                    EVP_MAC_CTX* mac, int enc) {
  // The session's first context (the listener's) holds the callback; after
  // an SNI switch SSL_get_SSL_CTX is the app's, which points at the same ring.
  auto* ring = static_cast<TicketKeyRing*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ring_index()));
  if (ring == nullptr) return enc ? -1 : 0;
  const int result = ring->on_ticket(key_name, iv, cipher, mac, enc);
  // TLS 1.3 clients use a ticket once (RFC 8446 section C.4; OpenSSL's
  // client marks a resumed session not resumable). Unless the callback
  // asks for renewal (2), OpenSSL issues no ticket after a resumption, and
  // every second connection of a client would be a full handshake.
  if (!enc && result == 1 && SSL_version(ssl) == TLS1_3_VERSION) return 2;
  return result;
}

}  // namespace

TicketKeyRing::TicketKeyRing(std::chrono::milliseconds rotation, Clock::time_point now)
    : rotation_(rotation), period_start_(now) {
  // Without random bytes there is no key: tickets are then refused (-1)
  // and every handshake is a full one, which is safe.
  fresh(current_);
  fresh(previous_);
  keys_made_ = 2;
}

TicketKeyRing::~TicketKeyRing() {
  OPENSSL_cleanse(&current_, sizeof current_);
  OPENSSL_cleanse(&previous_, sizeof previous_);
}

bool TicketKeyRing::fresh(Key& key) {
  return RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) == 1 &&
         RAND_bytes(key.aes.data(), static_cast<int>(key.aes.size())) == 1 &&
         RAND_bytes(key.hmac.data(), static_cast<int>(key.hmac.size())) == 1;
}

void TicketKeyRing::set_rotation(std::chrono::milliseconds rotation) {
  std::lock_guard lock(mutex_);
  rotation_ = rotation;
}

std::chrono::milliseconds TicketKeyRing::rotation() const {
  std::lock_guard lock(mutex_);
  return rotation_;
}

std::uint64_t TicketKeyRing::keys_made() const {
  std::lock_guard lock(mutex_);
  return keys_made_;
}

void TicketKeyRing::rotate_locked(Clock::time_point now) {
  if (rotation_.count() <= 0 || now < period_start_ + rotation_) return;
  const auto periods = (now - period_start_) / rotation_;
  if (periods == 1) {
    previous_ = current_;
  } else {
    fresh(previous_);  // idle for two periods or more: the old key is too old to open anything
    ++keys_made_;
  }
  fresh(current_);
  ++keys_made_;
  period_start_ += periods * rotation_;
}

int TicketKeyRing::on_ticket(unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                             EVP_MAC_CTX* mac, int enc, Clock::time_point now) {
  Key key;
  int result = 1;
  {
    std::lock_guard lock(mutex_);
    rotate_locked(now);
    if (enc) {
      key = current_;
    } else if (std::memcmp(key_name, current_.name.data(), 16) == 0) {
      key = current_;
    } else if (std::memcmp(key_name, previous_.name.data(), 16) == 0) {
      key = previous_;
      result = 2;  // renew: the client gets a ticket under the current key
    } else {
      return 0;
    }
  }
  const EVP_CIPHER* aes = EVP_aes_256_cbc();
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (enc) {
    std::memcpy(key_name, key.name.data(), 16);
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(aes)) != 1 ||
        EVP_EncryptInit_ex(cipher, aes, nullptr, key.aes.data(), iv) != 1 || EVP_MAC_CTX_set_params(mac, params) != 1)
      result = -1;
  } else if (EVP_MAC_CTX_set_params(mac, params) != 1 ||
             EVP_DecryptInit_ex(cipher, aes, nullptr, key.aes.data(), iv) != 1) {
    result = -1;
  }
  OPENSSL_cleanse(&key, sizeof key);
  return result;
}

bool TicketKeyRing::install(SSL_CTX* ctx) {
  if (SSL_CTX_set_ex_data(ctx, ring_index(), this) != 1) return false;
  return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_callback) == 1;
}

}  // namespace sg::gateway
