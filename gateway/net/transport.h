// The transport seam: what a connection reads from and writes to, whatever
// carries the bytes. TcpTransport is a TCP or Unix stream socket; a TLS
// transport sits on top of one and hands plaintext up (nginx swaps recv/send
// for TLS in ngx_event_openssl.c; Envoy's TransportSocket; HAProxy's
// xprt_ops). Codecs (http1/, http2/) see only this interface.
//
// Life cycle: the owner creates a transport, calls start() with its observer,
// and ends it with close(). After close() the observer hears nothing more and
// the transport frees itself once its libuv handles have closed (STYLE.md rule
// 4): the owner drops its pointer at close().
#pragma once

#include <cstddef>
#include <string_view>

#include "gateway/net/peer_address.h"

namespace sg::gateway {

// Who is on the other end, as the request path needs it (forwarding headers,
// Secure pins, the access log). Filled before start() returns. 20 bytes in
// every idle connection: the address is kept as bytes (peer_text() formats
// it), and ALPN and SNI, which only TLS has, are the transport's
// (Transport::alpn(), sni()).
struct ConnectionInfo {
  PeerAddress peer;
  bool peer_trusted = false;  // the peer is in trusted_proxies
  bool secure = false;        // TLS is terminated on this connection
  // The listener's rule for plain requests (listeners[].redirect_https):
  // each gets a 308 to https instead of being routed.
  bool redirect_https = false;
};

class TransportObserver {
 public:
  // The transport can carry application data (TCP: at once, inside start();
  // TLS: when the handshake completed).
  virtual void on_transport_ready() = 0;
  // Plaintext from the peer; valid only during the call.
  virtual void on_transport_data(std::string_view data) = 0;
  // The peer ended the stream (UV_EOF) or it failed (< 0: a reset, a TLS
  // alert, a handshake failure or timeout). Nothing more will be read; the
  // owner decides when to close().
  virtual void on_transport_end(int status) = 0;
  // A write that was queued finished (0) or failed (< 0); writes taken
  // whole by the kernel at once are not reported.
  virtual void on_transport_written(int status) = 0;
  // shutdown() finished: everything queued was sent and the write side is
  // closed (TLS: after close_notify), or it failed (< 0).
  virtual void on_transport_shutdown(int status) = 0;

 protected:
  ~TransportObserver() = default;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Begins the connection (TLS: the handshake). Reading starts paused: call
  // read_start() once ready to take data.
  virtual void start(TransportObserver& observer) = 0;
  // Another observer from now on (a codec chosen after the handshake, by
  // ALPN or the first bytes, takes the connection over).
  virtual void set_observer(TransportObserver& observer) = 0;
  virtual void read_start() = 0;
  virtual void read_stop() = 0;
  // Writes in order; what the kernel does not take at once is copied and
  // queued. Returns 0 or a libuv error (the connection is then unusable).
  virtual int write(std::string_view data) = 0;
  // The same for two pieces (a head and the first body bytes) without joining them.
  virtual int write2(std::string_view first, std::string_view second) = 0;
  // Bytes accepted by write() and not yet handed to the kernel.
  virtual std::size_t queued_bytes() const = 0;
  // Flush, then end the write side; on_transport_shutdown follows.
  virtual int shutdown() = 0;
  // Now: queued bytes are dropped, the observer hears nothing more.
  virtual void close() = 0;
  // TCP keepalive probes after `seconds` of silence (no-op on Unix sockets).
  virtual void set_keepalive(unsigned seconds) = 0;
  virtual const ConnectionInfo& info() const = 0;
  // The protocol ALPN chose and the server name the client asked for, once
  // on_transport_ready() came ("" when none, and on plain TCP). Valid while
  // the transport is open.
  virtual std::string_view alpn() const { return {}; }
  virtual std::string_view sni() const { return {}; }
};

}  // namespace sg::gateway
