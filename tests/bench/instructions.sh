#!/usr/bin/env bash
# Instructions per request of skewgate, nginx and HAProxy under callgrind, for
# the main workloads of run.sh, so that a regression shows up in review.
#
#   bash tests/bench/instructions.sh             # from the repo root, ~7 min
#   BENCH_ONLY=ka50,tls_ka50 bash tests/bench/instructions.sh
#
# Why callgrind: this VM gives no hardware counters (perf stat says
# <not supported>) and the machine is shared, so CPU time is noisy; the
# instructions callgrind counts are the same from one run to the next (within
# a few per cent: timers, batching of events per wake-up).
#
# Per proxy: one process under `valgrind --tool=callgrind` (one worker/
# process/thread; the configs, certificate and upstream nginx of run.sh, from
# lib.sh and conf/*.in; nginx with master_process off so that the worker is the
# process valgrind runs). Per workload: a warm-up with the same connection
# count, `callgrind_control -z` (counters to zero), a fixed number of requests,
# `callgrind_control -d` (dump), then PROGRAM TOTALS of callgrind_annotate /
# requests the load tool completed. User space only (callgrind does not see the
# kernel), the proxy's whole process (every thread).
#
# TLS keep-alive and HTTP/2 report two figures: all, and without the
# inclusive cost of SSL_do_handshake (all three proxies call it), because wrk
# and h2load open their connections, and so handshakes, inside the measured
# window.
#
# HTTP/2 (issue 18): h2load over TLS with ALPN h2, 10 connections x 10
# concurrent streams, a fixed count (-n); a proxy whose TLS listener does not
# pick h2 has those rows n/a ("skipped: this skewgate has no h2").
#
# Page-load mixes (issue 19): run.sh's mixes (mix_requests.lua) with
# mix_count.lua, against ka50pin (keep-alive with the pin, the plain request
# of a returning browser). The pins come from a skewgate started (without
# valgrind) before the measured ones; every proxy gets the same bytes.
# The product path's own cost: each mix and ka50pin also through sg-plain,
# skewgate with conf/skewgate-plain.yaml.in (one app, one build, no
# manifests, no replay, its pin cookie under another name), on the same bytes, reported as
# skewgate / sg-plain (target <= 1.10x); sg-plain runs those rows only.
#
# Environment: BENCH_PROXIES ("skewgate sg-plain nginx haproxy"), BENCH_ONLY (comma list
# of workload names; default all), BENCH_PORT_BASE (18180: skewgate +0, nginx
# +1, haproxy +2, upstream +10, TLS +40; not run.sh's 18080, so both can run at
# once), BENCH_INSTR_SCALE (percent of the request counts below, 100),
# BENCH_PROXY_CPU (0), BENCH_LOAD_CPU (1), SKEWGATE_BIN (build/skewgate),
# BENCH_ACCESS_LOG (1: every proxy logs each request to a file, as in run.sh;
# callgrind counts the formatting, not the kernel's write).
# Needs valgrind, wrk, h2load (tls_full, h2_*), nginx (the upstream), haproxy; a
# missing one makes its column or rows n/a. The table also goes to
# tests/bench/results/instructions-latest.txt, each measured profile to
# tests/bench/results/callgrind/<proxy>-<workload>.out. Numbers only, never asserts.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

PROXIES=${BENCH_PROXIES:-"skewgate sg-plain nginx haproxy"}
PORT_BASE=${BENCH_PORT_BASE:-18180}
PROXY_CPU=${BENCH_PROXY_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}
SKEWGATE_BIN=${SKEWGATE_BIN:-$ROOT/build/skewgate}
SCALE=${BENCH_INSTR_SCALE:-100}
ONLY=${BENCH_ONLY:-}
RESULTS_DIR=$HERE/results
# Upper bound for one proxy's whole valgrind run (all workloads).
VALGRIND_TIMEOUT=900
# Concurrent streams per connection of the h2 workloads (h2load -m).
H2_STREAMS=10


