// Per-process settings given on the command line (--listen, --admin-listen,
// --state-dir) and laid over every load of the file: at start, by --check and
// on each reload. Several replicas can then share one file (a Kubernetes
// ConfigMap, or one directory on one host) while each binds its own ports and
// keeps its own state_dir. In a pod they are rarely needed (every pod has its
// own address and filesystem); on one host they are what keeps the replicas
// apart. The file stays the single source of routing truth: nothing else can
// be overridden.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "conf/address.h"
#include "conf/load.h"

namespace sg::conf {

struct ProcessOverrides {
  // The i-th replaces the address of the file's i-th listener (its tls and
  // redirect_https stay); listeners past the last one given keep theirs.
  std::vector<SocketAddress> listen;
  std::optional<SocketAddress> admin;    // admin.address
  std::optional<std::string> state_dir;  // state_dir

  bool empty() const { return listen.empty() && !admin && !state_dir; }
};

// Lays `overrides` over result.config. A problem (more --listen than the file
// has listeners, two listeners on one address, an admin address other hosts
// can reach without a token, an empty state_dir) becomes an error of `result`
// named "<command line>: --flag: ..." and the config is dropped, as a load
// error would. A result that already failed is left as it is.
void apply_overrides(const ProcessOverrides& overrides, LoadResult& result);

}  // namespace sg::conf
