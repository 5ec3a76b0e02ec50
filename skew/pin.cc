#include "skew/pin.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace sg::skew {

const char* to_string(PinResult result) {
  switch (result) {
    case PinResult::valid: return "valid";
    case PinResult::tampered: return "tampered";
    case PinResult::expired: return "expired";
    case PinResult::unknown_key: return "unknown_key";
    case PinResult::foreign_app: return "foreign_app";
    case PinResult::malformed: return "malformed";
  }
  return "malformed";
}

namespace {

constexpr char kSalt[] = "skewgate-pin-v1";
constexpr char kInfo[] = "aes-256-gcm";
constexpr char kAadPrefix[] = "skewgate-pin-v1";
constexpr unsigned char kPlaintextVersion = 1;
constexpr std::size_t kNonceBytes = 12;  // the GCM standard IV (NIST SP 800-38D 8.2)
static_assert(kNonceBytes == PinScratch::kNonceBytes);
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kMaxNameBytes = 255;  // app and build lengths are one byte
// version + issued + expires + two length bytes.
constexpr std::size_t kMinPlaintextBytes = 1 + 8 + 8 + 1 + 1;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// The longest plaintext seal() writes: both names at their limit.
constexpr std::size_t kMaxPlaintextBytes = kMinPlaintextBytes + 2 * kMaxNameBytes;

unsigned char* put_i64(unsigned char* out, std::int64_t value) {
  const auto bits = static_cast<std::uint64_t>(value);
  for (int shift = 56; shift >= 0; shift -= 8) *out++ = static_cast<unsigned char>((bits >> shift) & 0xff);
  return out;
}

// Unpadded base64url (RFC 4648 section 5): 4 characters per 3 bytes, 2 or
// 3 for a last 1 or 2.
constexpr std::size_t base64url_size(std::size_t bytes) {
  return bytes / 3 * 4 + (bytes % 3 == 0 ? 0 : bytes % 3 + 1);
}

// Writes base64url_size(size) characters at `to`.
void base64url_encode_into(const unsigned char* from, std::size_t size, char* to) {
  const std::size_t rest = size % 3;
  const unsigned char* const whole_end = from + (size - rest);
  for (; from != whole_end; from += 3) {
    const std::uint32_t n = (std::uint32_t{from[0]} << 16) | (std::uint32_t{from[1]} << 8) | from[2];
    *to++ = kAlphabet[(n >> 18) & 63];
    *to++ = kAlphabet[(n >> 12) & 63];
    *to++ = kAlphabet[(n >> 6) & 63];
    *to++ = kAlphabet[n & 63];
  }
  if (rest != 0) {
    const std::uint32_t n = (std::uint32_t{from[0]} << 16) | (rest == 2 ? std::uint32_t{from[1]} << 8 : 0);
    *to++ = kAlphabet[(n >> 18) & 63];
    *to++ = kAlphabet[(n >> 12) & 63];
    if (rest == 2) *to++ = kAlphabet[(n >> 6) & 63];
  }
}

std::int64_t get_i64(const unsigned char* in) {
  std::uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits = (bits << 8) | in[i];
  return static_cast<std::int64_t>(bits);
}

// The additional authenticated data: prefix, key id, kind. On the stack:
// 24 bytes are past std::string's inline buffer, a heap allocation per seal.
struct Aad {
  std::array<unsigned char, sizeof kAadPrefix - 1 + kPinKeyIdChars + 1> bytes{};
  Aad(const char* key_id, Pin::Kind kind) {
    std::memcpy(bytes.data(), kAadPrefix, sizeof kAadPrefix - 1);
    std::memcpy(bytes.data() + sizeof kAadPrefix - 1, key_id, kPinKeyIdChars);
    bytes.back() = static_cast<unsigned char>(kind);
  }
  const unsigned char* data() const { return bytes.data(); }
  int size() const { return static_cast<int>(bytes.size()); }
};

// HKDF-SHA256 (RFC 5869) through the OpenSSL 3 EVP_KDF API.
bool derive_key(const std::string& secret, unsigned char* out, std::size_t out_len) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return false;
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return false;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(secret.data()), secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(kSalt), sizeof kSalt - 1),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(kInfo), sizeof kInfo - 1),
      OSSL_PARAM_construct_end(),
  };
  const bool ok = EVP_KDF_derive(ctx, out, out_len, params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

bool key_id_of(const unsigned char* key, std::size_t key_len, char* id) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(key, key_len, digest, &digest_len, EVP_sha256(), nullptr) != 1 || digest_len < 4) return false;
  constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < kPinKeyIdChars / 2; ++i) {
    id[2 * i] = kHex[digest[i] >> 4];
    id[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return true;
}

// A one-call context, made only when the caller brought no PinScratch.
struct CipherCtx {
  EVP_CIPHER_CTX* ctx = nullptr;
  EVP_CIPHER_CTX* make() { return ctx = EVP_CIPHER_CTX_new(); }
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

}  // namespace

PinKeyring::Key::~Key() {
  OPENSSL_cleanse(bytes.data(), bytes.size());
}

PinKeyring::PinKeyring() = default;

PinKeyring::PinKeyring(const std::vector<std::string>& secrets) {
  // Fetched once: an implicit fetch per EVP_EncryptInit_ex costs a lookup.
  cipher_ = std::shared_ptr<EVP_CIPHER>(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr), EVP_CIPHER_free);
  if (cipher_ == nullptr) return;
  for (const std::string& secret : secrets) {
    Key key;
    if (!derive_key(secret, key.bytes.data(), key.bytes.size()) ||
        !key_id_of(key.bytes.data(), key.bytes.size(), key.id.data())) {
      keys_.clear();
      return;
    }
    // The same secret twice (say, also in previous_secrets) adds nothing.
    bool duplicate = false;
    for (const Key& known : keys_) duplicate |= known.bytes == key.bytes;
    if (!duplicate) keys_.push_back(key);
  }
  // Names this set of keys for a PinScratch's cache of authenticated values.
  std::string all;
  for (const Key& key : keys_) all.append(reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(all.data(), all.size(), digest, &digest_len, EVP_sha256(), nullptr) == 1)
    fingerprint_.assign(reinterpret_cast<const char*>(digest), digest_len);
  OPENSSL_cleanse(all.data(), all.size());
  if (fingerprint_.empty()) keys_.clear();
}

