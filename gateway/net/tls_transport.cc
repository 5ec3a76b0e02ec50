#include "gateway/net/tls_transport.h"

#include <openssl/err.h>

#include <cstring>

namespace sg::gateway {
namespace {

// What OpenSSL's first queued error says about a failed handshake.
metrics::Reason classify(unsigned long code) {
  if (code == 0 || ERR_GET_LIB(code) != ERR_LIB_SSL) return metrics::Reason::handshake_failed;
  switch (ERR_GET_REASON(code)) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_LENGTH_MISMATCH:
    case SSL_R_LENGTH_TOO_SHORT:
    case SSL_R_BAD_PACKET_LENGTH:
    case SSL_R_RECORD_TOO_SMALL:
      return metrics::Reason::not_tls;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_UNKNOWN_PROTOCOL:
      return metrics::Reason::protocol_version;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
      return metrics::Reason::no_shared_cipher;
    case SSL_R_NO_APPLICATION_PROTOCOL:
      return metrics::Reason::no_application_protocol;
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
      return metrics::Reason::certificate_rejected;
    default:
      return metrics::Reason::handshake_failed;
  }
}

// One TLS record's plaintext at most (RFC 8446 section 5.1).
constexpr std::size_t kRecordBytes = 16 * 1024;

// SSL_get_error needs an empty error queue before the call it explains.
// Failures clear it after themselves, so it is almost always empty already:
// peeking is a read, where ERR_clear_error walks all sixteen slots (about
// 800 instructions, three times per request before this guard).
void clear_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace

// One method for every connection, made once (thread-safe static
// initialisation) and never changed after: OpenSSL reads it, nobody writes.
BIO_METHOD* TlsTransport::transport_bio() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "skewgate transport");
    if (m == nullptr) return m;
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_ctrl(m, bio_ctrl);
    // BIO_read/BIO_write refuse a BIO that is not marked initialised.
    BIO_meth_set_create(m, [](BIO* bio) {
      BIO_set_init(bio, 1);
      return 1;
    });
    BIO_meth_set_destroy(m, [](BIO*) { return 1; });
    return m;
  }();
  return method;
}

// OpenSSL asks for a record's header, then its body (no read-ahead): served
// from what an earlier pass left, then from the bytes being handed up; none
// left means "wait for more", never end of file.
int TlsTransport::bio_read(BIO* bio, char* data, int size) {
  auto* t = static_cast<TlsTransport*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  const auto want = static_cast<std::size_t>(size);
  if (t->stash_off_ < t->stash_.size()) {
    const std::size_t n = std::min(want, t->stash_.size() - t->stash_off_);
    std::memcpy(data, t->stash_.data() + t->stash_off_, n);
    t->stash_off_ += n;
    if (t->stash_off_ == t->stash_.size()) {
      t->stash_.clear();
      t->stash_off_ = 0;
    }
    return static_cast<int>(n);
  }
  if (!t->in_.empty()) {
    const std::size_t n = std::min(want, t->in_.size());
    std::memcpy(data, t->in_.data(), n);
    t->in_.remove_prefix(n);
    return static_cast<int>(n);
  }
  BIO_set_retry_read(bio);
  return -1;
}

// Records for the peer: small ones gather until flush() hands them to the
// inner transport, so a small response's records leave in one write; a
// large one (a full record of a body) goes out at once with what gathered
// before it, from OpenSSL's buffer, without a copy (as nginx and HAProxy
// write each record to the socket). A failed write is reported by flush().
int TlsTransport::bio_write(BIO* bio, const char* data, int size) {
  auto* t = static_cast<TlsTransport*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  const std::string_view record(data, static_cast<std::size_t>(size));
  if (record.size() < kDirectRecordBytes || t->write_error_ != 0) {
    t->out_.append(record);
    return size;
  }
  const int rc = t->out_.empty() ? t->inner_->write(record) : t->inner_->write2(t->out_, record);
  t->out_.clear();
  if (rc != 0) t->write_error_ = rc;
  return size;
}

