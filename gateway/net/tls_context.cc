#include "gateway/net/tls_context.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "conf/read_file.h"

namespace sg::gateway {
namespace {

// A certificate chain or a key is a few KiB; anything past this is not one.
constexpr std::uint64_t kMaxPemBytes = 1024 * 1024;

// OpenSSL's reason for the first error queued (the root cause), then an
// empty queue. Never holds key material: OpenSSL's messages name routines
// and reasons only.
std::string openssl_reason() {
  const unsigned long code = ERR_peek_error();
  ERR_clear_error();
  if (code == 0) return "no reason given by OpenSSL";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// Encrypted keys are refused: OpenSSL's default would ask for a passphrase
// on the terminal and block the control thread.
int no_passphrase(char*, int, int, void*) { return 0; }

// A PEM file's bytes, or an error naming the file.
bool read_pem(const std::string& path, std::string& text, std::string& error) {
  const conf::RegularFile file = conf::read_regular_file(path, kMaxPemBytes, text);
  if (file.ok()) return true;
  if (file.error != 0)
    error = "cannot read " + path + ": " + std::strerror(file.error);
  else if (file.not_regular)
    error = "cannot read " + path + ": it is " + std::string(file.not_regular) + ", not a file";
  else
    error = "cannot read " + path + ": larger than 1MiB, not a PEM certificate or key";
  return false;
}

std::string asn1_time_text(const ASN1_TIME* time) {
  BIO* out = BIO_new(BIO_s_mem());
  if (out == nullptr) return "?";
  ASN1_TIME_print(out, time);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out, &data);
  std::string text(data, static_cast<std::size_t>(size > 0 ? size : 0));
  BIO_free(out);
  return text;
}

// The ex_data slot that says "this connection may speak h2" (offer_h2).
int h2_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// RFC 7301 section 3.2: h2 when the listener serves it and the client offers
// it (RFC 9113 section 3.2), else http/1.1 if offered, else
// no_application_protocol. The server's order wins: SSL_select_next_proto
// walks our list first. A client without ALPN is served HTTP/1.1.
int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_size, const unsigned char* offered,
                unsigned int offered_size, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  static const unsigned char kH2Http11[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  const bool h2 = SSL_get_ex_data(ssl, h2_index()) != nullptr;
  unsigned char* chosen = nullptr;
  const int rc = h2 ? SSL_select_next_proto(&chosen, out_size, kH2Http11, sizeof kH2Http11, offered, offered_size)
                    : SSL_select_next_proto(&chosen, out_size, kHttp11, sizeof kHttp11, offered, offered_size);
  if (rc != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

int select_certificate(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;  // no SNI: the listener's certificate
  SSL_CTX* chosen = static_cast<const TlsContexts*>(arg)->for_server_name(name);
  if (chosen != nullptr && chosen != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen);
  return SSL_TLSEXT_ERR_OK;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return out;
}

}  // namespace

void offer_h2(SSL* ssl) {
  static int marker = 1;
  SSL_set_ex_data(ssl, h2_index(), &marker);
}

// One certificate's context; nullptr with `errors` filled.
static SSL_CTX* make_context(const conf::TlsConfig& tls, const conf::TlsSettings& settings, TicketKeyRing& ring,
                             const TlsContexts* owner, std::vector<std::string>& errors) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    errors.push_back(tls.where + ": cannot create a TLS context: " + openssl_reason());
    return nullptr;
  }
  const auto fail = [&](std::string message) {
    errors.push_back(std::move(message));
    SSL_CTX_free(ctx);
    return nullptr;
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // No SSL_MODE_RELEASE_BUFFERS: TlsTransport frees the record buffers of
  // a quiet connection itself, instead of around every record.
  // Stateless tickets only: workers share the key ring and nothing else.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // A ticket's key decrypts for one to two rotation periods after it was
  // issued (tls_ticket_keys.h): past two, no ticket can be opened anyway.
  const auto lifetime_s = std::max<long>(1, static_cast<long>(2 * settings.ticket_rotation.count() / 1000));
  SSL_CTX_set_timeout(ctx, lifetime_s);
  SSL_CTX_set_num_tickets(ctx, 1);
  const std::string settings_where = settings.where.empty() ? "tls" : settings.where;
  if (SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1)
    return fail(settings_where + ".ciphers: OpenSSL accepts none of '" + settings.ciphers + "': " + openssl_reason());
  if (!settings.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, settings.ciphersuites.c_str()) != 1)
    return fail(settings_where + ".ciphersuites: OpenSSL accepts none of '" + settings.ciphersuites +
                "': " + openssl_reason());
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_tlsext_servername_callback(ctx, select_certificate);
  SSL_CTX_set_tlsext_servername_arg(ctx, const_cast<TlsContexts*>(owner));
  if (!ring.install(ctx)) return fail(tls.where + ": cannot install the session ticket keys: " + openssl_reason());

