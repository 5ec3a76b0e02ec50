// Fuzz target: bytes from a client, split into two reads at a point the
// input chooses (a header value may straddle reads), through the request
// parser with limits and request checks (gateway/request_checks.h), and every
// head it completes through skew::decide.
// Nothing may crash or hang (ASan and libFuzzer check that), and every
// verdict must either answer or name a build to proxy to.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/load.h"
#include "gateway/http1/http_parser.h"
#include "routing/snapshot.h"
#include "skew/decide.h"
#include "skew/pin.h"

namespace {

constexpr char kConfig[] = R"(
listeners: [{address: 127.0.0.1:8080}]
limits: {header_bytes: 8KiB, headers: 50, uri_bytes: 2KiB, body_bytes: 1MiB}
apps:
  - name: shop
    hosts: [shop.test, "*.shop.test"]
    current: dpl-b
    skew: {action_policy: reload}
    builds:
      - {id: dpl-a, upstreams: [127.0.0.1:3001]}
      - {id: dpl-b, upstreams: [127.0.0.1:3002]}
      - {id: dpl-c, upstreams: [127.0.0.1:3003], state: preview}
      - {id: dpl-0, upstreams: [127.0.0.1:3000], state: retired}
)";

bool is_tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

struct World {
  std::shared_ptr<const sg::routing::Snapshot> snapshot;
  sg::skew::PinKeyring keyring{std::vector<std::string>{"fuzzing-secret-of-at-least-thirty-two-bytes"}};
  sg::skew::PinScratch scratch;
};

std::shared_ptr<const sg::routing::Snapshot> make_snapshot() {
  sg::conf::LoadResult loaded = sg::conf::load_string(kConfig, "fuzz.yaml");
  if (!loaded.config) std::abort();
  std::vector<std::string> errors;
  auto snapshot = sg::routing::Snapshot::create(std::move(*loaded.config), errors);
  if (!snapshot) std::abort();
  return snapshot;
}

World& world() {
  static World w{make_snapshot()};
  return w;
}

class Listener final : public sg::gateway::HttpParserListener {
 public:
  sg::gateway::HttpParser* parser = nullptr;  // set once the parser exists

  int on_head_complete() override {
    const std::unique_ptr<sg::gateway::RequestHead> head = parser->take_request();
    if (!head) std::abort();
    // What vet_request_head promises every head that gets through: origin-form
    // (or OPTIONS *), at most one Host, no HTTP2-Settings, Upgrade only for websocket.
    if (head->target != "*" && (head->target.empty() || head->target.front() != '/')) std::abort();
    int hosts = 0;
    for (const auto& field : head->headers) {
      // Every name is an RFC 9110 token: llhttp (strict) and vet_request_head between them.
      if (field.name.empty()) std::abort();
      for (char c : field.name)
        if (!is_tchar(static_cast<unsigned char>(c))) std::abort();
      if (sg::routing::iequals(field.name, "host")) ++hosts;
      if (sg::routing::iequals(field.name, "http2-settings")) std::abort();
      if (sg::routing::iequals(field.name, "upgrade") && (!head->upgrade || field.value != "websocket")) std::abort();
    }
    if (hosts > 1) std::abort();
    World& w = world();
    const sg::routing::RequestView view = head->view();
    const std::uint64_t peek = sg::skew::body_peek_bytes(view, *w.snapshot);
    const sg::skew::DecisionInput input{view, {}, "127.0.0.1", 1'700'000'000'000, &w.keyring, false, false, &w.scratch};
    const sg::skew::Verdict verdict = sg::skew::decide(input, *w.snapshot);
    if (verdict.answer.has_value() == (verdict.target != nullptr)) std::abort();  // exactly one of the two
    if (peek > 0 && head->method != "POST") std::abort();
    return 0;
  }
  int on_body(std::string_view) override { return 0; }
  int on_message_complete() override { return 0; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t split = data[0] % (bytes.size() + 1);
  Listener listener;
  sg::gateway::HttpParser parser(sg::gateway::HttpParser::Mode::request, listener);
  listener.parser = &parser;
  parser.set_limits(&world().snapshot->config().limits);
  parser.set_request_checks(true);
  // As the connection does: each read is parsed once, a pause resumed.
  for (std::string_view read : {bytes.substr(0, split), bytes.substr(split)}) {
    const sg::gateway::HttpParser::Result r = parser.execute(read);
    if (r.consumed > read.size()) std::abort();
    if (r.error != HPE_OK && r.error != HPE_PAUSED) {
      // A refusal always has a 4xx (or 505 for an HTTP version it does not
      // speak, RFC 9110 section 15.6.6) and a code for the response and the log.
      const sg::gateway::ParseRejection rejection = parser.rejection();
      const bool client_error = rejection.status >= 400 && rejection.status <= 499;
      if ((!client_error && rejection.status != 505) || rejection.code == sg::metrics::Reason::none) std::abort();
      break;
    }
  }
  return 0;
}