long TlsTransport::bio_ctrl(BIO* bio, int cmd, long, void*) {
  auto* t = static_cast<TlsTransport*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;  // flush() sends out_ after every call into OpenSSL
    case BIO_CTRL_PENDING: return static_cast<long>(t->stash_.size() - t->stash_off_ + t->in_.size());
    case BIO_CTRL_WPENDING: return static_cast<long>(t->out_.size());
    default: return 0;
  }
}

TlsTransport* TlsTransport::create(uv_loop_t* loop, Transport* inner, std::shared_ptr<const TlsContexts> contexts,
                                   SSL_CTX* listener_ctx, std::uint64_t handshake_timeout_ms, TlsEvents* events,
                                   bool h2) {
  BIO_METHOD* method = transport_bio();
  SSL* ssl = SSL_new(listener_ctx);
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (ssl == nullptr || bio == nullptr) {
    SSL_free(ssl);
    BIO_free(bio);
    ERR_clear_error();
    inner->close();
    return nullptr;
  }
  auto* t = new TlsTransport;
  BIO_set_data(bio, t);
  SSL_set_bio(ssl, bio, bio);  // one reference, owned by ssl
  SSL_set_accept_state(ssl);
  if (h2) offer_h2(ssl);
  t->inner_ = inner;
  t->contexts_ = std::move(contexts);
  t->ssl_ = ssl;
  t->events_ = events;
  t->handshake_timeout_ms_ = handshake_timeout_ms;
  t->info_ = inner->info();
  t->info_.secure = true;
  t->timer_.init(loop, t, on_timer);
  t->buffers_timer_.init(loop, t, on_quiet);
  return t;
}

TlsTransport::~TlsTransport() { SSL_free(ssl_); }

// Views into the SSL object, which lives as long as the transport: no copy
// per connection.
std::string_view TlsTransport::alpn() const {
  if (handshaking_) return {};
  const unsigned char* alpn = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(ssl_, &alpn, &size);
  return alpn != nullptr ? std::string_view(reinterpret_cast<const char*>(alpn), size) : std::string_view();
}

std::string_view TlsTransport::sni() const {
  if (handshaking_) return {};
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name != nullptr ? std::string_view(name) : std::string_view();
}

void TlsTransport::start(TransportObserver& observer) {
  observer_ = &observer;
  inner_->start(*this);  // TCP: on_transport_ready at once
}

// The inner transport is connected: wait for the ClientHello.
void TlsTransport::on_transport_ready() {
  if (closing_) return;
  timer_.set(handshake_timeout_ms_);
  inner_->read_start();
}

void TlsTransport::on_timer(void* self) {
  auto* t = static_cast<TlsTransport*>(self);
  if (t->closing_) {
    delete t;  // close() set this turn's deadline: nothing of ours is on the stack now
    return;
  }
  if (t->handshaking_) {
    t->fail_handshake(metrics::Reason::handshake_timeout, UV_ETIMEDOUT);
    return;
  }
  t->deliver();
}

void TlsTransport::on_quiet(void* self) {
  auto* t = static_cast<TlsTransport*>(self);
  if (t->closing_ || t->handshaking_ || t->failed_) return;
  // Refused (0) while a buffer holds data: then the next busy() re-arms.
  SSL_free_buffers(t->ssl_);
  if (t->stash_off_ == t->stash_.size()) {
    std::string().swap(t->stash_);
    t->stash_off_ = 0;
  }
  if (t->out_.empty()) std::string().swap(t->out_);
}

void TlsTransport::on_transport_data(std::string_view data) {
  if (closing_ || failed_) return;
  if (!handshaking_) busy();
  // OpenSSL reads `data` through bio_read during this call; what it leaves
  // (the observer paused) is kept. The inner transport reads at most one
  // loop buffer at a time and stops while the observer pauses.
  in_ = data;
  if (handshaking_) {
    advance_handshake();
  } else if (reading_) {
    deliver();
  }
  keep_unread();
}