std::string PinKeyring::signing_key_id() const {
  if (!ok()) return {};
  return std::string(keys_[0].id.data(), keys_[0].id.size());
}

std::vector<std::string> PinKeyring::key_ids() const {
  std::vector<std::string> ids;
  for (const Key& key : keys_) ids.emplace_back(key.id.data(), key.id.size());
  return ids;
}

std::string PinKeyring::seal(const Pin& pin, PinScratch* scratch) const {
  if (!ok() || pin.app.size() > kMaxNameBytes || pin.build.size() > kMaxNameBytes) return {};
  const Key& key = keys_[0];

  // Plaintext and blob on the stack, the value written once into a string
  // sized for it: four heap allocations and two copies per sealed pin
  // before (callgrind, mix_document).
  std::array<unsigned char, kMaxPlaintextBytes> text;
  unsigned char* end = text.data();
  *end++ = kPlaintextVersion;
  end = put_i64(end, pin.issued_at_s);
  end = put_i64(end, pin.expires_at_s);
  *end++ = static_cast<unsigned char>(pin.app.size());
  end = std::copy(pin.app.begin(), pin.app.end(), end);
  *end++ = static_cast<unsigned char>(pin.build.size());
  end = std::copy(pin.build.begin(), pin.build.end(), end);
  const std::string_view plaintext(reinterpret_cast<const char*>(text.data()), static_cast<std::size_t>(end - text.data()));

  const std::size_t blob_len = kNonceBytes + plaintext.size() + kTagBytes;
  if (kPinKeyIdChars + 1 + base64url_size(blob_len) > kMaxPinValueBytes) return {};

  std::array<unsigned char, kNonceBytes + kMaxPlaintextBytes + kTagBytes> blob;
  unsigned char* out = blob.data();
  // Random 96-bit nonces: safe for far more than 2^32 seals per key at the
  // collision bound of SP 800-38D 8.3; rotate the secret long before that.
  if (scratch ? !scratch->next_nonce(out) : RAND_bytes(out, kNonceBytes) != 1) return {};

  CipherCtx own;
  EVP_CIPHER_CTX* ctx = scratch ? scratch->encrypting(cipher_.get(), key.bytes.data(), out) : own.make();
  const Aad ad(key.id.data(), pin.kind);
  int len = 0;
  if (ctx == nullptr || (!scratch && EVP_EncryptInit_ex2(ctx, cipher_.get(), key.bytes.data(), out, nullptr) != 1) ||
      EVP_EncryptUpdate(ctx, nullptr, &len, ad.data(), ad.size()) != 1 ||
      EVP_EncryptUpdate(ctx, out + kNonceBytes, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      static_cast<std::size_t>(len) != plaintext.size() ||
      EVP_EncryptFinal_ex(ctx, out + kNonceBytes + len, &len) != 1 || len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagBytes, out + kNonceBytes + plaintext.size()) != 1) {
    OPENSSL_cleanse(text.data(), text.size());
    return {};
  }
  OPENSSL_cleanse(text.data(), text.size());

  std::string value(kPinKeyIdChars + 1 + base64url_size(blob_len), '\0');
  std::memcpy(value.data(), key.id.data(), kPinKeyIdChars);
  value[kPinKeyIdChars] = '.';
  base64url_encode_into(blob.data(), blob_len, value.data() + kPinKeyIdChars + 1);
  return value;
}

