// TlsTransport on a real loop (issue 16 step 2): a request over TLS proxied
// byte for byte, back-pressure through TLS (a client that does not read
// blocks the upstream's send() long before the whole body is read), a client
// that never finishes its handshake closed after timeouts.tls_handshake, one
// that leaves mid-handshake, and no libuv handle left open after any of them.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "gateway/net/tls_transport.h"
#include "proxy_fixture.h"
#include "scripted_upstream.h"

using namespace loop_test;

namespace {

// A self-signed P-256 certificate for shop.test and its key, as PEM files in
// a temp dir (removed with the object).
struct SelfSigned {
  std::string dir;
  std::string cert;
  std::string key;

  SelfSigned() {
    char tmpl[] = "/tmp/skewgate-loop-tls-XXXXXX";
    dir = ::mkdtemp(tmpl);
    cert = dir + "/cert.pem";
    key = dir + "/key.pem";
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("shop.test"), -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509_sign(x, pkey, EVP_sha256());
    FILE* f = std::fopen(cert.c_str(), "w");
    PEM_write_X509(f, x);
    std::fclose(f);
    f = std::fopen(key.c_str(), "w");
    PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    X509_free(x);
    EVP_PKEY_free(pkey);
  }
  ~SelfSigned() {
    ::unlink(cert.c_str());
    ::unlink(key.c_str());
    ::rmdir(dir.c_str());
  }
  std::string listener() const { return "tls: {cert: " + cert + ", key: " + key + "}"; }
};

// A blocking TLS client (no certificate check: the test is about transport).
class TlsClient {
 public:
  TlsClient(std::uint16_t port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "shop.test");
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  int fd() const { return fd_; }
  bool handshake() { return connected_ && SSL_connect(ssl_) == 1; }
  bool send(std::string_view data) {
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size());
  }
  // Up to `max` bytes; "" at the end or on an error.
  std::string read_some(std::size_t max = 64 * 1024) {
    std::string out(max, '\0');
    const int n = SSL_read(ssl_, out.data(), static_cast<int>(max));
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }
  std::string protocol() const { return SSL_get_version(ssl_); }
  // Reads until the connection ends; true when it ended with the server's
  // close_notify (an orderly TLS close), false on a bare EOF or reset.
  bool ends_with_close_notify() {
    char buffer[4096];
    for (;;) {
      const int n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n > 0) continue;
      const bool orderly = SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN;
      ERR_clear_error();
      return orderly;
    }
  }
  // `data` as two TLS records whose bytes reach the socket in two writes,
  // the first record and 3 bytes of the second's header, then after a pause
  // the rest: the proxy decrypts one record while a partial one waits.
  bool send_split(std::string_view data) {
    BIO* socket_bio = SSL_get_wbio(ssl_);
    BIO_up_ref(socket_bio);
    BIO* capture = BIO_new(BIO_s_mem());
    SSL_set0_wbio(ssl_, capture);
    const std::size_t half = data.size() / 2;
    bool written = SSL_write(ssl_, data.data(), static_cast<int>(half)) == static_cast<int>(half);
    const std::size_t first_record = static_cast<std::size_t>(BIO_ctrl_pending(capture));
    written = written && SSL_write(ssl_, data.data() + half, static_cast<int>(data.size() - half)) ==
                             static_cast<int>(data.size() - half);
    char* bytes = nullptr;
    const long size = BIO_get_mem_data(capture, &bytes);
    const std::string records(bytes, static_cast<std::size_t>(size > 0 ? size : 0));
    SSL_set0_wbio(ssl_, socket_bio);  // frees the capture BIO
    if (!written || records.size() < first_record + 8) return false;
    const auto send_all = [this](std::string_view part) {
      return ::send(fd_, part.data(), part.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(part.size());
    };
    if (!send_all(std::string_view(records).substr(0, first_record + 3))) return false;
    sleep_ms(50);
    return send_all(std::string_view(records).substr(first_record + 3));
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

constexpr std::uint64_t kLargeBody = 32ull << 20;
constexpr std::size_t kBlock = 64 * 1024;

ProxyOptions tls_options(const SelfSigned& cert, const std::string& upstream, std::string timeouts = kDefaultTimeouts) {
  ProxyOptions options;
  options.builds = {{"dpl-a", upstream}};
  options.timeouts = std::move(timeouts);
  options.listener_extra = cert.listener();
  return options;
}

}  // namespace

TEST_CASE("tls: a request and its response cross the TLS transport byte for byte") {
  SelfSigned cert;
  const std::string body = pattern(200 * 1024 + 7);  // several records, not a multiple of 16 KiB
  ScriptedUpstream upstream([&body](Wire& conn, int) {
    std::optional<Request> request = read_request(conn);
    if (!request) return;
    conn.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\nx-proto: " +
              request->head.header("x-forwarded-proto") + "\r\n\r\n" + body);
  });
  Proxy proxy(tls_options(cert, upstream.address()));
  TlsClient client(proxy.port());
  REQUIRE(client.handshake());
  CHECK((client.protocol() == "TLSv1.3"));
  REQUIRE(client.send(get_request("/tls")));
  std::string received;
  while (received.find("\r\n\r\n") == std::string::npos || received.size() < body.size()) {
    const std::string piece = client.read_some();
    if (piece.empty()) break;
    received += piece;
  }
  const std::size_t head_end = received.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  CHECK(received.find("x-proto: https\r\n") != std::string::npos);
  CHECK(received.substr(head_end + 4) == body);
}

