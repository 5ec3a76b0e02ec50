# shellcheck shell=bash
# Shared by run.sh and instructions.sh (sourced, never run): logging, process
# tracking (every process started is tracked by PID and stopped by PID), port
# checks, config templates, the test certificate, the upstream nginx and the
# proxies under test. Uses the sourcing script's globals: HERE (tests/bench),
# PORT_BASE, TMP, PROXY_CPU, LOAD_CPU, NOFILE, WORKER_CONNECTIONS,
# HAPROXY_MAXCONN, SKEWGATE_BIN; sets the port layout below from PORT_BASE.
#
# Hooks for running the proxies under a tool (instructions.sh: valgrind), all
# empty or at run.sh's values by default:
#   PROXY_WRAP        command prefix between taskset and the proxy
#   NGINX_PROXY_ARGS  extra nginx arguments for the proxy nginx
#   PROXY_START_TRIES tenths of a second to wait for the proxy's port (100)
#   PROBE_MAX_TIME    curl --max-time of the probe requests, s (3)
#   PROXY_WORKERS     workers/processes/threads of each proxy (1; run.sh's
#                     worker-spread rows: 2)
#   PROXY_CPUS        taskset -c list of the proxy (PROXY_CPU; spread rows: both)
#   ACCESS_LOG        1: every proxy logs each request to a file in its temp
#                     dir (BENCH_ACCESS_LOG); empty: no access log
# Ports: each proxy's plain listener from PORT_BASE, its TLS listener
# TLS_PORT_OFFSET above, the upstream nginx at +10 (build dpl-b of the
# page-load mixes, the one every proxy sends to) and +11 (build dpl-a, which
# only skewgate reaches). sg-nometrics: skewgate with
# metrics.enabled: false, to measure what metrics cost
# (BENCH_PROXIES="skewgate sg-nometrics"). sg-plain: skewgate with
# conf/skewgate-plain.yaml.in (one app, one build, no manifests, no replay,
# its pin cookie under another name): the plain proxy path the mixes are compared
# with, on the same request bytes.
UPSTREAM_PORT=$((PORT_BASE + 10))
UPSTREAM_PORT_A=$((PORT_BASE + 11))
declare -A PORT=([skewgate]=$PORT_BASE [nginx]=$((PORT_BASE + 1)) [haproxy]=$((PORT_BASE + 2))
                 [sg-nometrics]=$((PORT_BASE + 3)) [sg-plain]=$((PORT_BASE + 4)))
TLS_PORT_OFFSET=40

PROXY_WRAP=()
NGINX_PROXY_ARGS=()
PROXY_START_TRIES=100
PROBE_MAX_TIME=3
PROXY_WORKERS=1
PROXY_CPUS=
ACCESS_LOG=

LOG_TAG=${LOG_TAG:-bench}
log() { printf '[%s %(%H:%M:%S)T] %s\n' "$LOG_TAG" -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- processes: every one started here is tracked by PID and stopped by PID ---

TRACKED=()
LAST_PID=
TMP=

track() { TRACKED+=("$1"); }
untrack() {
  local pid=$1 keep=() p
  for p in "${TRACKED[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  TRACKED=("${keep[@]+"${keep[@]}"}")
}

# Prints the PID and its descendants (nginx master + worker, any forked
# skewgate workers).
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      if (!(root in parent)) exit
      in_tree[root] = 1; grew = 1
      while (grew) {
        grew = 0
        for (p in parent) if (!(p in in_tree) && (parent[p] in in_tree)) { in_tree[p] = 1; grew = 1 }
      }
      for (p in in_tree) print p
    }'
}

comm_of() { cat "/proc/$1/comm" 2>/dev/null || true; }

# SIGTERM, wait up to 5 s, then SIGKILL; descendants that outlive their parent
# are killed by the PIDs recorded before (only if still the same program).
stop_pid() {
  local pid=$1 i d
  [[ -n $pid ]] || return 0
  local -a desc=() desc_comm=()
  for d in $(tree_pids "$pid"); do
    [[ $d == "$pid" ]] && continue
    desc+=("$d"); desc_comm+=("$(comm_of "$d")")
  done
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for i in "${!desc[@]}"; do
    d=${desc[$i]}
    if [[ -e /proc/$d && "$(comm_of "$d")" == "${desc_comm[$i]}" ]]; then
      kill -KILL "$d" 2>/dev/null || true
    fi
  done
  untrack "$pid"
}

