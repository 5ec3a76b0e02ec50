// Upstream host names (issue 17), the pure part: which names a configuration
// uses and which builds use each, when a name is due to be asked again, and
// whether an answer changes what the next snapshot holds. The lookups are
// dns_resolver.h's; folding addresses into a snapshot is
// routing::resolve_upstreams.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conf/config.h"
#include "gateway/control/build_verifier.h"
#include "routing/snapshot.h"

namespace sg::gateway {

// Every host name written as an upstream in `config`, with the runtime keys
// (routing::runtime_key) of the builds that use it, in config order. Retired
// builds are left out: nothing is sent to them, so nothing is resolved.
using NameUsers = std::map<std::string, std::vector<std::string>>;
NameUsers upstream_names(const conf::Config& config);
// The names among `upstreams`.
std::set<std::string> names_in(const std::vector<conf::SocketAddress>& upstreams);

// An answer's addresses as a snapshot keeps them: port 0, sorted, each once
// (the order of records in an answer varies; the set is what counts, so an
// unchanged set keeps the build's pool_key and its warm connections).
std::vector<conf::SocketAddress> normalized_addresses(std::vector<conf::SocketAddress> addresses);

// True when `addresses` (normalized) differ from what `resolved` holds for
// `name` (or the name had none).
bool answer_changes(const routing::ResolvedNames& resolved, const std::string& name,
                    const std::vector<conf::SocketAddress>& addresses);

// When to ask again after an answer: `refresh`, sooner when the records'
// TTL is shorter, never sooner than kMinDnsRefresh (a TTL of 0 must not spin
// the control loop). A failed lookup (no TTL) waits `refresh`.
std::chrono::milliseconds next_lookup_in(conf::Duration refresh, std::optional<std::chrono::seconds> ttl);

// Probe targets with each name replaced by its resolved addresses (the
// verifier connects to addresses only). A name without addresses yet is
// left out with a note: it is probed at the next reload or promote, and
// until it resolves its build serves nothing.
std::vector<VerifyTarget> resolve_targets(std::vector<VerifyTarget> targets, const routing::ResolvedNames& resolved,
                                          std::vector<std::string>& notes);

}  // namespace sg::gateway
