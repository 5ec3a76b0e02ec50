// skewgate: the command line. Runs the gateway (-c FILE, else the packaged
// default path if the build has one and it exists, else the embedded demo
// default), checks a config (--check), prints the version.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "conf/load.h"
#include "conf/overrides.h"
#include "gateway/admin/admin_api.h"
#include "gateway/admin/admin_server.h"
#include "gateway/cli/cli.h"
#include "gateway/control/control_plane.h"
#include "gateway/control/pin_secrets_fs.h"
#include "gateway/net/handover.h"
#include "gateway/net/tls_context.h"
#include "gateway/proxy/access_log.h"
#include "gateway/proxy/server.h"
#include "routing/snapshot.h"
#include "skew/pin.h"

namespace {

using sg::conf::LoadResult;

struct Options {
  std::string config_path;  // empty: embedded default
  sg::conf::ProcessOverrides overrides;
  bool check = false;
  bool version = false;
  bool help = false;
  std::string error;
};

// The configuration file of a packaged build (CMake SKEWGATE_DEFAULT_CONFIG;
// the container image's /etc/skewgate/skewgate.yaml): used when -c is not
// given and the path exists. Empty in a build from source: no -c, the
// embedded default.
constexpr const char* kDefaultConfig = SKEWGATE_DEFAULT_CONFIG;

std::string usage() {
  const std::string fallback = *kDefaultConfig ? std::string(kDefaultConfig) + " if it exists, else " : "";
  return "usage: skewgate [-c FILE] [--listen ADDR]... [--admin-listen ADDR] [--state-dir DIR] [--check] [--version]\n"
         "  -c, --config FILE     configuration file (default: " + fallback + "the embedded demo configuration)\n"
         "  --listen ADDR         replaces the address of the file's listeners[0]; given again,\n"
         "                        of listeners[1], and so on\n"
         "  --admin-listen ADDR   replaces admin.address\n"
         "  --state-dir DIR       replaces state_dir\n"
         "                        (these three give processes that share one file their own sockets\n"
         "                        and state; they hold across reloads)\n"
         "  --check               validate the configuration and exit 0 (valid) or 1\n"
         "  --version             print the version\n";
}

// "--flag VALUE" or "--flag=VALUE": the value, or nullopt when `arg` is not
// this flag. A missing value sets `error`.
std::optional<std::string> flag_value(const std::string& flag, int argc, char** argv, int& i, std::string& error) {
  const std::string arg = argv[i];
  if (arg.rfind(flag + "=", 0) == 0) return arg.substr(flag.size() + 1);
  if (arg != flag) return std::nullopt;
  if (i + 1 >= argc) {
    error = flag + " needs a value";
    return std::string();
  }
  return std::string(argv[++i]);
}

// Numeric only, as in the file (conf/address.h): a listener never waits on DNS.
std::optional<sg::conf::SocketAddress> flag_address(const std::string& flag, const std::string& value,
                                                    std::string& error) {
  auto address = sg::conf::SocketAddress::parse(value);
  if (!address)
    error = flag + " '" + value + "': expected IP:PORT, [IPv6]:PORT or unix:/path";
  return address;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-c" || arg == "--config") {
      if (i + 1 >= argc) {
        o.error = arg + " needs a file";
        return o;
      }
      o.config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      o.config_path = arg.substr(9);
    } else if (auto listen = flag_value("--listen", argc, argv, i, o.error)) {
      if (!o.error.empty()) return o;
      auto address = flag_address("--listen", *listen, o.error);
      if (!address) return o;
      o.overrides.listen.push_back(std::move(*address));
    } else if (auto admin = flag_value("--admin-listen", argc, argv, i, o.error)) {
      if (!o.error.empty()) return o;
      o.overrides.admin = flag_address("--admin-listen", *admin, o.error);
      if (!o.overrides.admin) return o;
    } else if (auto state_dir = flag_value("--state-dir", argc, argv, i, o.error)) {
      if (!o.error.empty()) return o;
      o.overrides.state_dir = std::move(*state_dir);
    } else if (arg == "--check" || arg == "-t") {
      o.check = true;
    } else if (arg == "--version" || arg == "-v") {
      o.version = true;
    } else if (arg == "--help" || arg == "-h") {
      o.help = true;
    } else {
      o.error = "unknown argument '" + arg + "'";
      return o;
    }
  }
  return o;
}

// No -c: the packaged default path unless it is certainly absent (ENOENT);
// a dangling symlink or an unreadable directory is used, so a broken mount
// fails loudly instead of running the demo. Else the embedded default, said
// on stderr so the demo is never mistaken for the user's configuration.
void choose_default_config(Options& options) {
  if (!options.config_path.empty() || *kDefaultConfig == '\0') return;
  struct stat st;
  if (::lstat(kDefaultConfig, &st) == 0 || errno != ENOENT) {
    options.config_path = kDefaultConfig;
    return;
  }
  std::fprintf(stderr, "skewgate: no configuration at %s (%s): running the embedded default\n", kDefaultConfig,
               std::strerror(errno));
}

