#include "gateway/proxy/codec_selector.h"

#include "gateway/http1/downstream_connection.h"
#include "gateway/http2/h2_connection.h"

namespace sg::gateway {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// What HTTP/1's drain gives an idle connection.
constexpr std::uint64_t kDrainGraceMs = 1000;

}  // namespace

void CodecSelector::start(ConnectionHost& host, Transport* transport, std::string listener_name, bool h2c) {
  auto* s = new CodecSelector(host, transport, std::move(listener_name), h2c);
  s->timer_.init(host.loop(), s, on_timer);
  host.add_connection(s);
  transport->start(*s);
}

void CodecSelector::on_transport_ready() {
  if (transport_->alpn() == "h2") {
    hand_to_http2();
    return;
  }
  if (!h2c_ || transport_->info().secure) {
    hand_to_http1();
    return;
  }
  timer_.set(host_.config().timeouts.client_header.count());
  transport_->read_start();
}

void CodecSelector::on_transport_data(std::string_view data) {
  if (done_) return;
  read_.append(data);
  const std::size_t n = std::min(read_.size(), kPreface.size());
  if (read_.compare(0, n, kPreface.substr(0, n)) != 0) {
    hand_to_http1();
  } else if (n == kPreface.size()) {
    hand_to_http2();
  }
}

void CodecSelector::on_transport_end(int) {
  if (done_) return;
  transport_->close();
  finish();
}

void CodecSelector::drain() {
  if (done_ || draining_) return;
  draining_ = true;
  timer_.set(kDrainGraceMs);
}

void CodecSelector::close() {
  if (done_) return;
  transport_->close();
  finish();
}

void CodecSelector::on_timer(void* self) {
  auto* s = static_cast<CodecSelector*>(self);
  if (s->done_) {
    delete s;  // finish() deferred it to the check phase: nothing of ours is on the stack now
    return;
  }
  if (s->draining_) {
    s->close();
    return;
  }
  // Part of a preface, then nothing: HTTP/1 answers it (a 408 or a close).
  s->hand_to_http1();
}

void CodecSelector::hand_to_http1() {
  DownstreamConnection::adopt(host_, transport_, listener_, read_);
  finish();
}

void CodecSelector::hand_to_http2() {
  Http2Connection::start(host_, transport_, listener_, read_);
  finish();
}

// After the codec took the transport (and registered itself): the worker's
// drain never sees an empty set in between.
void CodecSelector::finish() {
  done_ = true;
  host_.remove_connection(this);
  timer_.defer();  // the free (on_timer), in this turn's check phase
}

}  // namespace sg::gateway
