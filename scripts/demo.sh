#!/usr/bin/env bash
# Demo: skew protection with real Next.js, deployed through skewgate's control plane.
#   Build A (dpl-a) on 127.0.0.1:3001 and build B (dpl-b) on 127.0.0.1:3002: the e2e app
#   (tests/e2e) built with Next.js 16, or two Python echo builds when Node.js >= 20.9 with npm
#   is missing (or the Next.js build fails). skewgate runs its embedded default config
#   (127.0.0.1:8080, admin 127.0.0.1:9901, app `demo`, `registry: api`, state_dir
#   /tmp/skewgate-demo, wiped at start); dpl-a is deployed with the CLI, and the banner prints
#   the commands that deploy B and retire A. Logs go to /tmp/skewgate-demo/logs/.
# Ctrl-C stops everything it started (by PID; each Next.js server by its process group).
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"
cd "$SKEWGATE_ROOT"

LISTEN_PORT=8080 ADMIN_PORT=9901 PORT_A=3001 PORT_B=3002   # as the embedded default expects
STATE_DIR=/tmp/skewgate-demo                                # the embedded default's state_dir
LOG_DIR=$STATE_DIR/logs
SG="$SKEWGATE_ROOT/build/skewgate"
NEXT_WORK="$SKEWGATE_ROOT/tests/e2e/.work/next16"
pids=()     # started in this shell's process group: stopped by PID
groups=()   # Next.js servers, each the leader of its own process group: stopped by group

