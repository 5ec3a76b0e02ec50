// Which codec serves a new connection: HTTP/1 or HTTP/2. Over TLS, ALPN
// decided during the handshake (RFC 9113 section 3.2); on a plain listener
// with h2c, the first bytes do: a client with prior knowledge starts with
// the preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (section 3.3), which no
// HTTP/1 request can, so 24 bytes at most decide and go to the codec
// chosen. Never `Upgrade: h2c` (RFC 9113 removed it). The selector watches
// the transport only until then; a client that sends a partial preface and
// stalls gets timeouts.client_header, as a partial HTTP/1 head would. A
// drain gives a connection still choosing a moment to finish, then closes it.
#pragma once

#include <string>
#include <string_view>

#include "gateway/http/downstream_stream.h"
#include "gateway/net/deadline.h"
#include "gateway/net/transport.h"

namespace sg::gateway {

class CodecSelector final : public ServerConnection, private TransportObserver {
 public:
  // `h2c`: the listener serves HTTP/2 by prior knowledge. Connections that
  // need no choice (plain without h2c) go straight to HTTP/1.
  static void start(ConnectionHost& host, Transport* transport, std::string listener_name, bool h2c);

  // ServerConnection: a connection still in its TLS handshake (or before
  // its first bytes) is one the worker drains and closes like the others.
  void drain() override;
  void close() override;

 private:
  CodecSelector(ConnectionHost& host, Transport* transport, std::string listener_name, bool h2c)
      : host_(host), transport_(transport), listener_(std::move(listener_name)), h2c_(h2c) {}

  void on_transport_ready() override;
  void on_transport_data(std::string_view data) override;
  void on_transport_end(int status) override;
  void on_transport_written(int) override {}
  void on_transport_shutdown(int) override {}

  void hand_to_http1();
  void hand_to_http2();
  void finish();  // the transport has its codec (or is closed): free ourselves
  static void on_timer(void* self);

  ConnectionHost& host_;
  Transport* transport_;
  std::string listener_;
  std::string read_;  // bytes read while deciding, handed to the codec
  OwnedDeadline timer_;  // client_header or the drain grace; once done, the free
  bool h2c_;
  bool done_ = false;
  bool draining_ = false;
};

}  // namespace sg::gateway
