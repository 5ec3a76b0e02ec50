#!/usr/bin/env bash
# Soak (issue 13), not run in CI: 500 slowloris connections, 200 slow-body
# and 200 non-reading clients, 100 idle tunnels against steady normal
# traffic, with short timeouts (client_header, client_body, client_send 5 s,
# tunnel_idle 10 s). About 2 minutes. Prints the share of normal requests
# served and, per abusive class, how many connections were closed within
# their timeout + 1 s.
#
#   tests/soak/run.sh [path/to/skewgate] [soak.py options, e.g. --duration 60]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../../build/skewgate}"
[ $# -gt 0 ] && shift
[ -x "$bin" ] || { echo "no skewgate binary at $bin (build it first)" >&2; exit 2; }

# ~1,000 client sockets here, as many in skewgate plus its upstream side.
want=16384
hard="$(ulimit -Hn)"
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then want="$hard"; fi
ulimit -n "$want"
echo "ulimit -n: $(ulimit -n)"

exec timeout 600 python3 "$here/soak.py" --skewgate "$bin" "$@"