LoadResult load(const Options& options) {
  LoadResult result = options.config_path.empty()
                          ? sg::conf::load_string(sg::conf::embedded_default_yaml(), "<embedded default>")
                          : sg::conf::load_file(options.config_path);
  sg::conf::apply_overrides(options.overrides, result);
  return result;
}

// Config -> snapshot, printing every problem. nullptr when invalid.
// --check: the file alone must make a valid snapshot. A `registry: api` app
// takes its builds from state_dir at run time, so one with none yet is left
// out here exactly as the control plane leaves it out until its first promote.
bool check_config(const Options& options) {
  LoadResult result = load(options);
  for (const auto& w : result.warnings) std::fprintf(stderr, "warning: %s\n", w.to_string().c_str());
  for (const auto& e : result.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  if (!result.config) return false;
  // Certificates and keys are read and checked as at start-up (a throwaway
  // ticket key ring: nothing is served).
  {
    std::vector<std::string> tls_errors;
    const auto ring = std::make_shared<sg::gateway::TicketKeyRing>(result.config->tls.ticket_rotation);
    if (!sg::gateway::TlsContexts::build(*result.config, ring, tls_errors)) {
      for (const auto& e : tls_errors) std::fprintf(stderr, "%s\n", e.c_str());
      return false;
    }
  }
  std::erase_if(result.config->apps, [](const sg::conf::AppConfig& app) {
    return app.registry == sg::conf::RegistrySource::api && app.current.empty();
  });
  if (result.config->apps.empty()) return true;
  std::vector<std::string> errors;
  auto snapshot = sg::routing::Snapshot::create(std::move(*result.config), errors, 1);
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());  // already "file: key: message"
  return snapshot != nullptr;
}

// The main thread only waits for signals and runs the control plane;
// workers own all the traffic.
struct MainLoop {
  uv_loop_t loop;
  uv_signal_t term, intr, hup, usr1;
  uv_async_t drained;
  sg::gateway::ControlPlane* control;
  sg::gateway::AdminServer* admin;
  sg::gateway::HandoverListener* handover;
  sg::gateway::Server* server;
  sg::gateway::AccessLogSink* sink;
  std::thread drain_thread;
  int leaked = 0;
};

// Workers drain on their own threads while the main loop keeps answering
// the admin listener (/readyz says "draining"); when they are done the main
// loop closes its handles and ends.
void begin_shutdown(MainLoop& m) {
  if (m.control->draining()) return;
  for (uv_signal_t* s : {&m.term, &m.intr, &m.hup, &m.usr1}) uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
  m.control->set_draining();
  m.drain_thread = std::thread([&m] {
    m.leaked = m.server->drain_and_join();
    uv_async_send(&m.drained);
  });
}