void TlsTransport::keep_unread() {
  if (in_.empty()) return;
  if (!closing_ && !failed_) {
    if (stash_off_ > 0) {
      stash_.erase(0, stash_off_);
      stash_off_ = 0;
    }
    stash_.append(in_);
  }
  in_ = {};
}

void TlsTransport::advance_handshake() {
  clear_errors();
  const int rc = SSL_do_handshake(ssl_);
  if (rc != 1) {
    const int error = SSL_get_error(ssl_, rc);
    const unsigned long code = ERR_peek_error();
    // An alert for the client, if OpenSSL wrote one, goes out before we close.
    const int flushed = flush();
    if (error == SSL_ERROR_WANT_READ && flushed == 0) return;
    fail_handshake(flushed != 0 ? metrics::Reason::handshake_aborted : classify(code), UV_EPROTO);
    return;
  }
  // The server's last flight (and TLS 1.3 session tickets).
  if (flush() != 0) {
    fail_handshake(metrics::Reason::handshake_aborted, UV_EPIPE);
    return;
  }
  handshaking_ = false;
  if (!closing_) timer_.clear();  // once closing, timer_ holds the free
  busy();
  // The observer usually starts reading in on_transport_ready: the inner
  // transport keeps reading across the call (no stop/start pair), and what
  // is already buffered is handed up below, not through a timer.
  in_ready_ = true;
  observer_->on_transport_ready();
  in_ready_ = false;
  if (closing_) return;
  if (!reading_) inner_->read_stop();
  if (!early_writes_.empty()) {
    const std::string pending = std::move(early_writes_);
    early_writes_.clear();
    if (encrypt(pending) != 0 || flush() != 0) {
      if (!ended_) {
        ended_ = true;
        observer_->on_transport_end(UV_EPIPE);
      }
      return;
    }
  }
  // TLS 1.3 clients may send their request with their Finished message.
  if (reading_) deliver();
}

void TlsTransport::fail_handshake(metrics::Reason reason, int status) {
  if (failed_ || closing_) return;
  failed_ = true;
  handshaking_ = false;
  ERR_clear_error();
  timer_.clear();
  inner_->read_stop();
  if (events_) events_->on_tls_handshake_error(reason);
  ended_ = true;
  observer_->on_transport_end(status);
}

void TlsTransport::on_transport_end(int status) {
  if (closing_ || failed_) return;
  if (handshaking_) {
    fail_handshake(metrics::Reason::handshake_aborted, status);
    return;
  }
  inner_end_ = status == 0 ? UV_EOF : status;
  if (reading_) deliver();  // what is still buffered first, then the end
}

bool TlsTransport::has_buffered() const {
  return stash_off_ < stash_.size() || !in_.empty() || SSL_pending(ssl_) > 0;
}

void TlsTransport::schedule_deliver() {
  if (!timer_.armed()) timer_.set(0);
}

// Hands up what OpenSSL can read (stash_, then in_) while the observer
// reads. Each pass is bounded: there is at most what the inner transport
// read since the last pass.
void TlsTransport::deliver() {
  std::array<char, kRecordBytes> plain;
  while (reading_ && !closing_ && !ended_) {
    clear_errors();
    const int n = SSL_read(ssl_, plain.data(), static_cast<int>(plain.size()));
    if (n > 0) {
      observer_->on_transport_data(std::string_view(plain.data(), static_cast<std::size_t>(n)));
      // Nothing left to decrypt: another SSL_read would only say WANT_READ
      // (a partial record waits in OpenSSL's buffer for the rest of it).
      // Whatever it wrote meanwhile (a TLS 1.3 key update) goes out now.
      if (inner_end_ == 0 && !has_buffered()) {
        if (flush() != 0 && !ended_ && !closing_) {
          ended_ = true;
          observer_->on_transport_end(UV_EPIPE);
        }
        return;
      }
      continue;
    }
    const int error = SSL_get_error(ssl_, n);
    // SSL_read may have answered something (a TLS 1.3 key update).
    const int flushed = flush();
    if (error == SSL_ERROR_WANT_READ && flushed == 0) {
      if (inner_end_ != 0) {
        ended_ = true;  // the peer went away without close_notify: HTTP framing tells truncation
        observer_->on_transport_end(inner_end_);
      }
      return;
    }
    ended_ = true;
    ERR_clear_error();
    // close_notify (RFC 8446 section 6.1): the peer's orderly end.
    observer_->on_transport_end(error == SSL_ERROR_ZERO_RETURN ? UV_EOF : UV_EPROTO);
    return;
  }
}

