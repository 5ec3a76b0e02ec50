// The proxy under test, in-process: one worker thread running a real uv loop
// with a listener on 127.0.0.1:0. Destroying the fixture drains the server
// and checks that the loop ended with no libuv handle left open.
#pragma once

#include <doctest/doctest.h>

#include <csignal>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "conf/load.h"
#include "gateway/proxy/access_log.h"
#include "gateway/net/tls_context.h"
#include "gateway/proxy/server.h"
#include "routing/snapshot.h"
#include "wire.h"

namespace loop_test {

constexpr const char* kDefaultTimeouts =
    "{upstream_connect: 500ms, upstream_response: 1s, client_header: 1s, client_idle: 2s, drain: 2s, "
    "upstream_idle: 1s}";

struct BuildSpec {
  std::string id;
  std::string upstream;  // "127.0.0.1:PORT"
};

struct ProxyOptions {
  std::vector<BuildSpec> builds;   // the last one is current
  std::string timeouts = kDefaultTimeouts;
  std::string limits;              // flow mapping, e.g. "{uri_bytes: 512}"; empty: defaults
  std::string access_log = "off";  // a path when diagnosing a failure
  std::string app_extra;           // more keys of the app, e.g. "actions: {replay_bytes: 1KiB}"
  std::string listener_extra;      // more keys of the listener, e.g. "tls: {cert: c.pem, key: k.pem}"
};

inline std::string proxy_yaml(const ProxyOptions& options) {
  std::string yaml =
      "listeners: [{address: 127.0.0.1:0" + (options.listener_extra.empty() ? "" : ", " + options.listener_extra) +
      "}]\n"
      "workers: 1\n"
      "access_log: {path: \"" + options.access_log + "\", format: json}\n";
  yaml += "timeouts: " + options.timeouts + "\n";
  if (!options.limits.empty()) yaml += "limits: " + options.limits + "\n";
  yaml +=
      "apps:\n"
      "  - name: shop\n"
      "    hosts: [shop.test]\n";
  if (!options.app_extra.empty()) yaml += "    " + options.app_extra + "\n";
  yaml +=
      "    current: " +
      options.builds.back().id + "\n    builds:\n";
  for (const BuildSpec& build : options.builds)
    yaml += "      - {id: " + build.id + ", upstreams: [" + build.upstream + "]}\n";
  return yaml;
}

class Proxy {
 public:
  explicit Proxy(const ProxyOptions& options) {
    std::signal(SIGPIPE, SIG_IGN);  // as gateway/main.cc does: write errors are values
    sg::conf::LoadResult result = sg::conf::load_string(proxy_yaml(options), "loop-test");
    for (const auto& d : result.errors) MESSAGE(d.to_string());
    REQUIRE(result.config);
    std::vector<std::string> errors;
    // The listener's TLS context, as gateway/main.cc makes it.
    auto tls = sg::gateway::TlsContexts::build(
        *result.config, std::make_shared<sg::gateway::TicketKeyRing>(result.config->tls.ticket_rotation), errors);
    for (const auto& e : errors) MESSAGE(e);
    REQUIRE(tls);
    auto snapshot = sg::routing::Snapshot::create(std::move(*result.config), errors);
    for (const auto& e : errors) MESSAGE(e);
    REQUIRE(snapshot);
    std::string error;
    REQUIRE(sink_.open(snapshot->config().access_log, error));
    server_ = std::make_unique<sg::gateway::Server>(snapshot, sink_);
    server_->set_tls(std::move(tls));
    REQUIRE_MESSAGE(server_->start(error), error);
    const std::string& name = server_->listener_names().at(0);
    port_ = static_cast<std::uint16_t>(std::stoi(name.substr(name.rfind(':') + 1)));
  }

  // Single upstream, single build.
  explicit Proxy(const std::string& upstream, std::string limits = "", std::string timeouts = kDefaultTimeouts)
      : Proxy(ProxyOptions{{{"dpl-a", upstream}}, std::move(timeouts), std::move(limits)}) {}

  ~Proxy() {
    if (!drained_) CHECK_MESSAGE(drain() == 0, "libuv handles left open when the worker loop ended");
  }

  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  std::uint16_t port() const { return port_; }
  Wire connect(int rcvbuf = 0) const {
    Wire wire = Wire::connect(port_, rcvbuf);
    REQUIRE(wire.valid());
    return wire;
  }

  // Graceful drain and join; the number of handles left open.
  int drain() {
    drained_ = true;
    return server_->drain_and_join();
  }

 private:
  sg::gateway::AccessLogSink sink_;
  std::unique_ptr<sg::gateway::Server> server_;
  std::uint16_t port_ = 0;
  bool drained_ = false;
};

}  // namespace loop_test