stop_all() {
  trap '' INT TERM
  local pid i alive=0
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${groups[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for i in $(seq 1 100); do   # up to 10 s, then SIGKILL
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    for pid in "${groups[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  if ((alive)); then
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${groups[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  fi
  for pid in "${pids[@]}" "${groups[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=() groups=()
}
on_signal() {
  trap '' INT TERM   # once: a second signal (Ctrl-C twice) must not interrupt the clean-up
  echo; echo "demo: stopping"
  exit 0   # the EXIT trap stops everything
}
trap 'stop_all' EXIT
trap 'on_signal' INT TERM

port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

for port in "$PORT_A" "$PORT_B" "$LISTEN_PORT" "$ADMIN_PORT"; do
  if port_taken "$port"; then
    echo "demo: port $port on 127.0.0.1 is already in use; stop whatever listens there and retry" >&2
    exit 1
  fi
done

wait_http() {  # wait_http PID URL NAME SECONDS LOG: until URL answers 2xx
  local i
  for i in $(seq 1 $(($4 * 10))); do
    if ! kill -0 "$1" 2>/dev/null; then
      echo "demo: $3 exited while starting; the end of $5:" >&2
      tail -n 20 "$5" >&2 || true
      exit 1
    fi
    curl -fsS -o /dev/null --max-time 2 "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "demo: $3 did not answer $2 within $4 s; see $5" >&2
  exit 1
}

loud() {
  echo "==========================================================================================" >&2
  printf 'demo: %s\n' "$1" >&2
  shift
  printf '      %s\n' "$@" >&2
  echo "==========================================================================================" >&2
}

# Real Next.js when Node.js >= 20.9 (Next.js 16's minimum) and npm are here and the build works.
mode=next
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  mode=echo
  loud "Node.js >= 20.9 with npm is not installed, so the demo runs two Python echo builds" \
       "instead of real Next.js (no button to click: try the curl commands it prints)." \
       "Install Node.js 20 or newer with npm and run scripts/demo.sh again for the Next.js demo."
elif ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 9) ? 0 : 1)'; then
  mode=echo
  loud "Node.js $(node --version) is too old for Next.js 16 (needs >= 20.9), so the demo runs two" \
       "Python echo builds instead of real Next.js (no button to click: try the curl commands it prints)." \
       "Install Node.js 20.9 or newer and run scripts/demo.sh again for the Next.js demo."
else
  echo "demo: building the Next.js 16 app as A and B (cached: fast when nothing changed)"
  # --foreground: Ctrl-C still reaches the build.
  if ! NEXT_TELEMETRY_DISABLED=1 timeout --foreground 900 node tests/e2e/build.mjs next16; then
    mode=echo
    loud "building the Next.js app failed (see above; npm ci needs the npm registry), so the demo" \
         "runs two Python echo builds instead of real Next.js."
  fi
fi

rm -rf "$STATE_DIR"   # the demo's own state: start with no builds registered
mkdir -m 700 "$STATE_DIR"
mkdir "$LOG_DIR"

start_next() {  # start_next VARIANT PORT: `next start` as tests/e2e/lib.mjs runs it, in its own group
  local log="$LOG_DIR/next-$1.log"
  (cd "$NEXT_WORK/$1" &&
   exec setsid env -u NEXT_DEPLOYMENT_ID -u NEXT_SERVER_ACTIONS_ENCRYPTION_KEY NEXT_TELEMETRY_DISABLED=1 \
     NODE_ENV=production node "$NEXT_WORK/node_modules/next/dist/bin/next" start -p "$2" -H 127.0.0.1 \
     </dev/null >"$log" 2>&1) &
  groups+=($!)
  wait_http "$!" "http://127.0.0.1:$2/second" "Next.js $1" 60 "$log"
  echo "demo: Next.js $1 on 127.0.0.1:$2 (pid $!, its own process group)"
}
start_echo() {  # start_echo ID PORT
  local log="$LOG_DIR/echo-$1.log"
  python3 tests/support/upstream.py --mode demo --port "$2" --id "$1" </dev/null >"$log" 2>&1 &
  pids+=($!)
  wait_http "$!" "http://127.0.0.1:$2/" "build $1" 10 "$log"
  echo "demo: echo build $1 on 127.0.0.1:$2 (pid $!)"
}

if [[ $mode == next ]]; then
  start_next dpl-a "$PORT_A"
  start_next dpl-b "$PORT_B"
else
  start_echo dpl-a "$PORT_A"
  start_echo dpl-b "$PORT_B"
fi
"$SG" </dev/null >"$LOG_DIR/skewgate.log" 2>&1 &
pids+=($!)
wait_http "$!" "http://127.0.0.1:$ADMIN_PORT/readyz" "skewgate" 10 "$LOG_DIR/skewgate.log"

echo "demo: deploying A (dpl-a) through the control plane"
"$SG" deploy --app demo --build dpl-a --upstream "127.0.0.1:$PORT_A" --health-timeout 30s

sg_cmd="$(printf '%q' "$SG")"
deploy_b="$sg_cmd deploy --app demo --build dpl-b --upstream 127.0.0.1:$PORT_B"
retire_a="$sg_cmd retire --app demo --build dpl-a"
builds="$sg_cmd builds --app demo"
url="http://localhost:$LISTEN_PORT/"

if [[ $mode == next ]]; then
  next_version="$(node -p "require('$NEXT_WORK/node_modules/next/package.json').version")"
  cat <<MSG

skewgate demo: Next.js $next_version, build A (dpl-a) on 127.0.0.1:$PORT_A and build B (dpl-b) on
127.0.0.1:$PORT_B, behind skewgate on $url (admin 127.0.0.1:$ADMIN_PORT).
A is deployed and current; B is running but not deployed yet.

1. Open $url : the page says "rendered by build A". Keep this tab open.
2. In another terminal, deploy B:
     \$ $deploy_b
   Open $url in a second tab: "rendered by build B". In the first tab click
   "Call the server action": "action served by build A" (A is retained for its open tabs).
3. Retire A:
     \$ $retire_a
4. Click "Call the server action" in the first tab again: instead of failing silently, the
   page reloads itself onto B ("rendered by build B").

The builds and their states at any time:
     \$ $builds
Logs (skewgate's access log names the client build and the build that served each request):
  $LOG_DIR/
Ctrl-C stops everything the demo started.

MSG
else
  cat <<MSG

skewgate demo (Python echo builds, not Next.js): dpl-a on 127.0.0.1:$PORT_A and dpl-b on
127.0.0.1:$PORT_B, behind skewgate on $url (admin 127.0.0.1:$ADMIN_PORT).
dpl-a is deployed and current; dpl-b is running but not deployed yet.

1. Open $url : "served by build dpl-a".
2. In another terminal, deploy B:
     \$ $deploy_b
   Then:
     curl -s -H 'accept: text/html' $url                   # a page load: dpl-b (current), pinned
     curl -s -H 'rsc: 1' -H 'x-deployment-id: dpl-a' $url  # an RSC request of a dpl-a tab: dpl-a (retained)
     curl -s '${url}_next/static/app.js?dpl=dpl-a'          # an asset of dpl-a: dpl-a
3. Retire A:
     \$ $retire_a
4. The dpl-a tab's RSC request now gets the reload answer (409, x-skewgate-reload) instead of a
   page the old client cannot use:
     curl -si -H 'rsc: 1' -H 'x-deployment-id: dpl-a' $url

The builds and their states at any time:
     \$ $builds
Logs: $LOG_DIR/
Ctrl-C stops everything the demo started.

MSG
fi

# Wait until Ctrl-C (or SIGTERM) or until any process exits on its own.
wait -n "${pids[@]}" "${groups[@]}" || true
sleep 0.2  # a Ctrl-C reaches skewgate too; let this shell's trap land before judging
echo "demo: a process exited on its own (see $LOG_DIR/); stopping the others" >&2
exit 1
