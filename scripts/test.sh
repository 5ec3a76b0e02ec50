#!/usr/bin/env bash
# Set up and build, then run every test tier: unit, loop and integration
# through ctest, then the Next.js end-to-end suite in Chromium (tests/e2e:
# both pinned Next.js versions, builds cached by lockfile hash; about 8
# minutes cold on 2 cores). Non-zero exit on any failure.
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"
cd "$SKEWGATE_ROOT"
ctest --test-dir build --output-on-failure -j2 --timeout 600
bash tests/e2e/run.sh