# name | load tool | connections | path | extra header | warm-up requests | requests | description
# Counts are modest: under callgrind the proxies run ~50x slower. One connection
# where each request has its own (count.lua: no extra connection at the end).
WORKLOADS=(
  "ka50|wrk|10|/||300|3000|plain keep-alive, small response"
  "body16k|wrk|10|/16k||200|2000|plain keep-alive, 16 KiB response"
  "close|wrk|1|/|Connection: close|50|1000|new connection per request"
  "tls_ka50|wrk|10|/||300|3000|TLS keep-alive, small response"
  "tls_resume|wrk|1|/|Connection: close|20|200|TLS, a resumed handshake (session ticket) per request"
  "tls_full|h2load|1|/||10|100|TLS, a full handshake per request (h2load --h1, one request per connection)"
  "h2_small|h2|10|/||300|3000|HTTP/2 over TLS (h2load), 10 connections x $H2_STREAMS streams, small response"
  "h2_16k|h2|10|/16k||200|2000|HTTP/2 over TLS (h2load), 10 connections x $H2_STREAMS streams, 16 KiB response"
  "ka50pin|wrk|10|/|@PIN@|300|3000|plain keep-alive, each request carries its pin (the mixes' baseline)"
  "mix_page|mix|10|/cart||320|3200|page loads (16 requests: document, 10 assets, 3 RSC prefetches, action, replayed action)"
  "mix_document|mix|10|/cart||300|3000|documents without a pin (skewgate seals one)"
  "mix_assets|mix|10|/cart||300|3000|assets with ?dpl= and the pin"
  "mix_rsc|mix|10|/cart||300|3000|RSC prefetches with x-deployment-id and the pin"
  "mix_action|mix|10|/cart||300|3000|server actions of the current build (manifest check)"
  "mix_replay|mix|10|/cart||200|2000|stale actions replayed on dpl-a (zero-config app; nginx/HAProxy pass the 409 on)"
)
wanted() { [[ -z $ONLY || ",$ONLY," == *",$1,"* || ($1 == mix_* && ",$ONLY," == *",mix,"*) ]]; }
# sg-plain is the mixes' baseline: it runs them and ka50pin only.
runs() { [[ $1 != sg-plain || $2 == mix_* || $2 == ka50pin ]]; }
scaled() { local n=$(($1 * SCALE / 100)); echo $((n > 0 ? n : 1)); }

LOG_TAG=instr
# logging, PID tracking, ports, templates, certificate, upstream, start_proxy
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"

trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A R  # R[workload,proxy,field]

# --- load ---

# run_wrk out_file connections port path header requests scheme [mix kind]:
# exactly `requests` requests (count.lua, or mix_count.lua for a page-load
# mix); sets COUNTS="requests non_2xx 0 miss" (miss: 409 answers of a mix,
# the stale action's miss passed on).
PIN_COOKIE=skewgate_pin=none
REPLAY_PIN_COOKIE=skewgate_pin=none
run_wrk() {
  local out=$1 conns=$2 port=$3 path=$4 header=$5 n=$6 scheme=$7 mix=${8:-}
  local args=(-t 1 -c "$conns" -d 120s --timeout 30s -H 'Host: localhost')
  local tail=(-- "$n")
  if [[ -n $mix ]]; then
    args+=(-s "$HERE/mix_count.lua")
    tail=(-- "$mix" "$PIN_COOKIE" "$REPLAY_PIN_COOKIE" "$n")
  else
    args+=(-s "$HERE/count.lua")
  fi
  [[ $header == @PIN@ ]] && header="Cookie: $PIN_COOKIE"
  [[ -n $header ]] && args+=(-H "$header")
  start_bg "$out" taskset -c "$LOAD_CPU" timeout 150 wrk "${args[@]}" "$scheme://127.0.0.1:$port$path" "${tail[@]}"
  local pid=$LAST_PID
  wait "$pid" || true
  untrack "$pid"
  COUNTS=$(sed -n 's/^COUNT requests=\([0-9]*\) non_2xx=\([0-9]*\)\( miss=\([0-9]*\)\)\{0,1\}$/\1 \2 0 \4/p' "$out")
  [[ -n $COUNTS ]] || COUNTS="0 0 0"
}

# run_h2load out_file port path requests: every connection a fresh client
# (rate mode: no session to resume, a full handshake), one request each,
# one new connection per 50 ms so the slowed-down proxy is never queued up.
# Sets COUNTS="done failed errored": h2load counts a non-2xx answer as failed.
run_h2load() {
  local out=$1 port=$2 path=$3 n=$4
  start_bg "$out" taskset -c "$LOAD_CPU" timeout 300 h2load --h1 -t 1 -r 1 --rate-period 50ms \
    -c "$n" -n "$n" -H ':authority: localhost' --connect-to="127.0.0.1:$port" "https://localhost:$port$path"
  local pid=$LAST_PID
  wait "$pid" || true
  untrack "$pid"
  COUNTS=$(awk '/^requests:/ { d = $6; f = $10; e = $12 + $14 } END { printf "%d %d %d\n", d, f, e }' "$out")
}

