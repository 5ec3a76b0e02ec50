#!/usr/bin/env bash
# The e2e suite: real Next.js 15.1.9 and 16.4.6 builds and a @lazarv/react-server app behind
# skewgate, driven in Debian's Chromium.
# Usage: bash tests/e2e/run.sh [next15] [next16] [react-server]   (default: all three)
# Needs build/skewgate (or $SKEWGATE_BIN), Node >= 20 with npm, and the npm registry; installs
# Debian's chromium when missing. Everything it starts listens on 127.0.0.1 and is stopped by PID.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export NEXT_TELEMETRY_DISABLED=1
export SKEWGATE_BIN="${SKEWGATE_BIN:-$root/build/skewgate}"

if [[ ! -x "$SKEWGATE_BIN" ]]; then
  echo "e2e: $SKEWGATE_BIN is missing: build it first (make -C build skewgate)" >&2
  exit 2
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null ||
   (($(node -p 'process.versions.node.split(".")[0]') < 20)); then
  echo "e2e: needs Node.js >= 20 and npm (Next.js 16 requires Node 20.9+)" >&2
  exit 2
fi
if [[ ! -x /usr/bin/chromium ]]; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "e2e: installing Debian's chromium" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
fi

# The driver's own dependency (playwright-core, no browser download), keyed by its lockfile.
cd "$here"
lock_hash="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ ! -f node_modules/.skewgate-e2e-lock || "$(cat node_modules/.skewgate-e2e-lock)" != "$lock_hash" ]]; then
  started=$SECONDS
  timeout 300 npm ci --no-audit --no-fund --prefer-offline
  echo "$lock_hash" > node_modules/.skewgate-e2e-lock
  echo "e2e: driver npm ci took $((SECONDS - started)) s"
fi

# Which suites: the Next.js versions named (none named and no react-server: both), and
# react-server when named or when nothing is.
next_args=()
run_rs=0
for a in "$@"; do
  if [[ "$a" == react-server ]]; then run_rs=1; else next_args+=("$a"); fi
done
run_next=1
if (($# == 0)); then
  run_rs=1
elif ((${#next_args[@]} == 0)); then
  run_next=0
fi

# run.mjs builds each version's variants (cached by lockfile + source hash), runs the
# scenarios and prints "N passed, N failed"; its own watchdog stops it after 20 minutes.
rc=0
if ((run_next)); then
  E2E_TIMEOUT_MS="${E2E_TIMEOUT_MS:-1200000}" timeout --kill-after=30 1320 node "$here/run.mjs" "${next_args[@]}" || rc=$?
fi

# Then the README's demo (scripts/demo.sh on Next.js 16, its printed script followed in
# Chromium), when next16 is among the versions; demo.mjs stops it after 8 minutes. It runs
# scripts/demo.sh, so build/skewgate of this checkout, whatever $SKEWGATE_BIN says.
if ((run_next)) && { ((${#next_args[@]} == 0)) || [[ " ${next_args[*]} " == *" next16 "* ]]; }; then
  timeout --kill-after=30 540 node "$here/demo.mjs" || rc=$((rc ? rc : $?))
fi

# The react-server suite (react-server/run.mjs: its own pinned install and two builds, cached;
# baseline, deploy, multi-tab and retire scenarios); its watchdog stops it after 10 minutes.
if ((run_rs)); then
  E2E_RS_TIMEOUT_MS="${E2E_RS_TIMEOUT_MS:-600000}" timeout --kill-after=30 660 node "$here/react-server/run.mjs" || rc=$((rc ? rc : $?))
fi
exit "$rc"
