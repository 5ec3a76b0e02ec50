#!/usr/bin/env bash
# Set up and build, then run every test tier through ctest. Non-zero exit on failure.
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/setup.sh"
cd "$SKEWGATE_ROOT"
ctest --test-dir build --output-on-failure -j2 --timeout 600