# run_h2 out_file connections port path requests: HTTP/2 over TLS (h2load
# negotiates h2 by ALPN), H2_STREAMS concurrent streams per connection,
# exactly `requests` requests spread over the connections. Sets COUNTS as
# run_h2load; "stopped" (connections the proxy ended early, h2load's "Process
# Request Failure") count as errored.
run_h2() {
  local out=$1 conns=$2 port=$3 path=$4 n=$5
  ((conns <= n)) || conns=$n
  start_bg "$out" taskset -c "$LOAD_CPU" timeout 300 h2load -t 1 -c "$conns" -m "$H2_STREAMS" -n "$n" \
    -H ':authority: localhost' --connect-to="127.0.0.1:$port" "https://localhost:$port$path"
  local pid=$LAST_PID
  wait "$pid" || true
  untrack "$pid"
  COUNTS=$(awk '/^requests:/ { d = $6; f = $10; e = $12 + $14 } /^Process Request Failure/ { s++ }
                /^Application protocol:/ { app = $3 }
                END { if (app != "h2") d = 0; printf "%d %d %d\n", d, f, e + s }' "$out")
}

# --- callgrind ---

COUNTS=
VG_PID=
DUMPS=0
CG_DIR=

# The valgrind process is timeout's child, not the PID start_bg recorded.
valgrind_pid() { ps -o pid= --ppid "$1" | awk 'NR == 1 { print $1 }'; }

# Counters to zero; then the measured load; then dump $CG_DIR/<proxy>.<pid>.<n>.
cg_zero() { timeout 60 callgrind_control -z "$VG_PID" >/dev/null 2>&1; }
CG_FILE=
cg_dump() { # proxy -> CG_FILE (empty when no dump)
  CG_FILE=
  timeout 120 callgrind_control -d "$VG_PID" >/dev/null 2>&1 || return 0
  DUMPS=$((DUMPS + 1))
  local f=$CG_DIR/$1.$VG_PID.$DUMPS i
  # callgrind_control returns once the dump is requested; the file ends with
  # its "totals:" line when written
  for ((i = 0; i < 300; i++)); do
    grep -q '^totals:' "$f" 2>/dev/null && { CG_FILE=$f; return; }
    sleep 0.1
  done
}

# dump file -> "total handshake": PROGRAM TOTALS and the inclusive cost of
# SSL_do_handshake (0 when the profile has none).
cg_totals() {
  timeout 120 callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null | awk '
    /PROGRAM TOTALS/ { gsub(/,/, "", $1); total = $1 }
    /[:]SSL_do_handshake[ ]/ && !hs { gsub(/,/, "", $1); hs = $1 }
    END { if (total) printf "%s %d\n", total, hs }'
}

kinstr() { awk -v i="$1" -v r="$2" 'BEGIN { printf "%.1f", i / r / 1000 }'; }

# measure proxy workload-spec
measure() {
  local proxy=$1 spec=$2
  local wl tool conns path header warm n desc port=${PORT[$1]} scheme=http out
  IFS='|' read -r wl tool conns path header warm n desc <<<"$spec"
  warm=$(scaled "$warm"); n=$(scaled "$n")
  if [[ $wl == tls_* || $wl == h2_* ]]; then port=$((port + TLS_PORT_OFFSET)); scheme=https; fi
  out=$TMP/$tool-$proxy-$wl
  log "$proxy $wl: $warm warm-up + $n measured requests ($desc)"
  local reqs bad errs miss
  if [[ $tool == h2 ]]; then
    run_h2 "$out.warmup" "$conns" "$port" "$path" "$warm"
    cg_zero || { R[$wl,$proxy,na]="callgrind_control -z failed"; return; }
    run_h2 "$out" "$conns" "$port" "$path" "$n"
  elif [[ $tool == h2load ]]; then
    run_h2load "$out.warmup" "$port" "$path" "$warm"
    cg_zero || { R[$wl,$proxy,na]="callgrind_control -z failed"; return; }
    run_h2load "$out" "$port" "$path" "$n"
  else
    local mix=
    [[ $tool == mix ]] && mix=$wl
    run_wrk "$out.warmup" "$conns" "$port" "$path" "$header" "$warm" "$scheme" "$mix"
    cg_zero || { R[$wl,$proxy,na]="callgrind_control -z failed"; return; }
    run_wrk "$out" "$conns" "$port" "$path" "$header" "$n" "$scheme" "$mix"
  fi
  read -r reqs bad errs miss <<<"$COUNTS"
  miss=${miss:-0}
  # the stale action's 409: skewgate must have replayed it; nginx and
  # HAProxy pass it on (noted under the table, not an error)
  if [[ $proxy == skewgate || $proxy == sg-nometrics ]]; then bad=$((bad + miss)); else R[$wl,$proxy,miss]=$miss; fi
  cg_dump "$proxy"
  if ! kill -0 "$VG_PID" 2>/dev/null; then
    R[$wl,$proxy,na]="proxy exited during the run"
    return
  fi
  if ((reqs == 0)); then
    R[$wl,$proxy,na]="load generator failed: $(tail -n 2 "$out" | tr '\n' ' ' | cut -c1-120)"
    return
  fi
  [[ -n $CG_FILE ]] || { R[$wl,$proxy,na]="callgrind_control -d wrote no dump"; return; }
  # kept for a look at where the instructions go (callgrind_annotate, kcachegrind)
  cp "$CG_FILE" "$RESULTS_DIR/callgrind/$proxy-$wl.out"
  local total hs
  read -r total hs < <(cg_totals "$CG_FILE") || true
  [[ -n ${total:-} ]] || { R[$wl,$proxy,na]="callgrind_annotate found no totals in $CG_FILE"; return; }
  R[$wl,$proxy,reqs]=$reqs
  R[$wl,$proxy,errors]=$((bad + errs))
  R[$wl,$proxy,k]=$(kinstr "$total" "$reqs")
  R[$wl,$proxy,hs]=$(kinstr "$hs" "$reqs")
  R[$wl,$proxy,k_nohs]=$(kinstr "$((total - hs))" "$reqs")
  log "$proxy $wl: $reqs requests, $total instructions: ${R[$wl,$proxy,k]}k/req (SSL_do_handshake ${R[$wl,$proxy,hs]}k/req)"
}

# run_proxy proxy: one valgrind process for all workloads of the proxy.
run_proxy() {
  local p=$1 spec why= any=
  for spec in "${WORKLOADS[@]}"; do runs "$p" "${spec%%|*}" && any=1; done
  [[ -n $any ]] || return 0
  if [[ -z $VALGRIND_OK ]]; then
    why="valgrind (callgrind_control, callgrind_annotate) missing: apt-get install valgrind"
  else
    CG_DIR=$TMP/callgrind
    mkdir -p "$CG_DIR"
    chmod a+rwx "$CG_DIR"
    PROXY_WRAP=(timeout "$VALGRIND_TIMEOUT" valgrind --tool=callgrind --callgrind-out-file="$CG_DIR/$p.%p")
    if ! start_proxy "$p"; then
      why=$NA_REASON
    else
      VG_PID=$(valgrind_pid "$PROXY_PID")
      DUMPS=0
      [[ -n $VG_PID ]] || { why="no valgrind process under timeout"; stop_pid "$PROXY_PID"; }
    fi
  fi
  if [[ -n $why ]]; then
    log "$p: n/a ($why)"
    for spec in "${WORKLOADS[@]}"; do runs "$p" "${spec%%|*}" && R[${spec%%|*},$p,na]=$why; done
    return
  fi
  log "$p under callgrind on 127.0.0.1:${PORT[$p]} (cpu $PROXY_CPU), valgrind pid $VG_PID"
  [[ -n $TLS_NA_REASON ]] && log "$p: TLS n/a ($TLS_NA_REASON)"
  local wl tool h2_checked=
  for spec in "${WORKLOADS[@]}"; do
    IFS='|' read -r wl tool _ <<<"$spec"
    runs "$p" "$wl" || continue
    if [[ ($wl == tls_* || $wl == h2_*) && -n $TLS_NA_REASON ]]; then R[$wl,$p,na]=$TLS_NA_REASON; continue; fi
    [[ $tool == h2 ]] && tool=h2load
    [[ $tool == mix ]] && tool=wrk
    if [[ -z $(command -v "$tool") ]]; then R[$wl,$p,na]="$tool missing"; continue; fi
    if [[ $wl == h2_* ]]; then
      if [[ -z $h2_checked ]]; then
        h2_checked=1
        h2_check "$p" $((PORT[$p] + TLS_PORT_OFFSET)) 60 || log "$p: h2 n/a ($H2_NA_REASON)"
      fi
      if [[ -n $H2_NA_REASON ]]; then R[$wl,$p,na]=$H2_NA_REASON; continue; fi
    fi
    if ! kill -0 "$VG_PID" 2>/dev/null; then R[$wl,$p,na]="proxy exited before"; continue; fi
    measure "$p" "$spec"
  done
  stop_pid "$PROXY_PID"
  PROXY_PID=
}

# --- report ---

ratio() { # a b -> a/b as "0.87x" or n/a
  if [[ -n ${1:-} && -n ${2:-} ]] && awk -v b="$2" 'BEGIN { exit !(b > 0) }'; then
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'
  else
    echo n/a
  fi
}

# verdict a b limit: "a/b met|not met" (a/b <= limit), or n/a.
verdict() {
  local r
  r=$(ratio "${1:-}" "${2:-}")
  [[ $r == n/a ]] && { echo n/a; return; }
  if awk -v r="${r%x}" -v l="$3" 'BEGIN { exit !(r <= l + 1e-9) }'; then echo "$r met"; else echo "$r not met"; fi
}

# The product path: skewgate against sg-plain on the same request bytes, so
# the ratio is what pins, manifests and replay cost, not the request's size.
# Replay's second upstream exchange is the feature itself: mix_replay is
# also put against two plain exchanges, and mix_page (1 replay in its 16
# requests, mix_requests.lua) against its plain figure plus 1/16 of a plain
# replay exchange.
product_path() {
  local spec wl sg plain base
  printf '\nproduct path: skewgate / sg-plain on the same request bytes (k instr/req; target <= 1.10x, never asserted;\n'
  printf 'sg-plain = conf/skewgate-plain.yaml.in: one app, one build, no manifests, no replay, its pin cookie under\n'
  printf 'another name (the pins of the mixes are never opened);'
  printf ' pins cannot be turned off, so a document gets a new pin in both\n'
  printf 'and mix_document shows no sealing cost):\n'
  printf '  %-13s %9s %9s  %s\n' workload skewgate sg-plain 'skewgate / sg-plain'
  for spec in "${WORKLOADS[@]}"; do
    IFS='|' read -r wl _ <<<"$spec"
    [[ $wl == mix_* || $wl == ka50pin ]] || continue
    sg=${R[$wl,skewgate,k]:-}
    plain=${R[$wl,sg-plain,k]:-}
    printf '  %-13s %9s %9s  ' "$wl" "${sg:-n/a}" "${plain:-n/a}"
    case $wl in
      mix_replay)
        base=$(awk -v p="$plain" 'BEGIN { if (p != "") printf "%.1f", 2 * p }')
        echo "$(ratio "$sg" "$plain") (two upstream exchanges against one);" \
          "against two plain exchanges ($base): $(verdict "$sg" "$base" 1.10)" ;;
      mix_page)
        base=$(awk -v p="$plain" -v r="${R[mix_replay,sg-plain,k]:-}" \
          'BEGIN { if (p != "" && r != "") printf "%.1f", p + r / 16 }')
        echo "$(verdict "$sg" "$plain" 1.10); with the replay's second exchange as one more plain" \
          "exchange (+ mix_replay/16 = ${base:-n/a}): $(ratio "$sg" "$base")" ;;
      *) verdict "$sg" "$plain" 1.10 ;;
    esac
  done
}