namespace {

// An authentic pin's verdict for this request: the app, then the expiry.
OpenResult judge(Pin pin, std::string_view expected_app, std::int64_t now_s) {
  OpenResult result;
  result.pin = std::move(pin);
  if (result.pin.app != expected_app) {
    result.result = PinResult::foreign_app;
  } else if (now_s >= result.pin.expires_at_s) {
    result.result = PinResult::expired;
  } else {
    result.result = PinResult::valid;
  }
  return result;
}

}  // namespace

OpenResult PinKeyring::open(std::string_view value, std::string_view expected_app, std::int64_t now_s,
                            Pin::Kind expected_kind, PinScratch* scratch) const {
  // A browser sends the same cookie with every request: a value this
  // keyring authenticated before needs no second decryption.
  if (scratch) {
    if (const Pin* known = scratch->authenticated(fingerprint_, expected_kind, value))
      return judge(*known, expected_app, now_s);
  }
  OpenResult result = open_authentic(value, expected_kind, scratch);
  if (result.result != PinResult::valid) return result;
  if (scratch) scratch->remember(fingerprint_, expected_kind, value, result.pin);
  return judge(std::move(result.pin), expected_app, now_s);
}

OpenResult PinKeyring::open_authentic(std::string_view value, Pin::Kind expected_kind, PinScratch* scratch) const {
  OpenResult result;
  result.result = PinResult::malformed;
  // The smallest blob (empty app and build) still encodes to 51 characters.
  if (value.size() > kMaxPinValueBytes || value.size() < kPinKeyIdChars + 2 || value[kPinKeyIdChars] != '.') {
    return result;
  }
  for (std::size_t i = 0; i < kPinKeyIdChars; ++i) {
    if (!is_lower_hex(value[i])) return result;
  }
  const std::optional<std::string> blob = base64url_decode(value.substr(kPinKeyIdChars + 1));
  if (!blob || blob->size() < kNonceBytes + kMinPlaintextBytes + kTagBytes) return result;

  // Every key is compared (key ids are public, but this costs nothing).
  const Key* key = nullptr;
  for (const Key& candidate : keys_) {
    if (CRYPTO_memcmp(candidate.id.data(), value.data(), kPinKeyIdChars) == 0 && key == nullptr) key = &candidate;
  }
  if (key == nullptr || cipher_ == nullptr) {
    result.result = PinResult::unknown_key;
    return result;
  }

  const auto* in = reinterpret_cast<const unsigned char*>(blob->data());
  const std::size_t text_len = blob->size() - kNonceBytes - kTagBytes;
  std::string plaintext(text_len, '\0');
  auto* text = reinterpret_cast<unsigned char*>(plaintext.data());
  unsigned char tag[kTagBytes];
  std::memcpy(tag, in + kNonceBytes + text_len, kTagBytes);

  CipherCtx own;
  EVP_CIPHER_CTX* ctx = scratch ? scratch->decrypting(cipher_.get(), key->bytes.data(), in) : own.make();
  const Aad ad(key->id.data(), expected_kind);
  int len = 0;
  // The tag check in EVP_DecryptFinal_ex is constant time (CRYPTO_memcmp in
  // OpenSSL's GCM); nothing decrypted is used unless it passes.
  const bool authentic =
      ctx != nullptr && (scratch || EVP_DecryptInit_ex2(ctx, cipher_.get(), key->bytes.data(), in, nullptr) == 1) &&
      EVP_DecryptUpdate(ctx, nullptr, &len, ad.data(), ad.size()) == 1 &&
      EVP_DecryptUpdate(ctx, text, &len, in + kNonceBytes, static_cast<int>(text_len)) == 1 &&
      static_cast<std::size_t>(len) == text_len &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagBytes, tag) == 1 &&
      EVP_DecryptFinal_ex(ctx, text + len, &len) == 1;
  if (!authentic) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    result.result = PinResult::tampered;
    return result;
  }

  // Authentic but not a layout this version writes: a future format.
  if (text[0] != kPlaintextVersion) return result;
  std::size_t at = 1;
  Pin pin;
  pin.kind = expected_kind;
  pin.issued_at_s = get_i64(text + at);
  at += 8;
  pin.expires_at_s = get_i64(text + at);
  at += 8;
  const std::size_t app_len = text[at++];
  if (at + app_len + 1 > text_len) return result;
  pin.app.assign(plaintext, at, app_len);
  at += app_len;
  const std::size_t build_len = text[at++];
  if (at + build_len != text_len) return result;
  pin.build.assign(plaintext, at, build_len);

  result.pin = std::move(pin);
  result.result = PinResult::valid;  // authentic; app and expiry are judged by open()
  return result;
}

std::string base64url_encode(std::string_view bytes) {
  // Written through a pointer into a string sized once (push_back per
  // character was 1,600 instructions per sealed pin, callgrind).
  std::string out(base64url_size(bytes.size()), '\0');
  base64url_encode_into(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out.data());
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    const int v = base64url_value(c);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  // Left-over bits (2 or 4) must be zero: one encoding per byte string.
  if ((bits & ((1u << count) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace sg::skew