void on_stop_signal(uv_signal_t* handle, int signum) {
  auto& m = *static_cast<MainLoop*>(handle->data);
  std::fprintf(stderr, "skewgate: %s received, draining\n", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  begin_shutdown(m);
}

void on_drained(uv_async_t* handle) {
  auto& m = *static_cast<MainLoop*>(handle->data);
  m.admin->close();
  m.handover->close();
  m.control->stop();
  uv_close(reinterpret_cast<uv_handle_t*>(&m.drained), nullptr);
}

void on_reload_signal(uv_signal_t* handle, int) {
  auto& m = *static_cast<MainLoop*>(handle->data);
  m.control->reload([](const sg::gateway::ControlPlane::ReloadOutcome& outcome) {
    if (!outcome.ok) {
      for (const auto& e : outcome.errors) std::fprintf(stderr, "%s\n", e.c_str());
      std::fprintf(stderr, "skewgate: reload refused, the running configuration stays\n");
      return;
    }
    std::fprintf(stderr, "skewgate: configuration reloaded\n");
  });
}

void on_reopen_signal(uv_signal_t* handle, int) {
  auto& m = *static_cast<MainLoop*>(handle->data);
  std::string error;
  if (!m.sink->reopen(error)) std::fprintf(stderr, "skewgate: %s\n", error.c_str());
}

// Test-only (tests/integration/test_handover_state.py): with
// SKEWGATE_TEST_HOLD_HANDOVER=<file>, a process taking over waits here, after
// its predecessor answered and before it reads state_dir, until <file>
// exists (at most 60 s), so a test can send admin changes in that window.
// Not for production use.
void hold_for_test() {
  const char* hold = std::getenv("SKEWGATE_TEST_HOLD_HANDOVER");
  if (hold == nullptr || *hold == '\0') return;
  std::fprintf(stderr, "skewgate: test hook: holding the hand-over until %s exists\n", hold);
  for (int i = 0; i < 3000 && ::access(hold, F_OK) != 0; ++i) ::usleep(20'000);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && sg::gateway::is_cli_command(argv[1])) return sg::gateway::run_cli(argc, argv);
  Options options = parse_options(argc, argv);
  if (!options.error.empty()) {
    std::fprintf(stderr, "skewgate: %s\n%s", options.error.c_str(), usage().c_str());
    return 2;
  }
  if (options.help) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  if (options.version) {
    std::printf("skewgate %s\n", SKEWGATE_VERSION);
    return 0;
  }
  choose_default_config(options);
  if (options.check) {
    if (!check_config(options)) return 1;
    std::printf("%s: configuration is valid\n",
                options.config_path.empty() ? "<embedded default>" : options.config_path.c_str());
    return 0;
  }

  signal(SIGPIPE, SIG_IGN);
  MainLoop m;
  uv_loop_init(&m.loop);
  // Every way out of main() closes the loop, also the early `return 1`s
  // (LeakSanitizer reported the loop's own allocations leaked on them).
  // Declared before everything that owns handles on the loop, so it runs
  // after their destructors have closed them.
  struct LoopCloser {
    uv_loop_t* loop;
    bool closed = false;
    ~LoopCloser() {
      if (closed) return;
      uv_run(loop, UV_RUN_NOWAIT);  // let close callbacks run
      uv_loop_close(loop);
    }
  } loop_closer{&m.loop};
  sg::gateway::ControlPlane control(&m.loop, options.config_path, options.overrides);
  std::vector<std::string> errors;
  if (!control.load_config(errors)) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  // A build of the file that reports another deployment ID would send every
  // tab into a reload loop: refuse to start, before a running predecessor
  // is asked to hand over. Nothing else is on the loop yet, so it runs until
  // the probes are done (each bounded by kProbeTimeout).
  {
    std::optional<sg::gateway::VerifyOutcome> verified;
    control.verify_at_start([&verified](sg::gateway::VerifyOutcome outcome) { verified = std::move(outcome); });
    uv_run(&m.loop, UV_RUN_DEFAULT);
    if (!verified || !verified->ok()) {
      if (verified)
        for (const auto& mismatch : verified->mismatches)
          std::fprintf(stderr, "skewgate: %s\n", mismatch.message().c_str());
      std::fprintf(stderr, "skewgate: deployment_id_mismatch: not starting\n");
      return 1;
    }
  }
  // A running skewgate with the same state_dir hands its sockets over; its
  // answer also says it has written state_dir for the last time, so state_dir
  // is read only after it (handover.h). Until this process is ready the old
  // one refuses admin changes; if this process exits first, it takes them again.
  std::string error;
  const std::string handover_path = sg::gateway::handover_socket_path(control.file_config().state_dir);
  std::optional<sg::gateway::Takeover> takeover = sg::gateway::request_takeover(handover_path, error);
  if (!error.empty()) {
    std::fprintf(stderr, "skewgate: %s\n", error.c_str());
    return 1;
  }
  if (takeover && !takeover->state_flushed)
    std::fprintf(stderr,
                 "skewgate: warning: the running skewgate is an earlier version that does not pause admin changes "
                 "during a hand-over; a change it acknowledges now may be lost\n");
  if (takeover) hold_for_test();
  if (!control.load_state(errors)) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 1;  // the predecessor sees the hand-over fail and carries on
  }
  const auto snapshot = control.snapshot();
  // The pin keyring belongs to the process: chosen once, immutable, shared
  // by every worker. Messages name where a secret came from, never its value.
  const sg::skew::SecretChoice secrets =
      sg::gateway::choose_pin_secrets_for_process(snapshot->config().pins, snapshot->config().state_dir);
  if (!secrets.error.empty()) {
    std::fprintf(stderr, "skewgate: %s\n", secrets.error.c_str());
    return 1;
  }
  if (!secrets.warning.empty()) std::fprintf(stderr, "skewgate: warning: %s\n", secrets.warning.c_str());
  if (secrets.generated)
    std::fprintf(stderr, "skewgate: generated a pin secret in state_dir (%s, mode 0600)\n", sg::skew::kPinSecretFile);
  const sg::skew::PinKeyring keyring(secrets.secrets);
  if (!keyring.ok()) {
    std::fprintf(stderr, "skewgate: cannot derive the pin keys (from %s)\n", secrets.source.c_str());
    return 1;
  }
  control.set_pin_keyring(&keyring);
  sg::gateway::AccessLogSink sink;
  if (!sink.open(snapshot->config().access_log, error)) {
    std::fprintf(stderr, "skewgate: %s\n", error.c_str());
    return 1;
  }
  sg::gateway::Server server(snapshot, sink, &control.reports(), &keyring);
  server.set_tls(control.tls());
  // Signals are caught from here on: a SIGHUP during start-up is queued and
  // handled once the loop runs, never the default action (terminate).
  m.control = &control;
  m.server = &server;
  m.sink = &sink;
  uv_async_init(&m.loop, &m.drained, on_drained);
  m.drained.data = &m;
  for (uv_signal_t* s : {&m.term, &m.intr, &m.hup, &m.usr1}) {
    uv_signal_init(&m.loop, s);
    s->data = &m;
  }
  uv_signal_start(&m.term, on_stop_signal, SIGTERM);
  uv_signal_start(&m.intr, on_stop_signal, SIGINT);
  uv_signal_start(&m.hup, on_reload_signal, SIGHUP);
  uv_signal_start(&m.usr1, on_reopen_signal, SIGUSR1);
  if (!server.start(error, takeover ? &takeover->sockets : nullptr)) {
    std::fprintf(stderr, "skewgate: %s\n", error.c_str());
    return 1;
  }
  for (const auto& name : server.listener_names())
    std::fprintf(stderr, "skewgate: listening on %s (%u workers)\n", name.c_str(), server.worker_count());
  std::string admin_token;
  const auto& admin_config = snapshot->config().admin;
  if (!sg::gateway::read_admin_token(admin_config.token_file, admin_token, error)) {
    std::fprintf(stderr, "skewgate: %s\n", error.c_str());
    return 1;
  }
  if (admin_token.empty() && !admin_config.address.is_loopback()) {
    std::fprintf(stderr,
                 "skewgate: admin.address %s is not loopback: set admin.token_file or SKEWGATE_ADMIN_TOKEN\n",
                 admin_config.address.to_string().c_str());
    return 1;
  }
  const sg::metrics::Collector collector(*server.stats_board(), [&control] { return control.metric_facts(); });
  sg::gateway::AdminApi admin_api(control, admin_token, &collector);
  sg::gateway::AdminServer admin(&m.loop, [&admin_api](const auto& request, sg::gateway::AdminServer::Reply reply) {
    admin_api.handle(request, std::move(reply));
  });
  bool admin_ok = false;
  if (takeover) {
    for (auto& passed : takeover->sockets) {
      if (passed.role != "admin" || passed.fd < 0 || passed.name != admin_config.address.to_string()) continue;
      admin_ok = admin.adopt(passed.fd, passed.name, passed.is_unix, error);
      passed.fd = -1;
    }
  }
  if (!admin_ok && !admin.listen(admin_config.address, error)) {
    std::fprintf(stderr, "skewgate: %s\n", error.c_str());
    server.drain_and_join();
    return 1;
  }
  std::fprintf(stderr, "skewgate: admin API on %s\n", admin.address().c_str());
  m.admin = &admin;
  if (takeover) {
    sg::gateway::confirm_takeover(*takeover);  // the predecessor stops accepting and drains
    std::fprintf(stderr, "skewgate: took over the listening sockets from the running process\n");
  }
  sg::gateway::HandoverListener handover(
      &m.loop,
      [&]() {
        std::fprintf(stderr, "skewgate: a new process is taking over\n");
        control.begin_handover();
        std::vector<sg::gateway::PassedSocket> sockets = server.handover_sockets();
        const int admin_fd = admin.dup_fd();
        if (admin_fd >= 0) sockets.push_back({"admin", admin.address(), admin.is_unix(), admin_fd});
        return sockets;
      },
      [&]() {
        std::fprintf(stderr, "skewgate: handed over to the new process, draining\n");
        // Requests this process already accepted still get their answer (a
        // change: 503, retry); new ones go to the successor.
        admin.stop_accepting();
        begin_shutdown(m);
      },
      [&]() {
        std::fprintf(stderr, "skewgate: the new process went away before it was ready; taking admin changes again\n");
        control.abort_handover();
      });
  if (!handover.listen(handover_path, error))
    std::fprintf(stderr, "skewgate: warning: %s (restarts will not hand sockets over)\n", error.c_str());
  m.handover = &handover;
  control.attach(server);

  uv_run(&m.loop, UV_RUN_DEFAULT);
  if (m.drain_thread.joinable()) m.drain_thread.join();
  uv_loop_close(&m.loop);
  loop_closer.closed = true;
  if (m.leaked) std::fprintf(stderr, "skewgate: %d handles left open at exit\n", m.leaked);
  std::fprintf(stderr, "skewgate: stopped\n");
  return 0;
}
