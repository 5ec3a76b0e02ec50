#!/usr/bin/env bash
# Fuzzes the request path and the config loader with clang's libFuzzer and
# AddressSanitizer, each for FUZZ_SECONDS (default 60), starting from the
# checked-in corpus (copied: new inputs stay in the work dir; promote the
# interesting ones to tests/fuzz/corpus/<target>/ by hand). A crash leaves
# its input in the work dir and makes this exit non-zero.
#   bash tests/fuzz/run.sh [request] [config]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${FUZZ_SECONDS:-60}"
targets=("$@")
((${#targets[@]})) || targets=(request config)
command -v clang++ >/dev/null || { echo "fuzz: needs clang (Debian: apt-get install clang)" >&2; exit 2; }

build="$root/build-fuzz"
if [[ ! -f $build/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSKEWGATE_FUZZ=ON \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address" -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address"
fi
work="$(mktemp -d /tmp/skewgate-fuzz.XXXXXX)"
status=0
for t in "${targets[@]}"; do
  cmake --build "$build" -j"$(nproc)" --target "fuzz_$t"
  mkdir -p "$work/$t"
  cp "$here/corpus/$t/"* "$work/$t/"
  echo "fuzz: $t for ${seconds}s (corpus and any crash in $work/$t)"
  (cd "$work/$t" && timeout --kill-after=10 $((seconds + 60)) "$build/fuzz_$t" -max_total_time="$seconds" \
     -timeout=10 -rss_limit_mb=2048 "$work/$t") || status=$?
done
exit "$status"
