#!/usr/bin/env bash
# The container stage of scripts/test.sh (issue 17 sections 2 and 3), with Debian's podman:
#   1. the base image debian:bookworm-slim, made here (no image registry is reachable):
#      mmdebstrap --variant=minbase bookworm with the host's apt sources, trimmed like
#      Docker's slim images (no docs, man pages, locales), imported and tagged; kept
#      while the tag exists;
#   2. docker/Dockerfile built (bounded; podman's layer cache makes a rebuild with
#      unchanged sources take seconds);
#   3. tests/container/test_image.py: the image run for real (two builds, non-root,
#      HEALTHCHECK, drain on podman stop, the embedded default, the compose config);
#   4. docker/compose.yaml validated with docker-compose config.
# Prints "container: SKIPPED: <why>" and exits 0 only when podman cannot run a container
# on this machine at all; any other failure fails the stage.
#
# This sandbox's container facts: runc (crun is refused), explicit ulimits within this
# shell's own (the defaults are refused), host or no network (test_image.py).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SG_SETUP_FUNCTIONS_ONLY=1 source "$ROOT/scripts/setup.sh"
cd "$ROOT"

BASE=${SKEWGATE_BASE_IMAGE:-localhost/debian:bookworm-slim}
IMAGE=${SKEWGATE_IMAGE:-localhost/skewgate:test}
BASE_TIMEOUT=1200   # mmdebstrap: 1-3 min here
BUILD_TIMEOUT=2700  # cold: apt + a Release build of skewgate on 2 cores (see the note at the end)
# nofile: this shell's hard limit (runc may not raise it); nproc: 4096 (the sandbox
# refused values above 32768 even under the hard limit; skewgate runs a thread per core).
nproc=$(ulimit -Hu)
[[ $nproc == unlimited || $nproc -gt 4096 ]] && nproc=4096
RUN_ARGS=(--runtime runc --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$nproc:$nproc")

skip() {
  echo "container: SKIPPED: $*" >&2
  exit 0
}

sg_setup_container
work=$(mktemp -d /tmp/skewgate-container.XXXXXX)
trap 'rm -rf "$work"' EXIT

podman info >"$work/info" 2>&1 || skip "podman does not start here: $(tail -n 1 "$work/info")"

# 1. The base image.
if podman image exists "$BASE"; then
  echo "container: base image $BASE exists (podman rmi it to make it again)"
else
  # The host's apt sources, so the image's apt uses the same mirror and suites.
  sources=()
  if [[ -s /etc/apt/sources.list ]]; then sources+=(/etc/apt/sources.list); fi
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [[ -f $f ]]; then sources+=("$f"); fi
  done
  echo "container: making $BASE with mmdebstrap (sources: ${sources[*]:-the default of mmdebstrap})"
  start=$(date +%s)
  timeout "$BASE_TIMEOUT" mmdebstrap --variant=minbase --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$work/base.tar" "${sources[@]}"
  timeout 300 podman import --quiet "$work/base.tar" "$BASE" >/dev/null
  rm -f "$work/base.tar"
  echo "container: base image made in $(($(date +%s) - start)) s"
fi

# Can this machine run a container at all? (user namespaces, cgroups, seccomp...)
if ! timeout 120 podman run --rm "${RUN_ARGS[@]}" --network none "$BASE" true >"$work/probe" 2>&1; then
  skip "podman cannot run a container here: $(tail -n 1 "$work/probe")"
fi

# 2. The image. --format docker: OCI images have no HEALTHCHECK.
old_id=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
start=$(date +%s)
rc=0
timeout "$BUILD_TIMEOUT" podman build "${RUN_ARGS[@]}" --network host --format docker --layers \
  --build-arg BASE="$BASE" --build-arg JOBS=2 -f docker/Dockerfile -t "$IMAGE" . >"$work/build.log" 2>&1 || rc=$?
if ((rc)); then
  tail -n 60 "$work/build.log" >&2
  why="exit $rc"
  ((rc != 124)) || why="not done within ${BUILD_TIMEOUT} s"
  echo "container: podman build failed ($why)" >&2
  exit 1
fi
echo "container: image $IMAGE built in $(($(date +%s) - start)) s" \
     "($(grep -c -- '--> Using cache' "$work/build.log" || true) steps from the layer cache)"
new_id=$(podman image inspect --format '{{.Id}}' "$IMAGE")
# The previous image of this tag is untagged now: remove it (its layers that the
# cache still uses stay).
if [[ -n $old_id && $old_id != "$new_id" ]]; then podman rmi "$old_id" >/dev/null 2>&1 || true; fi

# 3. The image run for real.
(cd tests/container && SKEWGATE_IMAGE="$IMAGE" timeout 900 python3 -m unittest -v test_image)

# 4. Compose: the file as docker-compose reads it (the token is required by the file).
SKEWGATE_ADMIN_TOKEN=container-test timeout 120 docker-compose -f docker/compose.yaml config -q
echo "container: docker/compose.yaml is valid (docker-compose config)"
echo "container: passed"
