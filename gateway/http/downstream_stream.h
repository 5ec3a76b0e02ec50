// The stream seam between a downstream codec and the exchange that serves
// one request (Envoy's RequestDecoder/ResponseEncoder, HAProxy's mux_ops).
// A codec (gateway/http1/downstream_connection.h today; an HTTP/2 connection
// later, one stream per h2 stream) turns bytes into request events and
// response calls into bytes; the exchange (gateway/proxy/exchange.h) never
// sees a byte of the downstream protocol. Three interfaces:
//   DownstreamStream  the codec's side of one request: what the exchange calls.
//   StreamHandler     the exchange's side of it: what the codec calls.
//   ConnectionHost    the worker, as a codec needs it: new streams, config,
//                     connection bookkeeping, and the accounting of what
//                     fails before (or without) a request.
// Events flow one way at a time; after any call out, the callee may have
// closed the connection (STYLE.md rule 4): codecs check, and handlers are
// deleted only through ConnectionHost::defer_delete.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "conf/config.h"
#include "gateway/http/head_pool.h"
#include "gateway/http/http_head.h"
#include "gateway/net/transport.h"
#include "metrics/reason.h"

namespace sg::gateway {

class DownstreamStream {
 public:
  // Who the client is (forwarding headers, Secure pins, the access log).
  virtual const ConnectionInfo& connection() const = 0;

  // --- the response, in order: interim heads, one final head, body, end ---
  // Invites a request body the client holds back for it (Expect:
  // 100-continue, RFC 9110 section 10.1.1). False when the client's protocol
  // version has no such thing (HTTP/1.0): nothing was sent.
  virtual bool send_continue() = 0;
  // A 1xx other than 101 from the upstream (100, 103 Early Hints).
  virtual void send_interim_head(const ResponseHead& head) = 0;
  // The final head, or a 101 (then start_tunnel() follows). The codec frames
  // the body from the head, the request's method and version and the status
  // (HTTP/1: Content-Length, re-chunking, none for HEAD/204/304, or until
  // close for HTTP/1.0) and decides whether the connection is kept.
  virtual void send_response_head(const ResponseHead& head) = 0;
  // Body bytes as the upstream sent them, unframed (after a 101: tunnel bytes).
  // `data` stays valid until the flush() that follows (the upstream's read
  // buffer): a stream may keep a view of it until then, not after.
  virtual void send_response_body(std::string_view data) = 0;
  // The body is complete (HTTP/1 chunked: the last chunk).
  virtual void end_response() = 0;
  // Hands what the send_* calls above buffered to the transport: the
  // exchange calls it once per upstream read, so one read is one write.
  virtual void flush() = 0;
  // A whole answer of ours (skew answers, upstream errors), written at once.
  virtual void send_local_answer(int status, const HeaderList& headers, std::string_view body) = 0;
  // Response bytes of this request handed to the client, framing included.
  virtual std::uint64_t bytes_sent() const = 0;

  // --- flow control ---
  // Response bytes not yet taken by the client (back-pressure on the upstream).
  virtual std::size_t queued_bytes() const = 0;
  // Stop / resume delivering request body (or tunnel) bytes: back-pressure
  // from the upstream side.
  virtual void pause_reading() = 0;
  virtual void resume_reading() = 0;

  // --- the end ---
  // After a 101: from now on raw bytes flow both ways (on_tunnel_data).
  virtual void start_tunnel() = 0;
  // Abort: the client's connection (h2: the stream) is closed now, pending
  // bytes dropped. The handler hears on_downstream_gone.
  virtual void reset() = 0;
  // The response was handed over whole. `keep_alive`: the exchange has
  // nothing against serving another request on this connection (the request
  // was read whole, no tunnel); the codec adds what the response head said.
  // The handler is deferred-deleted; it must not touch the stream after.
  virtual void finished(bool keep_alive) = 0;

 protected:
  ~DownstreamStream() = default;
};

class StreamHandler {
 public:
  virtual ~StreamHandler() = default;