  // The certificate, then its chain, from one PEM file.
  std::string text;
  std::string error;
  if (!read_pem(tls.cert, text, error)) return fail(tls.where + ".cert: " + error);
  BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  X509* leaf = bio ? PEM_read_bio_X509_AUX(bio, nullptr, no_passphrase, nullptr) : nullptr;
  if (leaf == nullptr) {
    BIO_free(bio);
    return fail(tls.where + ".cert: " + tls.cert + ": not a PEM certificate: " + openssl_reason());
  }
  const bool expired = X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0;
  const std::string not_after = asn1_time_text(X509_get0_notAfter(leaf));
  const bool used = SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  if (!used) {
    BIO_free(bio);
    return fail(tls.where + ".cert: " + tls.cert + ": " + openssl_reason());
  }
  if (expired) {
    BIO_free(bio);
    return fail(tls.where + ".cert: " + tls.cert + ": the certificate expired on " + not_after);
  }
  while (X509* link = PEM_read_bio_X509(bio, nullptr, no_passphrase, nullptr)) {
    if (SSL_CTX_add0_chain_cert(ctx, link) != 1) {
      X509_free(link);
      BIO_free(bio);
      return fail(tls.where + ".cert: " + tls.cert + ": bad chain certificate: " + openssl_reason());
    }
  }
  // The loop ends at the end of the file (PEM "no start line"); anything
  // else is a damaged chain certificate.
  const unsigned long last = ERR_peek_last_error();
  BIO_free(bio);
  if (last != 0 && !(ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE))
    return fail(tls.where + ".cert: " + tls.cert + ": bad chain certificate: " + openssl_reason());
  ERR_clear_error();

  // The key: parsed from memory, the text wiped at once.
  std::string key_text;
  if (!read_pem(tls.key, key_text, error)) return fail(tls.where + ".key: " + error);
  BIO* key_bio = BIO_new_mem_buf(key_text.data(), static_cast<int>(key_text.size()));
  EVP_PKEY* key = key_bio ? PEM_read_bio_PrivateKey(key_bio, nullptr, no_passphrase, nullptr) : nullptr;
  BIO_free(key_bio);
  OPENSSL_cleanse(key_text.data(), key_text.size());
  if (key == nullptr)
    return fail(tls.where + ".key: " + tls.key + ": not a PEM private key (or one with a passphrase): " +
                openssl_reason());
  const bool key_used = SSL_CTX_use_PrivateKey(ctx, key) == 1;
  EVP_PKEY_free(key);
  if (!key_used || SSL_CTX_check_private_key(ctx) != 1)
    return fail(tls.where + ".key: " + tls.key + " does not match the certificate " + tls.cert + ": " +
                openssl_reason());
  return ctx;
}

std::shared_ptr<const TlsContexts> TlsContexts::build(const conf::Config& config,
                                                      std::shared_ptr<TicketKeyRing> ring,
                                                      std::vector<std::string>& errors) {
  std::shared_ptr<TlsContexts> set(new TlsContexts);
  set->ring_ = std::move(ring);
  const std::size_t errors_before = errors.size();
  // One context per (cert, key) pair, however many listeners and apps use it.
  std::map<std::pair<std::string, std::string>, SSL_CTX*> by_files;
  std::set<std::string> files;
  const auto context_for = [&](const conf::TlsConfig& tls) -> SSL_CTX* {
    const auto key = std::make_pair(tls.cert, tls.key);
    if (auto it = by_files.find(key); it != by_files.end()) return it->second;
    SSL_CTX* ctx = make_context(tls, config.tls, *set->ring_, set.get(), errors);
    by_files.emplace(key, ctx);
    files.insert(tls.cert);
    files.insert(tls.key);
    if (ctx) set->owned_.push_back(ctx);
    return ctx;
  };
  for (const conf::ListenerConfig& listener : config.listeners) {
    ListenerTls entry;
    entry.redirect_https = listener.redirect_https;
    entry.h2c = listener.h2c && !listener.tls;
    if (listener.tls) {
      entry.ctx = context_for(*listener.tls);
      entry.http2 = listener.http2;
    }
    if (entry.ctx || entry.redirect_https || entry.h2c) set->listeners_.emplace(listener.address.to_string(), entry);
  }
  for (const conf::AppConfig& app : config.apps) {
    if (!app.tls) continue;
    SSL_CTX* ctx = context_for(*app.tls);
    if (ctx == nullptr) continue;
    for (const std::string& host : app.hosts) {
      if (host.starts_with('[')) continue;  // SNI never carries an IP literal (RFC 6066 section 3)
      if (host.starts_with("*."))
        set->wildcards_.emplace_back(host.substr(1), ctx);
      else
        set->exact_.emplace(host, ctx);
    }
  }
  // Longest suffix first, as routing matches hosts (routing/snapshot.cc).
  std::stable_sort(set->wildcards_.begin(), set->wildcards_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  set->files_.assign(files.begin(), files.end());
  if (errors.size() != errors_before) return nullptr;
  return set;
}

TlsContexts::~TlsContexts() {
  for (SSL_CTX* ctx : owned_) SSL_CTX_free(ctx);  // connections still using one hold their own reference
}

const ListenerTls* TlsContexts::listener(std::string_view address) const {
  const auto it = listeners_.find(address);
  return it == listeners_.end() ? nullptr : &it->second;
}

SSL_CTX* TlsContexts::for_server_name(std::string_view name) const {
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return nullptr;
  const std::string key = lower(name);
  if (auto it = exact_.find(key); it != exact_.end()) return it->second;
  for (const auto& [suffix, ctx] : wildcards_) {
    // The suffix keeps its dot: "*.shop.test" never matches "shop.test".
    if (key.size() > suffix.size() && key.ends_with(suffix)) return ctx;
  }
  return nullptr;
}

}  // namespace sg::gateway