TEST_CASE("tls: a keep-alive connection works after a quiet spell and with records cut in pieces") {
  // After TlsTransport::kBuffersHeldMs without traffic the proxy frees the
  // connection's record buffers (SSL_free_buffers); the next request must
  // find them again. A record that arrives in two reads must wait for its
  // second half, not be taken for the end of the data.
  SelfSigned cert;
  const std::string body = pattern(40 * 1024 + 3);  // three records
  ScriptedUpstream upstream([&body](Wire& conn, int) {
    while (std::optional<Request> request = read_request(conn, 10000)) {
      conn.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\nx-path: " +
                request->head.target() + "\r\n\r\n" + body);
    }
  });
  Proxy proxy(tls_options(cert, upstream.address()));
  TlsClient client(proxy.port());
  REQUIRE(client.handshake());
  const auto exchange = [&client, &body](const std::string& path, bool split) {
    const std::string request = get_request(path);
    if (!(split ? client.send_split(request) : client.send(request))) return std::string("send failed");
    std::string received;
    for (;;) {
      const std::size_t head_end = received.find("\r\n\r\n");
      if (head_end != std::string::npos && received.size() >= head_end + 4 + body.size()) break;
      const std::string piece = client.read_some();
      if (piece.empty()) return std::string("closed after ") + std::to_string(received.size()) + " bytes";
      received += piece;
    }
    const std::size_t head_end = received.find("\r\n\r\n");
    if (received.find("x-path: " + path + "\r\n") == std::string::npos) return std::string("wrong head");
    return received.substr(head_end + 4) == body ? std::string("ok") : std::string("body differs");
  };
  CHECK(exchange("/first", false) == "ok");
  sleep_ms(static_cast<int>(sg::gateway::TlsTransport::kBuffersHeldMs) + 250);
  CHECK(exchange("/after-quiet", false) == "ok");
  CHECK(exchange("/split", true) == "ok");
  sleep_ms(static_cast<int>(sg::gateway::TlsTransport::kBuffersHeldMs) + 250);
  CHECK(exchange("/split-after-quiet", true) == "ok");
  CHECK(upstream.accepted() == 1);
}