  // The request head, vetted (gateway/http1/request_checks.h): decide and go.
  virtual void on_request_head(std::unique_ptr<RequestHead> head) = 0;
  // Request body bytes, unframed; valid only during the call.
  virtual void on_request_body(std::string_view data) = 0;
  virtual void on_request_complete() = 0;
  // After start_tunnel(): the client's raw bytes.
  virtual void on_tunnel_data(std::string_view data) = 0;
  // queued_bytes() fell below the codec's low mark.
  virtual void on_downstream_drained() = 0;
  // The client closed or reset, or one of its deadlines ran out (`detail`,
  // and the `status` the codec answers it with, 0 for none): abort quietly.
  virtual void on_downstream_gone(metrics::Reason detail = metrics::Reason::none, int status = 0) = 0;
  // Some response bytes went out: the codec can no longer answer an error.
  virtual bool response_started() const = 0;
};

// A downstream connection, whatever its protocol, as the worker holds it.
class ServerConnection {
 public:
  // Graceful stop: close when idle, a busy connection after its response.
  virtual void drain() = 0;
  // Now: the drain timed out.
  virtual void close() = 0;

 protected:
  ~ServerConnection() = default;

 private:
  friend class ServerConnectionList;
  ServerConnection* prev_ = nullptr;  // links of the host's ServerConnectionList
  ServerConnection* next_ = nullptr;
};

// The host's open connections, linked through the connections themselves:
// no allocation and no hashing per accepted connection (a hash set's node
// and bucket were about 45 bytes of every idle connection).
class ServerConnectionList {
 public:
  void add(ServerConnection* c) {
    c->prev_ = nullptr;
    c->next_ = head_;
    if (head_) head_->prev_ = c;
    head_ = c;
    ++size_;
  }
  // A connection not in the list is left alone (as a set's erase would).
  void remove(ServerConnection* c) {
    if (c->prev_ == nullptr && head_ != c) return;
    (c->prev_ ? c->prev_->next_ : head_) = c->next_;
    if (c->next_) c->next_->prev_ = c->prev_;
    c->prev_ = c->next_ = nullptr;
    --size_;
  }
  bool empty() const { return head_ == nullptr; }
  std::size_t size() const { return size_; }
  // A copy, for calls that may add or remove connections meanwhile.
  template <class Vector>
  Vector snapshot() const {
    Vector out;
    out.reserve(size_);
    for (ServerConnection* c = head_; c; c = c->next_) out.push_back(c);
    return out;
  }

 private:
  ServerConnection* head_ = nullptr;
  std::size_t size_ = 0;
};

class ConnectionHost {
 public:
  virtual uv_loop_t* loop() = 0;
  // The current config (timeouts, limits, trusted proxies). Read at the
  // moment of use: a reload changes it between two requests.
  virtual const conf::Config& config() const = 0;
  // A handler for a new request on `stream`; on_request_head follows.
  virtual std::unique_ptr<StreamHandler> new_stream(DownstreamStream& stream) = 0;
  // Envoy's deferredDelete: the handler may still be on the stack.
  virtual void defer_delete(std::unique_ptr<StreamHandler> handler) = 0;
  // Open connections, for a graceful drain.
  virtual void add_connection(ServerConnection* connection) = 0;
  virtual void remove_connection(ServerConnection* connection) = 0;
  // A graceful drain runs: no connection is kept alive.
  virtual bool draining() const = 0;
  // The open-connections gauge of one listener (stable for the host's life).
  virtual std::int64_t* connection_gauge(std::string_view listener) = 0;
  // A request refused or a deadline missed (`code`): the reject metric.
  virtual void count_rejection(metrics::Reason code) = 0;
  // ... and its access-log line, when no request (handler) can write it.
  virtual void log_connection_error(std::string_view peer, metrics::Reason code, int status,
                                    std::uint64_t bytes_sent) = 0;
  // An HTTP/2 connection or stream ended by a defence or a protocol error
  // (skewgate_http2_connection_errors_total{reason}).
  virtual void count_http2_error(metrics::Reason code) = 0;
  // The loop's message heads for reuse (head_pool.h); null: parsers allocate.
  virtual HeadPool* head_pool() { return nullptr; }

 protected:
  ~ConnectionHost() = default;
};

}  // namespace sg::gateway
