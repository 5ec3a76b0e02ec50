// The TLS server side of one configuration: one SSL_CTX per certificate,
// built on the control thread when a config is loaded (start, --check,
// reload), immutable after that and handed to the workers with the config.
// A connection takes its SSL from its listener's context and keeps it (and
// this set, through a shared_ptr) until it closes: a reload changes only new
// handshakes.
//
// Every context: TLS 1.2 and 1.3 only, the server's cipher order, the
// configured TLS 1.2 list (tls.ciphers; Mozilla "intermediate" by default)
// and TLS 1.3 suites (tls.ciphersuites; OpenSSL's defaults), ALPN h2 (on a
// listener with http2; see offer_h2) and http/1.1
// only (RFC 7301 section 3.2: a client that offers neither gets
// no_application_protocol), no compression (CRIME), no renegotiation,
// stateless session tickets from the process's TicketKeyRing and no session
// cache. SNI (RFC 6066 section 3) picks an app's certificate by the app's
// hosts, exact first, then the longest wildcard suffix; an unknown name or
// none gets the listener's certificate.
//
// Errors name the config line, the file and OpenSSL's reason; no message
// here ever holds a byte of a key file, and the key's text is wiped from
// memory once OpenSSL has parsed it.
#pragma once

#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "conf/config.h"
#include "gateway/net/tls_ticket_keys.h"

namespace sg::gateway {

// What a listener does about TLS. `ctx` null: plain.
struct ListenerTls {
  SSL_CTX* ctx = nullptr;
  // A plain listener that answers every request with a 308 to https
  // (listeners[].redirect_https): carried here because it changes with the
  // listener's TLS settings on a reload.
  bool redirect_https = false;
  // ALPN offers h2 before http/1.1 (listeners[].http2, TLS only).
  bool http2 = false;
  // Plain HTTP/2 by prior knowledge (listeners[].h2c).
  bool h2c = false;
};

// Marks a connection's SSL before its handshake: ALPN may choose h2 on it
// (the choice is per listener, while SNI may move the SSL to an app's
// context that several listeners share).
void offer_h2(SSL* ssl);

class TlsContexts {
 public:
  // Reads every certificate and key of `config` (listeners and apps).
  // nullptr with one line per problem in `errors` when any is missing,
  // unreadable, not PEM, expired, or when a key does not match its
  // certificate. `ring` is shared by every context (and outlives them).
  static std::shared_ptr<const TlsContexts> build(const conf::Config& config, std::shared_ptr<TicketKeyRing> ring,
                                                  std::vector<std::string>& errors);
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  // The listener written as `address` in the config (conf::SocketAddress::
  // to_string()); nullptr when it is neither TLS nor redirecting nor h2c.
  const ListenerTls* listener(std::string_view address) const;
  // The app context for an SNI name (any case, a trailing dot ignored);
  // nullptr: keep the listener's.
  SSL_CTX* for_server_name(std::string_view name) const;
  // Every certificate and key file read, for the file watch.
  const std::vector<std::string>& files() const { return files_; }
  bool any() const { return !owned_.empty(); }

 private:
  TlsContexts() = default;
  std::vector<SSL_CTX*> owned_;
  std::map<std::string, ListenerTls, std::less<>> listeners_;
  std::unordered_map<std::string, SSL_CTX*> exact_;
  std::vector<std::pair<std::string, SSL_CTX*>> wildcards_;  // ".suffix", longest first
  std::vector<std::string> files_;
  std::shared_ptr<TicketKeyRing> ring_;
};

}  // namespace sg::gateway