void TlsTransport::read_start() {
  if (closing_ || reading_) return;
  reading_ = true;
  if (handshaking_ || failed_) return;  // the handshake reads anyway
  inner_->read_start();
  // Already read while paused: handed up on the loop's next turn, never from
  // inside the caller (which may be in the middle of its own callback).
  if (!in_ready_ && (has_buffered() || (inner_end_ != 0 && !ended_))) schedule_deliver();
}

void TlsTransport::read_stop() {
  if (!reading_) return;
  reading_ = false;
  if (!handshaking_) inner_->read_stop();
}

int TlsTransport::encrypt(std::string_view data) {
  busy();
  while (!data.empty()) {
    const std::size_t size = std::min(data.size(), kWriteSlice);
    clear_errors();
    // A memory BIO takes every record, so SSL_write writes all of it.
    const int n = SSL_write(ssl_, data.data(), static_cast<int>(size));
    if (n <= 0) {
      ERR_clear_error();
      return UV_EPROTO;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    if (!data.empty()) {
      if (const int rc = flush(); rc != 0) return rc;
    }
  }
  return 0;
}

// The records OpenSSL wrote to the inner transport, which copies what the
// kernel does not take at once; out_ keeps its capacity while busy.
int TlsTransport::flush() {
  if (write_error_ != 0) return write_error_;
  if (out_.empty()) return 0;
  const int rc = inner_->write(out_);
  out_.clear();
  return rc;
}

int TlsTransport::write(std::string_view data) {
  if (closing_ || failed_) return UV_ECANCELED;
  if (handshaking_) {
    early_writes_.append(data);
    return 0;
  }
  if (const int rc = encrypt(data); rc != 0) return rc;
  return flush();
}

int TlsTransport::write2(std::string_view first, std::string_view second) {
  if (closing_ || failed_) return UV_ECANCELED;
  if (handshaking_) {
    early_writes_.append(first);
    early_writes_.append(second);
    return 0;
  }
  // A small head and the first body bytes: one flush, one system call.
  if (const int rc = encrypt(first); rc != 0) return rc;
  if (const int rc = encrypt(second); rc != 0) return rc;
  return flush();
}

// out_ is empty here: every encrypt() is followed by flush().
std::size_t TlsTransport::queued_bytes() const {
  return inner_->queued_bytes() + early_writes_.size();
}

void TlsTransport::on_transport_written(int status) {
  if (closing_) return;
  if (handshaking_) {
    if (status < 0) fail_handshake(metrics::Reason::handshake_aborted, status);
    return;
  }
  if (!failed_) observer_->on_transport_written(status);
}

int TlsTransport::shutdown() {
  if (closing_) return UV_ECANCELED;
  if (!handshaking_ && !failed_) {
    clear_errors();
    SSL_shutdown(ssl_);  // queues close_notify; the peer's is not awaited
    ERR_clear_error();
    if (const int rc = flush(); rc != 0) return rc;
  }
  return inner_->shutdown();
}

void TlsTransport::on_transport_shutdown(int status) {
  if (!closing_) observer_->on_transport_shutdown(status);
}

void TlsTransport::set_keepalive(unsigned seconds) { inner_->set_keepalive(seconds); }

void TlsTransport::close() {
  if (closing_) return;
  closing_ = true;
  inner_->close();
  buffers_timer_.clear();
  timer_.set(0);  // the free (on_timer), once whoever called us has returned
}

}  // namespace sg::gateway
