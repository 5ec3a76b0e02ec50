#!/usr/bin/env bash
# The sanitizer tier: the unit, loop and integration tiers and the fuzz
# corpus replays, built with AddressSanitizer (+ LeakSanitizer) and UBSan in
# build-asan/ (gcc, -DSKEWGATE_SANITIZE=ON: -O1 -g1, llhttp included; only
# the binaries ctest runs, the test_binaries target) and run by ctest there;
# the integration tests start build-asan/skewgate (SKEWGATE_BIN is set per
# build dir by CMake). Any report fails the stage, also one from a
# skewgate process whose exit status a test does not look at (a leak found
# at exit, say): every report is written under a log_path and the stage fails
# when one exists. When the sanitizers cannot run on this machine the stage
# says why and is skipped. Run by scripts/test.sh; alone:
#   bash scripts/test_sanitizers.sh [ctest arguments, e.g. -E default_config]
set -euo pipefail

SG_SETUP_FUNCTIONS_ONLY=1 source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"
cd "$SKEWGATE_ROOT"
echo "== sanitizers: unit, loop, integration and fuzz replays with ASan+UBSan (build-asan/)"
sg_install libasan8 libubsan1

# Can the runtimes run here? (LeakSanitizer cannot under ptrace, ASan not
# with some memory limits or personalities.)
probe="$(mktemp -d /tmp/skewgate-asan-probe.XXXXXX)"
trap 'rm -rf "$probe"' EXIT
printf '#include <stdlib.h>\nint main(void) { void* p = malloc(16); free(p); return 0; }\n' >"$probe/probe.c"
if ! why=$(cc -fsanitize=address,undefined "$probe/probe.c" -o "$probe/probe" 2>&1); then
  echo "sanitizers: SKIPPED: the compiler cannot build with -fsanitize=address,undefined: ${why%%$'\n'*}" >&2
  exit 0
fi
if ! why=$(ASAN_OPTIONS=detect_leaks=1 "$probe/probe" 2>&1) || [[ -n $why ]]; then
  echo "sanitizers: SKIPPED: the ASan/LSan runtime cannot run here: ${why%%$'\n'*}" >&2
  exit 0
fi

start=$SECONDS
sg_setup_asan
echo "sanitizers: build took $((SECONDS - start))s"

reports="$probe/reports"
mkdir -p "$reports"
# halt_on_error: the first report ends the process (a test fails on it);
# log_path: every report is also kept, whichever process made it.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
export LSAN_OPTIONS="log_path=$reports/lsan"
start=$SECONDS
status=0
ctest --test-dir build-asan --output-on-failure -j2 --timeout 900 "$@" || status=$?
echo "sanitizers: ctest took $((SECONDS - start))s"
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitizers: FAILED: sanitizer reports:" >&2
  for report in "$reports"/*; do
    echo "--- $report" >&2
    cat "$report" >&2
  done
  exit 1
fi
exit "$status"