TEST_CASE("tls: the idle and header timeouts end a TLS connection with close_notify") {
  SelfSigned cert;
  ScriptedUpstream upstream([](Wire& conn, int) {
    while (read_request(conn, 5000)) conn.send("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  Proxy proxy(tls_options(cert, upstream.address(),
                          "{upstream_connect: 500ms, upstream_response: 1s, client_header: 300ms, "
                          "client_idle: 300ms, drain: 2s, upstream_idle: 1s}"));
  // Keep-alive idle timeout after one request.
  TlsClient idle(proxy.port());
  REQUIRE(idle.handshake());
  REQUIRE(idle.send(get_request("/")));
  CHECK(idle.read_some().find("200 OK") != std::string::npos);
  CHECK(idle.ends_with_close_notify());
  // Handshake done, no request ever: the header timeout, nothing to answer.
  TlsClient silent(proxy.port());
  REQUIRE(silent.handshake());
  CHECK(silent.ends_with_close_notify());
}

TEST_CASE("tls: a client that does not read makes the upstream's send() block") {
  SelfSigned cert;
  std::atomic<std::uint64_t> sent{0};
  ScriptedUpstream upstream([&sent](Wire& conn, int) {
    if (!read_request(conn)) return;
    conn.set_sndbuf(64 * 1024);
    if (!conn.send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kLargeBody) + "\r\n\r\n")) return;
    const std::string block = pattern(kBlock);
    while (sent.load() < kLargeBody) {
      if (!conn.send(block, 20000)) return;
      sent += block.size();
    }
    conn.stall(5000);
  });
  Proxy proxy(tls_options(cert, upstream.address(),
                          "{upstream_connect: 500ms, upstream_response: 10s, client_header: 1s, client_idle: 2s, "
                          "drain: 2s, upstream_idle: 1s, client_send: 20s}"));
  TlsClient client(proxy.port(), 64 * 1024);
  REQUIRE(client.handshake());
  REQUIRE(client.send(get_request("/big")));
  // The client reads nothing: the proxy's write queue (ciphertext) passes
  // the watermark and the upstream is paused.
  const std::uint64_t pushed = wait_until_stalled(sent, 300, 5000);
  INFO("upstream pushed " << (pushed >> 10) << " KiB while the client read nothing");
  CHECK(pushed < kLargeBody / 2);
  // Then everything arrives, intact.
  std::string carry;
  std::uint64_t total = 0;
  bool head_seen = false;
  bool intact = true;
  const std::string block = pattern(kBlock);
  while (total < kLargeBody) {
    std::string piece = client.read_some();
    if (piece.empty()) break;
    carry += piece;
    if (!head_seen) {
      const std::size_t end = carry.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      carry.erase(0, end + 4);
      head_seen = true;
    }
    while (carry.size() >= kBlock) {
      if (carry.compare(0, kBlock, block) != 0) intact = false;
      carry.erase(0, kBlock);
      total += kBlock;
    }
  }
  CHECK(total == kLargeBody);
  CHECK(intact);
}

TEST_CASE("tls: a client that never finishes its handshake is closed after tls_handshake") {
  SelfSigned cert;
  ScriptedUpstream upstream([](Wire&, int) {});
  Proxy proxy(tls_options(cert, upstream.address(),
                          "{upstream_connect: 500ms, upstream_response: 1s, client_header: 5s, client_idle: 5s, "
                          "drain: 2s, upstream_idle: 1s, tls_handshake: 300ms}"));
  Wire silent = proxy.connect();
  const auto started = Clock::now();
  CHECK(silent.wait_closed(3000));
  CHECK(Clock::now() - started >= milliseconds(250));
  // Half a ClientHello, then nothing: the same.
  Wire partial = proxy.connect();
  REQUIRE(partial.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
  CHECK(partial.wait_closed(3000));
  CHECK(upstream.accepted() == 0);
}

TEST_CASE("tls: a client that leaves mid-handshake, and plain HTTP on the TLS port") {
  SelfSigned cert;
  ScriptedUpstream upstream([](Wire&, int) {});
  Proxy proxy(tls_options(cert, upstream.address()));
  {
    Wire gone = proxy.connect();
    REQUIRE(gone.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
    gone.reset();
  }
  Wire plain = proxy.connect();
  REQUIRE(plain.send(get_request("/")));
  const std::string answer = plain.read_to_eof(3000);
  CHECK(answer.find("HTTP/") == std::string::npos);
  // A TLS client still gets served after both.
  TlsClient client(proxy.port());
  CHECK(client.handshake());
  CHECK(upstream.accepted() == 0);
}
