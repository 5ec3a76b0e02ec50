// TLS over another Transport (a TcpTransport): OpenSSL does the protocol
// through a BIO of our own (transport_bio()), so the loop never blocks and no
// record is parsed here. OpenSSL reads ciphertext straight from the bytes the
// inner transport hands up (what it has not taken when the observer pauses is
// kept in `stash_`); the records it writes gather in `out_` and go out through
// the inner transport's write (kernel first, queued when it does not take it
// all). A pair of memory BIOs did the same with a copy more each way, a
// memset of every byte as BUF_MEM grows, and another as it was reset (about
// 50k instructions per 16 KiB response), and kept the capacity they grew to
// during the handshake while the connection was idle.
//
// Handshake: from start() to a finished handshake at most
// timeouts.tls_handshake; a failure or timeout is reported to TlsEvents (the
// worker counts it by reason) and to the observer as on_transport_end(< 0),
// after which the owner closes. on_transport_ready() comes once the handshake
// finished, with alpn() and sni() answering (views into the SSL object).
//
// Reading: the inner transport reads while the handshake runs, then only
// while the observer reads. Plaintext goes up in pieces of at most one
// record (16 KiB). Bytes already read while the observer paused are handed
// up on the loop's next turn after read_start().
//
// Writing: plaintext is encrypted at once (records of at most 16 KiB, in
// slices of kWriteSlice so out_ stays small); queued_bytes() counts
// the ciphertext the inner transport still holds plus plaintext written
// before the handshake finished, so back-pressure works as over TCP.
// shutdown() sends close_notify, then shuts the inner transport down.
//
// Memory: OpenSSL's record buffers (about 34 KiB), `out_` and `stash_` stay
// while the connection is busy and are given back after kBuffersHeldMs
// without a byte in or out, so an idle keep-alive connection holds only the
// SSL state. (OpenSSL's
// SSL_MODE_RELEASE_BUFFERS, as nginx and HAProxy use it, frees and
// allocates them again around every record: about 1,800 instructions per
// keep-alive request.)
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/net/deadline.h"
#include "gateway/net/tls_context.h"
#include "gateway/net/transport.h"
#include "metrics/reason.h"

namespace sg::gateway {

// Hears why a handshake failed: a Reason of metrics::kTlsHandshakeLabels,
// the label set of skewgate_tls_handshake_errors_total{reason}.
class TlsEvents {
 public:
  virtual void on_tls_handshake_error(metrics::Reason reason) = 0;

 protected:
  ~TlsEvents() = default;
};

class TlsTransport final : public Transport, private TransportObserver {
 public:
  // Takes `inner` (closed with this transport). `listener_ctx` is the
  // listener's context in `contexts`, which the connection keeps alive.
  // nullptr when OpenSSL cannot make the connection's state (then `inner`
  // is closed).
  static TlsTransport* create(uv_loop_t* loop, Transport* inner, std::shared_ptr<const TlsContexts> contexts,
                              SSL_CTX* listener_ctx, std::uint64_t handshake_timeout_ms, TlsEvents* events,
                              bool offer_h2 = false);

  void start(TransportObserver& observer) override;
  void set_observer(TransportObserver& observer) override { observer_ = &observer; }
  void read_start() override;
  void read_stop() override;
  int write(std::string_view data) override;
  int write2(std::string_view first, std::string_view second) override;
  std::size_t queued_bytes() const override;
  int shutdown() override;
  void close() override;
  void set_keepalive(unsigned seconds) override;
  const ConnectionInfo& info() const override { return info_; }
  std::string_view alpn() const override;
  std::string_view sni() const override;

  // Plaintext per SSL_write before out_ is handed to the inner
  // transport: four full records.
  static constexpr std::size_t kWriteSlice = 64 * 1024;
  // A record of this size or more is written at once from OpenSSL's buffer
  // (bio_write); smaller ones gather in out_.
  static constexpr std::size_t kDirectRecordBytes = 8 * 1024;
  // Quiet time after which the record buffers are freed.
  static constexpr std::uint64_t kBuffersHeldMs = 250;

 private:
  TlsTransport() = default;
  ~TlsTransport() override;

  // The inner transport's events.
  void on_transport_ready() override;
  void on_transport_data(std::string_view data) override;
  void on_transport_end(int status) override;
  void on_transport_written(int status) override;
  void on_transport_shutdown(int status) override;

  void advance_handshake();
  void fail_handshake(metrics::Reason reason, int status);
  void deliver();
  int encrypt(std::string_view data);
  int flush();
  bool has_buffered() const;
  void schedule_deliver();
  static void on_timer(void* self);
  static void on_quiet(void* self);
  void busy() { buffers_timer_.set(kBuffersHeldMs); }
  void keep_unread();

  static BIO_METHOD* transport_bio();

  // The BIO between OpenSSL and this transport (its data: the transport).
  static int bio_read(BIO* bio, char* data, int size);
  static int bio_write(BIO* bio, const char* data, int size);
  static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr);

  Transport* inner_ = nullptr;
  std::shared_ptr<const TlsContexts> contexts_;
  SSL* ssl_ = nullptr;
  std::string_view in_;        // ciphertext being handed up by the inner transport (during its call)
  std::string stash_;          // ciphertext OpenSSL has not read yet, from stash_off_ (before in_)
  std::size_t stash_off_ = 0;
  std::string out_;            // records OpenSSL wrote, for the inner transport's next write
  int write_error_ = 0;        // an inner write from bio_write failed: flush() says so
  // The handshake deadline; then a zero delay for deliver(); once closing,
  // the free on the loop's next turn (we may be on the stack at close()).
  OwnedDeadline timer_;
  OwnedDeadline buffers_timer_;  // after the handshake: frees the record buffers when quiet
  TransportObserver* observer_ = nullptr;
  TlsEvents* events_ = nullptr;
  ConnectionInfo info_;
  std::uint64_t handshake_timeout_ms_ = 0;
  std::string early_writes_;  // plaintext written before the handshake finished
  int inner_end_ = 0;         // the inner transport's end status, once it ended
  bool handshaking_ = true;
  bool failed_ = false;
  bool reading_ = false;      // the observer wants data
  bool ended_ = false;        // on_transport_end was reported
  bool in_ready_ = false;     // inside the observer's on_transport_ready
  bool closing_ = false;
};

}  // namespace sg::gateway
