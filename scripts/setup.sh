#!/usr/bin/env bash
# Idempotent set-up on Debian 12: install what is missing, configure once, build.
# Run it, or source it from scripts/demo.sh and scripts/test.sh. Works from any cwd.
set -euo pipefail

SKEWGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SKEWGATE_ROOT

# Installs the named Debian packages that are missing (nothing when all are there).
sg_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    echo "setup: installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

# What building the skewgate binary needs: here and in the container image's
# build stage (docker/Dockerfile sources this file), so the two never drift.
SG_BUILD_PACKAGES=(build-essential cmake pkg-config libuv1-dev libyaml-cpp-dev prometheus-cpp-dev
                   libssl-dev nlohmann-json3-dev node-llhttp libc-ares-dev libnghttp2-dev)

sg_setup() {
  # and what the tests need on top (doctest, the python3 harness, curl)
  sg_install "${SG_BUILD_PACKAGES[@]}" doctest-dev python3 curl

  cd "$SKEWGATE_ROOT"
  # Configure once; again only if an earlier configure left no build system behind.
  if [[ ! -f build/CMakeCache.txt || ! ( -f build/Makefile || -f build/build.ninja ) ]]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build build -j"$(nproc)"
}

# The sanitizer tier (scripts/test.sh): gcc's ASan, LSan and UBSan runtimes,
# and in build-asan/ with -DSKEWGATE_SANITIZE=ON (-O1 -g1, see
# CMakeLists.txt) a build of what ctest runs (the test_binaries target of
# tests/CMakeLists.txt), nothing else.
sg_setup_asan() {
  sg_install libasan8 libubsan1
  cd "$SKEWGATE_ROOT"
  if [[ ! -f build-asan/CMakeCache.txt || ! ( -f build-asan/Makefile || -f build-asan/build.ninja ) ]]; then
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSKEWGATE_SANITIZE=ON
  fi
  cmake --build build-asan -j"$(nproc)" --target test_binaries
}

# Fuzzing (tests/fuzz/run.sh): clang's libFuzzer and its sanitizer runtimes.
sg_setup_fuzz() {
  sg_install clang libclang-rt-14-dev
}

# The container stage (tests/container/run.sh): Debian's podman with runc (crun is
# refused in the sandbox this was made in), mmdebstrap for the local base image,
# what podman needs when not run as root (uidmap, fuse-overlayfs, slirp4netns),
# and docker-compose to validate docker/compose.yaml.
sg_setup_container() {
  sg_install podman runc mmdebstrap uidmap fuse-overlayfs slirp4netns docker-compose
}

# SG_SETUP_FUNCTIONS_ONLY=1: only define the functions above (tests/fuzz/run.sh).
[[ -n ${SG_SETUP_FUNCTIONS_ONLY:-} ]] || sg_setup