report() {
  local spec wl p desc row field
  echo "skewgate instructions per request  $(date -u '+%Y-%m-%d %H:%M:%SZ')  git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "host: $(nproc) cpus, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
  echo "versions: $("$NGINX_BIN" -v 2>&1 | sed 's/.*version: //'), $("$HAPROXY_BIN" -v 2>/dev/null | head -n1 | awk '{ print "HAProxy " $3 }'), skewgate $([[ -x $SKEWGATE_BIN ]] && echo "$SKEWGATE_BIN" || echo 'not built'), $(valgrind --version 2>/dev/null || echo 'no valgrind')"
  echo "k instr/req = user-space instructions of the proxy's process (callgrind, every thread) / requests completed, in thousands;"
  echo "one worker/process/thread each, run.sh's configs; wrk: 10 keep-alive connections, 1 for Connection: close; a fixed request count after a warm-up on as many connections"
  echo "tls_ka50 -hs = tls_ka50 without the inclusive cost of SSL_do_handshake (wrk's 10 connections handshake in the window); h2_* -hs alike (h2load's 10)"
  echo "h2_*: h2load over TLS, ALPN h2, 10 connections x $H2_STREAMS concurrent streams, -n requests"
  if [[ -n $ACCESS_LOG ]]; then
    echo "access log: ON for all three, to a file (nginx combined unbuffered; HAProxy log stdout format raw + httplog; skewgate its default format)"
  else
    echo "access log: off for all three (BENCH_ACCESS_LOG=1: each logs every request to a file)"
  fi
  echo
  printf '%-14s' workload
  for p in $PROXIES; do printf ' %10s' "$p"; done
  printf ' %11s %13s  %s\n' 'sg/nginx' 'sg/haproxy' requests
  for spec in "${WORKLOADS[@]}"; do
    IFS='|' read -r wl _ <<<"$spec"
    for row in "$wl" "$wl -hs"; do
      field=k
      if [[ $row == *-hs ]]; then [[ $wl == tls_ka50 || $wl == h2_* ]] || continue; field=k_nohs; fi
      printf '%-14s' "$row"
      local reqs=()
      for p in $PROXIES; do
        # "*": some answers were errors (see below), the figure is not comparable
        if ! runs "$p" "$wl"; then printf ' %10s' -; reqs+=(-); continue; fi
        printf ' %10s' "${R[$wl,$p,$field]:-n/a}$([[ ${R[$wl,$p,errors]:-0} != 0 ]] && echo '*')"
        reqs+=("${R[$wl,$p,reqs]:--}")
      done
      printf ' %11s %13s  %s\n' "$(ratio "${R[$wl,skewgate,$field]:-}" "${R[$wl,nginx,$field]:-}")" \
        "$(ratio "${R[$wl,skewgate,$field]:-}" "${R[$wl,haproxy,$field]:-}")" "$(IFS=/; echo "${reqs[*]}")"
    done
  done
  local hs_said=0
  for spec in "${WORKLOADS[@]}"; do
    IFS='|' read -r wl _ <<<"$spec"
    [[ $wl == tls_* || $wl == h2_* ]] || continue
    ((hs_said++)) || printf '\nSSL_do_handshake, k instr/req (inclusive):\n'
    printf '  %-12s' "$wl"
    for p in $PROXIES; do printf ' %s %s' "$p" "${R[$wl,$p,hs]:-n/a}"; done
    echo
  done
  local mix_said=0
  for spec in "${WORKLOADS[@]}"; do
    IFS='|' read -r wl _ <<<"$spec"
    [[ $wl == mix_* ]] || continue
    ((mix_said++)) || printf '\nmixes / ka50pin (k instr/req; the product path against the plain request of a returning browser, target <= 1.10x for skewgate):\n'
    printf '  %-12s' "$wl"
    for p in $PROXIES; do printf ' %s %s' "$p" "$(ratio "${R[$wl,$p,k]:-}" "${R[ka50pin,$p,k]:-}")"; done
    # The mixes' requests and answers are larger than ka50pin's, which costs
    # any proxy more: skewgate's growth over theirs is what skew adds.
    printf '   skewgate growth / the smaller growth of nginx and haproxy %s\n' \
      "$(excess "${R[$wl,skewgate,k]:-x}" "${R[ka50pin,skewgate,k]:-x}" "${R[$wl,nginx,k]:-x}" \
         "${R[ka50pin,nginx,k]:-x}" "${R[$wl,haproxy,k]:-x}" "${R[ka50pin,haproxy,k]:-x}")"
  done
  [[ " $PROXIES " == *" sg-plain "* ]] && product_path
  for spec in "${WORKLOADS[@]}"; do
    IFS='|' read -r wl _ <<<"$spec"
    for p in $PROXIES; do
      ((${R[$wl,$p,miss]:-0} > 0)) && echo "  ($wl $p: ${R[$wl,$p,miss]} answers 409: the stale action's miss passed on, no replay)"
    done
  done
  local said=0
  for spec in "${WORKLOADS[@]}"; do
    IFS='|' read -r wl _ _ _ _ _ _ desc <<<"$spec"
    for p in $PROXIES; do
      if [[ -n ${R[$wl,$p,na]:-} ]]; then
        ((said++)) || echo
        echo "n/a: $wl $p: ${R[$wl,$p,na]}"
      elif [[ ${R[$wl,$p,errors]:-0} != 0 ]]; then
        ((said++)) || echo
        echo "*: $wl $p: ${R[$wl,$p,errors]} of the requests failed or were answered non-2xx/3xx"
      fi
    done
  done
  echo
  echo "workloads:"
  for spec in "${WORKLOADS[@]}"; do
    IFS='|' read -r wl _ _ _ _ _ _ desc <<<"$spec"
    echo "  $wl: $desc"
  done
}

