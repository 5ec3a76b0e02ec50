// Fuzz target: bytes from an admin client, through the request parser with
// the admin listener's limits into an AdminRequest (as AdminConnection
// does), then AdminApi::handle() over a real ControlPlane, and the answer
// rendered. The first byte chooses an API without a token (loopback
// default) or one with the token "fuzz-token" (the seeds carry it, so the
// fuzzer gets past authentication). Checks: every answer has a status from
// 200 to 599 and a JSON body when it is JSON.
//
// Where it writes: only in a directory of its own made by mkdtemp under
// /dev/shm (tmpfs, so the fsync of every registry write costs nothing and
// no disk is touched; /tmp when /dev/shm is missing), removed at exit.
// state_dir is the only path the control plane writes to. Manifest paths in
// bodies are read, never written; the target skips bodies naming a manifest
// outside its directory, so it never opens /dev/zero, a FIFO or a user's
// files (unbounded manifest reads are issue 13 item 3, tested there).
//
// No network: register and promote would probe the build's upstreams
// (build_verifier.h); here a verifier that opens no socket answers at once
// (no ID reported), so every answer comes back synchronously.
//
// Staying fast and deterministic: most inputs end in routing, auth or body
// validation, which touch no file. A POST that succeeds may have changed
// the registry on disk, so the next input starts
// from a fresh control plane over the same seeded registry: every input
// sees the same state.
#include <uv.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/admin/admin_api.h"
#include "gateway/admin/admin_server.h"
#include "gateway/control/build_verifier.h"
#include "gateway/control/control_plane.h"
#include "gateway/http1/http_parser.h"
#include "gateway/http1/local_reply.h"
#include "skew/pin.h"

namespace {

using sg::gateway::AdminApi;
using sg::gateway::AdminRequest;
using sg::gateway::AdminResponse;
using sg::gateway::ControlPlane;
using sg::gateway::HttpParser;

// Every build passes, at once, without a socket.
class ImmediateVerifier final : public sg::gateway::BuildVerifier {
 public:
  void verify(std::vector<sg::gateway::VerifyTarget>, Done done) override { done(sg::gateway::VerifyOutcome{}); }
  void stop() override {}
};

// The answer of an operation that must answer synchronously here.
ControlPlane::ApiResult now(const std::function<void(ControlPlane::Done)>& op) {
  std::optional<ControlPlane::ApiResult> result;
  op([&result](ControlPlane::ApiResult r) { result = std::move(r); });
  if (!result) std::abort();
  return *result;
}

// As admin_server.cc's kAdminLimits: header bytes, headers, URI bytes, body.
const sg::conf::Limits kAdminLimits{16 * 1024, 100, 8 * 1024, sg::gateway::AdminServer::kMaxBodyBytes};

std::string make_dir() {
  const char* base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  std::string dir = std::string(base) + "/skewgate-admin-fuzz.XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) std::abort();
  return dir;
}

struct World {
  std::string dir = make_dir();
  std::string config_path = dir + "/skewgate.yaml";
  std::string manifest = dir + "/manifest.json";
  uv_loop_t loop{};
  sg::skew::PinKeyring keyring{std::vector<std::string>{"fuzzing-secret-of-at-least-thirty-two-bytes"}};
  std::unique_ptr<ControlPlane> control;
  std::unique_ptr<AdminApi> open_api;
  std::unique_ptr<AdminApi> token_api;

  World() {
    if (uv_loop_init(&loop) != 0) std::abort();
    std::ofstream(config_path) << "listeners: [{address: 127.0.0.1:8080}]\n"
                                  "admin: {address: 127.0.0.1:9901}\n"
                                  // Names in fuzzed bodies are looked up on loopback, where
                                  // nothing answers (refused at once), never on the network.
                                  "dns: {servers: [\"127.0.0.1:9\"]}\n"
                                  "state_dir: " << dir << "/state\n"
                                  "apps:\n"
                                  "  - {name: shop, hosts: [shop.test], registry: api}\n"
                                  "  - {name: empty, hosts: [empty.test], registry: api}\n"
                                  "  - name: blog\n"
                                  "    hosts: [blog.test]\n"
                                  "    current: v1\n"
                                  "    builds: [{id: v1, upstreams: [127.0.0.1:3001]}, {id: v2, upstreams: [127.0.0.1:3002]}]\n";
    std::ofstream(manifest) << R"({"node": {"7f00aa": {}}, "edge": {}})";
    fresh();
  }

