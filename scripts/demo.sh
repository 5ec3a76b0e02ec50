#!/usr/bin/env bash
# Demo: two builds of one app behind skewgate's embedded default config.
#   dpl-a on 127.0.0.1:3001, dpl-b (current) on 127.0.0.1:3002, skewgate on 127.0.0.1:8080.
# Ctrl-C stops all three.
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"
cd "$SKEWGATE_ROOT"

LISTEN_PORT=8080
pids=()

stop_all() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
stopping=0
trap 'stop_all' EXIT
trap 'stopping=1' INT TERM

port_taken() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

for port in 3001 3002 "$LISTEN_PORT"; do
  if port_taken "$port"; then
    echo "demo: port $port on 127.0.0.1 is already in use; stop whatever listens there and retry" >&2
    exit 1
  fi
done

wait_ready() {  # wait_ready PID PORT NAME
  local i
  for i in $(seq 1 100); do
    if ! kill -0 "$1" 2>/dev/null; then
      echo "demo: $3 exited while starting (port $2)" >&2
      exit 1
    fi
    port_taken "$2" && return 0
    sleep 0.1
  done
  echo "demo: $3 did not listen on port $2 within 10s" >&2
  exit 1
}

python3 tests/support/upstream.py --mode demo --port 3001 --id dpl-a >/dev/null &
pids+=($!); wait_ready "${pids[-1]}" 3001 "build dpl-a"
python3 tests/support/upstream.py --mode demo --port 3002 --id dpl-b >/dev/null &
pids+=($!); wait_ready "${pids[-1]}" 3002 "build dpl-b"
build/skewgate &
pids+=($!); wait_ready "${pids[-1]}" "$LISTEN_PORT" "skewgate"

cat <<MSG

skewgate is listening on http://127.0.0.1:$LISTEN_PORT (builds: dpl-a on :3001, dpl-b on :3002, current dpl-b).
Try:
  curl -s http://localhost:$LISTEN_PORT/                                            # -> dpl-b (current)
  curl -s -H 'rsc: 1' -H 'x-deployment-id: dpl-a' http://localhost:$LISTEN_PORT/   # RSC request of a dpl-a tab -> dpl-a
  curl -s 'http://localhost:$LISTEN_PORT/_next/static/app.js?dpl=dpl-a'            # asset of dpl-a -> dpl-a
  curl -s -H 'x-deployment-id: dpl-a' http://localhost:$LISTEN_PORT/               # a document (reload) -> dpl-b
  curl -s 'http://localhost:$LISTEN_PORT/_next/static/app.js?dpl=dpl-gone'         # unknown build -> dpl-b
Ctrl-C stops all three.

MSG

# Wait until Ctrl-C or until any of the three exits.
wait -n "${pids[@]}" || true
if ((stopping)); then
  echo; echo "demo: stopping"
  exit 0
fi
sleep 0.2  # a Ctrl-C reaches the children too; let the trap land before judging
if ((stopping)); then
  echo; echo "demo: stopping"
  exit 0
fi
echo "demo: a process exited on its own; stopping the others" >&2
exit 1