# --- main ---

VALGRIND_OK=

main() {
  command -v taskset >/dev/null || die "taskset (util-linux) missing"
  command -v curl >/dev/null || die "curl missing"
  command -v openssl >/dev/null || die "openssl missing"
  [[ -x $NGINX_BIN ]] || die "nginx missing (it is also the upstream): apt-get install nginx-light"
  if command -v valgrind >/dev/null && command -v callgrind_control >/dev/null \
     && command -v callgrind_annotate >/dev/null; then
    VALGRIND_OK=1
  else
    log "valgrind missing (apt-get install valgrind): every column n/a"
  fi
  command -v wrk >/dev/null || log "wrk missing: every workload but tls_full and h2_* n/a"
  command -v h2load >/dev/null || log "h2load (nghttp2-client) missing: tls_full and h2_* n/a"
  local keep=() spec p
  for spec in "${WORKLOADS[@]}"; do wanted "${spec%%|*}" && keep+=("$spec"); done
  WORKLOADS=("${keep[@]+"${keep[@]}"}")
  ((${#WORKLOADS[@]})) || die "BENCH_ONLY=$ONLY names no workload"
  for p in $PROXIES; do [[ -n ${PORT[$p]:-} ]] || die "unknown proxy '$p' in BENCH_PROXIES"; done

  # Few connections here; valgrind keeps some descriptors for itself.
  NOFILE=4096
  WORKER_CONNECTIONS=1024
  HAPROXY_MAXCONN=1024
  # nginx: one process, no master (the worker is what valgrind would not follow)
  NGINX_PROXY_ARGS=(-g 'master_process off;')
  ACCESS_LOG=${BENCH_ACCESS_LOG:-}
  [[ $ACCESS_LOG == 0 ]] && ACCESS_LOG=
  PROXY_START_TRIES=900  # 90 s: start-up under valgrind is slow
  PROBE_MAX_TIME=60
  port_busy "$UPSTREAM_PORT" && die "port $UPSTREAM_PORT busy; set BENCH_PORT_BASE"

  TMP=$(mktemp -d /tmp/skewgate-instr.XXXXXX)
  chmod 755 "$TMP"
  mkdir -p "$RESULTS_DIR/callgrind"
  rm -f "$RESULTS_DIR"/callgrind/*.out
  make_certificate
  start_upstream
  log "upstream nginx on 127.0.0.1:$UPSTREAM_PORT (cpu $LOAD_CPU), pid $UPSTREAM_PID"

  # The pins of the mixes and ka50pin: sealed by a skewgate outside valgrind
  # (the bench's fixed secret), so every proxy gets the same bytes.
  local need_pin=
  for spec in "${WORKLOADS[@]}"; do [[ $spec == mix_* || $spec == ka50pin* ]] && need_pin=1; done
  if [[ -n $need_pin && -x $SKEWGATE_BIN ]]; then
    local saved_tries=$PROXY_START_TRIES
    PROXY_START_TRIES=100
    if start_proxy skewgate; then
      PIN_COOKIE=$(pin_of localhost "${PORT[skewgate]}")
      REPLAY_PIN_COOKIE=$(pin_of replay.localhost "${PORT[skewgate]}")
      stop_pid "$PROXY_PID"
      PROXY_PID=
    fi
    PROXY_START_TRIES=$saved_tries
    PIN_COOKIE=${PIN_COOKIE:-skewgate_pin=none}
    REPLAY_PIN_COOKIE=${REPLAY_PIN_COOKIE:-skewgate_pin=none}
    log "pins for ka50pin and the mixes: ${PIN_COOKIE:0:24}..., ${REPLAY_PIN_COOKIE:0:24}..."
  fi

  for p in $PROXIES; do run_proxy "$p"; done

  report | tee "$RESULTS_DIR/instructions-latest.txt"
  log "written $RESULTS_DIR/instructions-latest.txt"
}

main "$@"