  ~World() {
    open_api.reset();
    token_api.reset();
    control.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  // A control plane over the seeded registry: shop has builds a (current)
  // and b, both registered through the API itself.
  void fresh() {
    open_api.reset();
    token_api.reset();
    control.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir + "/state", ignored);
    control = std::make_unique<ControlPlane>(&loop, config_path);
    std::vector<std::string> errors;
    if (!control->load_config(errors) || !control->load_state(errors)) {
      for (const auto& e : errors) std::fprintf(stderr, "admin_fuzz: %s\n", e.c_str());
      std::abort();
    }
    control->set_pin_keyring(&keyring);
    control->set_verifier(std::make_unique<ImmediateVerifier>());
    ControlPlane& c = *control;
    const std::string m = manifest;
    if (now([&](auto done) { c.register_build("shop", {{"id", "a"}, {"upstreams", {"127.0.0.1:4001"}}}, done); })
                .status != 201 ||
        now([&](auto done) {
          c.register_build("shop", {{"id", "b"}, {"upstreams", {"127.0.0.1:4002"}}, {"manifest", m}}, done);
        }).status != 201 ||
        now([&](auto done) { c.promote("shop", "a", nullptr, done); }).status != 200)
      std::abort();
    open_api = std::make_unique<AdminApi>(*control, "");
    token_api = std::make_unique<AdminApi>(*control, "fuzz-token");
  }
};

World& world() {
  static World w;
  return w;
}

class Reader final : public sg::gateway::HttpParserListener {
 public:
  HttpParser* parser = nullptr;
  AdminRequest request;
  bool complete = false;

  int on_head_complete() override {
    auto head = parser->take_request();
    if (!head) std::abort();
    request = AdminRequest::from_head(std::move(*head));
    return 0;
  }
  int on_body(std::string_view data) override {
    request.body.append(data);
    return 0;
  }
  int on_message_complete() override {
    complete = true;
    return HPE_PAUSED;
  }
};

// A manifest the control plane may open: none, or a file in our directory.
bool safe_manifest(const std::string& body, const World& w) {
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object() || !json.contains("manifest") || !json["manifest"].is_string()) return true;
  const std::string path = json["manifest"].get<std::string>();
  return path.rfind(w.dir + "/", 0) == 0 && path.find("..") == std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  World& w = world();
  const bool with_token = (data[0] & 1) != 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

  Reader reader;
  HttpParser parser(HttpParser::Mode::request, reader);
  reader.parser = &parser;
  parser.set_limits(&kAdminLimits);
  const HttpParser::Result r = parser.execute(bytes);
  if (r.consumed > bytes.size()) std::abort();
  if (!reader.complete) {
    if (r.error != HPE_OK && r.error != HPE_PAUSED) {
      const sg::gateway::ParseRejection rejection = parser.rejection();
      if (rejection.status < 400 || rejection.status > 499 || rejection.code == sg::metrics::Reason::none) std::abort();
    }
    return 0;
  }
  if (!safe_manifest(reader.request.body, w)) return 0;

  std::optional<AdminResponse> answer;
  (with_token ? *w.token_api : *w.open_api).handle(reader.request, [&answer](AdminResponse r) { answer = std::move(r); });
  // Only a register or promote of a build with an upstream host name
  // answers later: after the name's first lookup (bounded by
  // kFirstAnswerWait), on the loop.
  for (int turns = 0; !answer && turns < 10000; ++turns) uv_run(&w.loop, UV_RUN_ONCE);
  if (!answer) std::abort();  // nothing else answers later (ImmediateVerifier)
  const AdminResponse& response = *answer;
  if (response.status < 200 || response.status > 599) std::abort();
  if (response.content_type == "application/json" && nlohmann::json::parse(response.body, nullptr, false).is_discarded())
    std::abort();
  const std::string rendered =
      sg::gateway::render_reply(response.status, {{"content-type", response.content_type}, {"cache-control", "no-store"}},
                                response.body, false, reader.request.method == "HEAD");
  if (rendered.rfind("HTTP/1.1 ", 0) != 0) std::abort();

  if (reader.request.method == "POST" && response.status < 300) w.fresh();
  return 0;
}