cleanup() {
  local rc=$? pid
  trap - EXIT
  for pid in "${TRACKED[@]+"${TRACKED[@]}"}"; do stop_pid "$pid"; done
  [[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"
  exit "$rc"
}

# Runs "$@" in the background with stdout/stderr to $1; sets LAST_PID.
start_bg() {
  local out=$1; shift
  "$@" >"$out" 2>&1 &
  LAST_PID=$!
  track "$LAST_PID"
}

# --- environment ---

ensure_packages() {
  local missing=() pkg
  for pkg in wrk haproxy nghttp2-client; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ! dpkg -s nginx-light >/dev/null 2>&1 && ! dpkg -s nginx >/dev/null 2>&1 \
     && ! dpkg -s nginx-core >/dev/null 2>&1; then
    missing+=(nginx-light)
  fi
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"; then
    "${sudo[@]}" apt-get update -qq || true
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" \
      || log "warning: could not install ${missing[*]}; those columns will be n/a"
  fi
}

NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY_BIN=$(command -v haproxy || echo /usr/sbin/haproxy)

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits until something accepts on the port while $2 is alive, up to $3
# tenths of a second (100).
wait_port() {
  local port=$1 pid=$2 tries=${3:-100} i
  for ((i = 0; i < tries; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    port_busy "$port" && return 0
    sleep 0.1
  done
  return 1
}

render() { # template output key=value...
  local tpl=$1 out=$2; shift 2
  local args=() kv
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$tpl" >"$out"
}

# --- the TLS certificate every proxy serves ---

TLS_DIR=

# A test CA and an ECDSA P-256 leaf for localhost and 127.0.0.1 (openssl CLI);
# chain.pem = leaf + CA, haproxy.pem = chain + key (HAProxy wants one file).
make_certificate() {
  TLS_DIR=$TMP/tls
  mkdir -p "$TLS_DIR"
  (
    cd "$TLS_DIR"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=skewgate bench CA" -keyout ca.key -out ca.pem
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout key.pem -out leaf.csr
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
      'keyUsage=digitalSignature' 'extendedKeyUsage=serverAuth' >leaf.ext
    openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile leaf.ext -out leaf.pem
    cat leaf.pem ca.pem >chain.pem
    cat chain.pem key.pem >haproxy.pem
    chmod a+r ./*.pem  # nginx reads them as root, but keep them readable for its workers too
  ) >"$TMP/openssl.log" 2>&1 || die "openssl could not make the test certificate: $(tail -n 3 "$TMP/openssl.log")"
}

# Whether a second TLS connection to the port resumes the first one's session
# (openssl s_client -sess_out, then -sess_in), and what was negotiated:
# "resumed TLSv1.3 TLS_AES_256_GCM_SHA384" or "not resumed ...".
tls_probe() {
  local port=$1 sess=$TMP/probe-$1.sess req='GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' first second
  # -ign_eof: read until the server closes, so a TLS 1.3 ticket sent after the handshake arrives
  first=$(printf "$req" | timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
          -sess_out "$sess" -ign_eof 2>/dev/null) || true
  second=$(printf "$req" | timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername localhost \
           -sess_in "$sess" -ign_eof 2>/dev/null) || true
  local line
  line=$(grep -m1 -E '^(New|Reused), ' <<<"$second" || true)
  [[ -n $line ]] || { echo "handshake failed"; return; }
  local proto cipher
  proto=$(sed -E 's/^[A-Za-z]+, ([^,]+), Cipher is (.*)$/\1/' <<<"$line")
  cipher=$(sed -E 's/^[A-Za-z]+, ([^,]+), Cipher is (.*)$/\2/' <<<"$line")
  if [[ $line == Reused,* ]]; then echo "resumed $proto $cipher"; else echo "not resumed $proto $cipher"; fi
}

# The protocol the TLS listener on the port picks when a client offers
# "h2,http/1.1" (RFC 7301), as `openssl s_client` prints it: "h2", "http/1.1",
# or "none" (no ALPN in the answer, or no handshake). $2: s_client's timeout
# in seconds (5).
alpn_of() {
  local out
  # s_client also prints what the server sends after the handshake: an h2
  # server's SETTINGS frame, binary (NUL bytes), hence LC_ALL=C sed -n here
  out=$(timeout "${2:-5}" openssl s_client -connect "127.0.0.1:$1" -servername localhost \
        -alpn h2,http/1.1 </dev/null 2>/dev/null | LC_ALL=C sed -n 's/^ALPN protocol: //p' | head -n1) || true
  echo "${out:-none}"
}

# Sets H2_NA_REASON to why proxy $1 cannot run the HTTP/2 workloads on its
# TLS port $2, or empty: its listener must pick h2 from "h2,http/1.1", and a
# request over h2 (curl --http2) must come back "ok" as HTTP/2. $3: seconds
# for each probe (5). A skewgate from before issue 18 picks http/1.1.
h2_check() {
  local proxy=$1 port=$2 secs=${3:-5} alpn got
  H2_NA_REASON=
  alpn=$(alpn_of "$port" "$secs")
  if [[ $alpn != h2 ]]; then
    if [[ $proxy == skewgate || $proxy == sg-* ]]; then
      H2_NA_REASON="skipped: this skewgate has no h2 (ALPN h2,http/1.1 -> $alpn)"
    else
      H2_NA_REASON="no h2 on the TLS listener (ALPN h2,http/1.1 -> $alpn)"
    fi
    return 1
  fi
  got=$(curl -s --http2 --max-time "$secs" --cacert "$TLS_DIR/ca.pem" --resolve "localhost:$port:127.0.0.1" \
        -w ' HTTP/%{http_version}' "https://localhost:$port/" 2>&1 || true)
  if [[ $got != $'ok\n HTTP/2' ]]; then
    H2_NA_REASON="h2 probe failed (curl --http2 https / -> '$(tr '\n' ' ' <<<"${got:0:60}")')"
    return 1
  fi
}

# pin_of host port [seconds]: the pin cookie ("skewgate_pin=<value>") the
# skewgate on `port` seals for a document of `host`'s app (the page-load
# mixes' /cart: skewgate pins text/html answers only), or nothing.
pin_of() {
  curl -s -D - -o /dev/null --max-time "${3:-5}" -H "Host: $1" -H 'Accept: text/html' -H 'Sec-Fetch-Mode: navigate' \
    "http://127.0.0.1:$2/cart" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | tr -d '\r' | head -n1 || true
}

# excess sg_mix sg_base [ref_mix ref_base]...: skewgate's growth from its
# base to a mix (sg_mix / sg_base) over the smallest growth of the reference
# proxies with both figures, as "1.22x", or n/a. The page-load mixes' requests
# are larger than ka50pin's, which costs every proxy more; what skewgate adds
# beyond that is what its product path costs.
excess() {
  awk -v args="$*" 'BEGIN {
    n = split(args, v, " ")
    if (n < 4 || v[1] + 0 <= 0 || v[2] + 0 <= 0) { print "n/a"; exit }
    best = ""
    for (i = 3; i + 1 <= n; i += 2)
      if (v[i] ~ /^[0-9.]+$/ && v[i + 1] ~ /^[0-9.]+$/ && v[i + 1] + 0 > 0) {
        g = v[i] / v[i + 1]
        if (best == "" || g < best) best = g
      }
    if (best == "" || best <= 0) { print "n/a"; exit }
    printf "%.2fx\n", (v[1] / v[2]) / best
  }'
}

# --- upstream and proxies ---

UPSTREAM_PID=

start_upstream() {
  local dir=$TMP/upstream
  mkdir -p "$dir/www"
  head -c 16384 /dev/zero | tr '\0' 'x' >"$dir/www/16k"
  chmod -R a+rX "$dir"
  render "$HERE/conf/nginx-upstream.conf.in" "$dir/nginx.conf" DIR="$dir" PORT="$UPSTREAM_PORT" \
    PORT_A="$UPSTREAM_PORT_A" NOFILE="$NOFILE" WORKER_CONNECTIONS="$WORKER_CONNECTIONS"
  write_manifests
  start_bg "$dir/stdout.log" taskset -c "$LOAD_CPU" "$NGINX_BIN" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log"
  UPSTREAM_PID=$LAST_PID
  wait_port "$UPSTREAM_PORT" "$UPSTREAM_PID" && wait_port "$UPSTREAM_PORT_A" "$UPSTREAM_PID" \
    || die "upstream nginx did not start: $(tail -n 5 "$dir/error.log" "$dir/stdout.log" 2>/dev/null)"
  [[ $(curl -s --max-time 2 "http://127.0.0.1:$UPSTREAM_PORT/") == "ok" ]] || die "upstream does not answer ok"
}

# The server-reference-manifest.json of each build of the mixes' app
# (design.md section 2; its encryptionKey is made up): the action IDs of
# mix_requests.lua. dpl-b (current) has ACTION_CURRENT only, dpl-a both.
MANIFEST_DIR=
write_manifests() {
  MANIFEST_DIR=$TMP/manifests
  mkdir -p "$MANIFEST_DIR"
  local current=842e48e9326f96c01e504bd8415961c674f0ff0984 old=28308176abe93927d250602e3372778ede5f7bac89
  local entry='{"workers": {"app/cart/page": {"moduleId": 8123, "async": false}}, "layer": {"app/cart/page": "action-browser"}}'
  printf '{"node": {"%s": %s}, "edge": {}, "encryptionKey": "bench-not-a-key-b"}\n' "$current" "$entry" \
    >"$MANIFEST_DIR/manifest-b.json"
  printf '{"node": {"%s": %s, "%s": %s}, "edge": {}, "encryptionKey": "bench-not-a-key-a"}\n' \
    "$current" "$entry" "$old" "$entry" >"$MANIFEST_DIR/manifest-a.json"
  chmod -R a+rX "$MANIFEST_DIR"
}

PROXY_PID=
PROXY_DIR=
NA_REASON=

# Starts proxy $1 on core PROXY_CPU; sets PROXY_PID or NA_REASON and returns 1.
start_proxy() {
  local name=$1 port=${PORT[$1]} dir=$TMP/$1-$RANDOM
  local tls_port=$((PORT[$1] + TLS_PORT_OFFSET)) cpus=${PROXY_CPUS:-$PROXY_CPU}
  mkdir -p "$dir"
  chmod a+rx "$dir"
  PROXY_PID=
  PROXY_DIR=$dir
  NA_REASON=
  TLS_NA_REASON=
  if port_busy "$port"; then
    NA_REASON="port $port busy"
    return 1
  fi
  if port_busy "$tls_port"; then
    NA_REASON="port $tls_port busy"
    return 1
  fi
  case $name in
    nginx)
      [[ -x $NGINX_BIN ]] || { NA_REASON="nginx not installed"; return 1; }
      # BENCH_ACCESS_LOG=1: nginx's default, the combined format, unbuffered
      local nginx_log=off
      [[ -n $ACCESS_LOG ]] && nginx_log="$dir/access.log combined"
      render "$HERE/conf/nginx-proxy.conf.in" "$dir/nginx.conf" DIR="$dir" PORT="$port" \
        UPSTREAM_PORT="$UPSTREAM_PORT" NOFILE="$NOFILE" WORKER_CONNECTIONS="$WORKER_CONNECTIONS" \
        TLS_PORT="$tls_port" TLS_CERT="$TLS_DIR/chain.pem" TLS_KEY="$TLS_DIR/key.pem" \
        WORKERS="$PROXY_WORKERS" ACCESS_LOG="$nginx_log"
      start_bg "$dir/stdout.log" taskset -c "$cpus" ${PROXY_WRAP[@]+"${PROXY_WRAP[@]}"} "$NGINX_BIN" \
        -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" ${NGINX_PROXY_ARGS[@]+"${NGINX_PROXY_ARGS[@]}"}
      ;;
    haproxy)
      [[ -x $HAPROXY_BIN ]] || { NA_REASON="haproxy not installed"; return 1; }
      # BENCH_ACCESS_LOG=1: HAProxy's HTTP log line to stdout (no syslog
      # service needed), stdout being $dir/access.log
      local log_global='' log_defaults='' out=$dir/stdout.log
      if [[ -n $ACCESS_LOG ]]; then
        log_global="log stdout format raw local0"
        log_defaults="log global\n    option httplog"
        out=$dir/access.log
      fi
      render "$HERE/conf/haproxy.cfg.in" "$dir/haproxy.cfg" PORT="$port" \
        UPSTREAM_PORT="$UPSTREAM_PORT" MAXCONN="$HAPROXY_MAXCONN" \
        TLS_PORT="$tls_port" TLS_PEM="$TLS_DIR/haproxy.pem" WORKERS="$PROXY_WORKERS" \
        LOG_GLOBAL="$log_global" LOG_DEFAULTS="$log_defaults"
      # -db: foreground, a single process (no master-worker)
      start_bg "$out" taskset -c "$cpus" ${PROXY_WRAP[@]+"${PROXY_WRAP[@]}"} "$HAPROXY_BIN" -db -f "$dir/haproxy.cfg"
      ;;
    skewgate|sg-nometrics|sg-plain)
      [[ -x $SKEWGATE_BIN ]] || { NA_REASON="not built ($SKEWGATE_BIN)"; return 1; }
      local metrics=true template=$HERE/conf/skewgate.yaml.in
      [[ $name == sg-nometrics ]] && metrics=false
      [[ $name == sg-plain ]] && template=$HERE/conf/skewgate-plain.yaml.in
      local tls_listener=", {address: 127.0.0.1:$tls_port, tls: {cert: $TLS_DIR/chain.pem, key: $TLS_DIR/key.pem}}"
      local http2="http2: {max_requests: 100000000}"
      # BENCH_ACCESS_LOG=1: skewgate's default format to a file
      local sg_log=off
      [[ -n $ACCESS_LOG ]] && sg_log=$dir/access.log
      render_sg() { # tls_listener http2
        render "$template" "$dir/skewgate.yaml" PORT="$port" UPSTREAM_PORT="$UPSTREAM_PORT" \
          UPSTREAM_PORT_A="$UPSTREAM_PORT_A" MANIFEST_DIR="$MANIFEST_DIR" WORKERS="$PROXY_WORKERS" \
          ACCESS_LOG="$sg_log" METRICS="$metrics" STATE_DIR="$dir/state" ADMIN_PORT=$((port + 20)) \
          TLS_LISTENER="$1" HTTP2="$2"
      }
      render_sg "$tls_listener" "$http2"
      # A skewgate without HTTP/2 refuses the http2: settings, one without TLS
      # termination the tls: listener: check the config first, then without
      # http2:, then plain, with the TLS rows n/a and the reason.
      local why
      if ! timeout 10 "$SKEWGATE_BIN" --check -c "$dir/skewgate.yaml" >/dev/null 2>&1; then
        render_sg "$tls_listener" ""
      fi
      if ! why=$(timeout 10 "$SKEWGATE_BIN" --check -c "$dir/skewgate.yaml" 2>&1); then
        TLS_NA_REASON="skewgate refused the tls: listener: $(grep -m1 -iE 'tls|error' <<<"$why" | cut -c1-120)"
        render_sg "" ""
      fi
      start_bg "$dir/stdout.log" taskset -c "$cpus" ${PROXY_WRAP[@]+"${PROXY_WRAP[@]}"} "$SKEWGATE_BIN" -c "$dir/skewgate.yaml"
      ;;
    *) NA_REASON="unknown proxy"; return 1 ;;
  esac
  PROXY_PID=$LAST_PID
  if ! wait_port "$port" "$PROXY_PID" "$PROXY_START_TRIES"; then
    local why
    why=$(grep -hE 'ALERT|emerg|rror' "$dir"/*.log 2>/dev/null | head -n 2) || true
    [[ -n $why ]] || why=$(tail -qn 2 "$dir"/*.log 2>/dev/null) || true
    NA_REASON="did not start: $(tr '\n' ' ' <<<"$why" | cut -c1-140)"
    stop_pid "$PROXY_PID"; PROXY_PID=
    return 1
  fi
  local small big
  small=$(curl -s --max-time "$PROBE_MAX_TIME" -H 'Host: localhost' "http://127.0.0.1:$port/" || true)
  big=$(curl -s --max-time "$PROBE_MAX_TIME" -H 'Host: localhost' "http://127.0.0.1:$port/16k" | wc -c || true)
  if [[ $small != ok || $big -ne 16384 ]]; then
    NA_REASON="probe failed (/ -> '${small:0:40}', /16k -> $big bytes)"
    stop_pid "$PROXY_PID"; PROXY_PID=
    return 1
  fi
  if [[ -z $TLS_NA_REASON ]]; then
    small=$(curl -s --max-time "$PROBE_MAX_TIME" --cacert "$TLS_DIR/ca.pem" --resolve "localhost:$tls_port:127.0.0.1" \
            "https://localhost:$tls_port/" 2>&1 || true)
    [[ $small == ok ]] || TLS_NA_REASON="TLS probe failed (https / -> '${small:0:60}')"
  fi
}
