#!/usr/bin/env bash
# Fuzzes skewgate's libFuzzer targets with clang's libFuzzer, AddressSanitizer
# (with LeakSanitizer) and UBSan (any finding aborts), each from a copy of its
# checked-in corpus (tests/fuzz/corpus/<target>/; new inputs stay in the work
# dir: promote the interesting ones by hand). Then prints one line per target:
# executions, seconds, exec/s, coverage (cov: edges, ft: features), corpus
# size, crashes. Exits non-zero when any target crashed, leaked, timed out or
# ran out of memory; the input that did it is in the work dir (named).
#
#   tests/fuzz/run.sh [-runs N | -seconds S] [-j 1|2] [target...]
#
#   targets   request (parser with limits, then decide), config (the YAML
#             loader), pin_cookie (Cookie parse, pin open/seal), admin (the
#             admin API handler), deployment_id (a build's reported ID:
#             header and <html data-dpl-id>), function_ids (react-server
#             function ids of a client chunk), h2_session (a client's bytes
#             through the HTTP/2 connection, its streams answered locally);
#             default: all seven, one after the other
#   -runs N   stop each target after N executions (e.g. 10000000)
#   -seconds S  stop each target after S seconds (default 60 without -runs)
#   -j 2      two processes: two targets at once, or, with one target, two
#             libFuzzer workers on it sharing one corpus (-runs is split)
#   FUZZ_SEEDS=dir  also read the inputs of dir (e.g. a saved corpus from an
#             earlier run; new inputs are written to the work dir only)
# A wall-clock cap bounds every target either way (FUZZ_MAX_SECONDS, default
# 6 h). The build lives in build-fuzz/ (clang, -DSKEWGATE_SANITIZE=ON
# -DSKEWGATE_FUZZ=ON), configured on first use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
all_targets=(request config pin_cookie admin deployment_id function_ids h2_session)
runs=""
seconds=""
jobs=1
targets=()
while (($#)); do
  case "$1" in
    -runs) runs="$2"; shift 2 ;;
    -seconds) seconds="$2"; shift 2 ;;
    -j) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "fuzz: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [[ -f $here/${t}_fuzz.cc ]] || { echo "fuzz: no target '$t' (have: ${all_targets[*]})" >&2; exit 2; }
done
[[ -z $runs || $runs =~ ^[0-9]+$ ]] || { echo "fuzz: -runs needs a number" >&2; exit 2; }
[[ -z $seconds || $seconds =~ ^[0-9]+$ ]] || { echo "fuzz: -seconds needs a number" >&2; exit 2; }
[[ $jobs == 1 || $jobs == 2 ]] || { echo "fuzz: -j is 1 or 2" >&2; exit 2; }
[[ -n $runs || -n $seconds ]] || seconds="${FUZZ_SECONDS:-60}"
max_seconds="${FUZZ_MAX_SECONDS:-21600}"
if [[ -n $seconds ]]; then max_seconds="$seconds"; fi
SG_SETUP_FUNCTIONS_ONLY=1 source "$root/scripts/setup.sh"
sg_setup_fuzz

build="$root/build-fuzz"
if [[ ! -f $build/CMakeCache.txt ]] || ! grep -q '^SKEWGATE_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  rm -rf "$build"
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
    -DSKEWGATE_FUZZ=ON -DSKEWGATE_SANITIZE=ON \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
fi
# Regenerate an existing build dir: a target added since it was configured
# (make only re-runs cmake for targets it already knows).
cmake "$build" >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "fuzz_$t"); done
cmake --build "$build" -j2 "${build_targets[@]}"

work="$(mktemp -d /tmp/skewgate-fuzz.XXXXXX)"
# Any UBSan finding is fatal (the build also has -fno-sanitize-recover); leaks count.
# The quarantine is 16 MiB instead of ASan's 256: with the default, a config
# run's RSS grew to ~1 GiB and the rate fell from ~1,400 to ~30 exec/s (perf:
# page faults and madvise as ASan returned memory and faulted it back in);
# with 16 MiB it stays near 200 MiB at ~1,550 exec/s. A use after free is
# still caught within the next 16 MiB of frees, far more than one input makes.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:quarantine_size_mb=16:allocator_release_to_os_interval_ms=-1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

# fuzz_one TARGET WORKERS
fuzz_one() {
  local t="$1" workers="$2" dir="$work/$1"
  mkdir -p "$dir/corpus"
  cp "$here/corpus/$t/"* "$dir/corpus/"
  local limit=(-max_total_time="$max_seconds") seeds=()
  [[ -n $runs ]] && limit+=(-runs="$(( (runs + workers - 1) / workers ))")
  ((workers > 1)) && limit+=(-jobs="$workers" -workers="$workers")
  [[ -n ${FUZZ_SEEDS:-} ]] && seeds=("$FUZZ_SEEDS")
  # A config input costs yaml-cpp one allocation per token, and under ASan
  # the rate falls from ~2,000 to ~400 exec/s as inputs grow past 1 KiB;
  # every key, list and anchor shape fits in 1 KiB.
  [[ $t == config ]] && limit+=(-max_len=1024)
  echo "fuzz: $t: ${runs:+$runs runs}${runs:+, }at most ${max_seconds}s (log, corpus and any crash in $dir)"
  local start end status=0
  start=$(date +%s.%N)
  (cd "$dir" && timeout --kill-after=10 $((max_seconds + 120)) "$build/fuzz_$t" "${limit[@]}" -timeout=10 \
     -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" "${seeds[@]}") >"$dir/log" 2>&1 || status=$?
  # With -jobs each worker logs to fuzz-N.log, which libFuzzer copies into
  # this log when the worker ends; report() adds the workers' figures up.
  end=$(date +%s.%N)
  echo "$status" >"$dir/status"
  echo "$start $end" >"$dir/times"
}

report() {
  local t="$1" dir="$work/$1" status start end execs rate cov ft corpus crashes
  status=$(cat "$dir/status")
  read -r start end <"$dir/times"
  # One stat block per worker: executions and rates add up.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | awk '{ s += $1; n++ } END { if (n) print s }')
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | awk '{ s += $1; n++ } END { if (n) print s }')
  cov=$(grep -o 'cov: [0-9]*' "$dir/log" | cut -d' ' -f2 | sort -n | tail -1)
  ft=$(grep -o 'ft: [0-9]*' "$dir/log" | cut -d' ' -f2 | sort -n | tail -1)
  corpus=$(find "$dir/corpus" -type f | wc -l)
  crashes=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  printf 'fuzz: %-10s executions %s  time %.0fs  exec/s %s  cov %s  ft %s  corpus %s  crashes %s%s\n' \
    "$t" "${execs:-?}" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$crashes" \
    "$( ((status == 0)) || echo "  (exit $status: see $dir/log)")"
  ((status == 0 && crashes == 0))
}

if ((${#targets[@]} == 1)); then
  fuzz_one "${targets[0]}" "$jobs"
  pending=()
else
  pending=("${targets[@]}")
fi
while ((${#pending[@]})); do
  batch=("${pending[@]:0:$jobs}")
  pending=("${pending[@]:$jobs}")
  pids=()
  for t in "${batch[@]}"; do fuzz_one "$t" 1 & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid"; done
done

status=0
for t in "${targets[@]}"; do report "$t" || status=1; done
exit "$status"
