#!/usr/bin/env bash
# The project's full test run (`.ci/run` execs this). On a fresh Debian 12 machine, as root:
#   1. cargo fmt --check, clippy (-D warnings, e2e feature on), cargo test (no docker needed)
#   2. setup.sh (docker.io, private dockerd, local base images; cached between runs)
#   3. buildkit.sh install + start (a pinned current BuildKit and buildx, built from the Go
#      module proxy and cached; buildkitd and a registry on 127.0.0.1)
#   4. frontend-image.sh (the release build, static x86_64 musl -> gobuild-frontend:dev, pushed
#      to the registry); release-check.sh (the aarch64 release binary cross-builds, static ELF)
#   5. cargo test --features e2e --test e2e, once per daemon: dockerd 20.10 (BuildKit v0.8,
#      `docker build`) and the current buildkitd (`docker buildx build`, remote driver)
# dockerd, buildkitd and the registry are always stopped (by PID) at the end, pass or fail.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$GOBUILD_ROOT"
T0=$(now_ns)
SUMMARY=()

phase() { # NAME CMD...
  local name=$1; shift
  local t
  t=$(now_ns)
  echo
  echo "================ $name"
  "$@"
  SUMMARY+=("$(printf '%-56s %8ss' "$name" "$(fmt_secs "$t")")")
  printf 'TIME %-44s %8ss\n' "phase: $name" "$(fmt_secs "$t")"
}

finish() {
  local rc=$?
  # Images the e2e tests built again under a tag they reuse are left untagged; on a machine
  # that keeps dockerd's data root between runs they would pile up (tens of GB).
  "$DOCKER" image prune -f >/dev/null 2>&1 || true
  "$GOBUILD_ROOT/scripts/buildkit.sh" stop || true
  "$GOBUILD_ROOT/scripts/dockerd.sh" stop || true
  echo
  echo "================ summary (exit $rc)"
  local l
  for l in "${SUMMARY[@]}"; do echo "  $l"; done
  printf '  %-56s %8ss\n' total "$(fmt_secs "$T0")"
  [ $rc -eq 0 ] || echo "FAILED. daemon logs: $GOBUILD_DOCKER_LOG $GOBUILD_BUILDKIT_LOG"
  exit $rc
}
trap finish EXIT

phase "cargo fmt --check" cargo_locked fmt --all -- --check
phase "cargo clippy" cargo_locked clippy --locked --all-targets --features e2e -- -D warnings
phase "cargo test" cargo_locked test --locked
phase "setup" "$GOBUILD_ROOT/scripts/setup.sh"
phase "buildkit install" "$GOBUILD_ROOT/scripts/buildkit.sh" install
phase "frontend image" "$GOBUILD_ROOT/scripts/frontend-image.sh"
phase "release check: the arm64 binary" "$GOBUILD_ROOT/scripts/release-check.sh"
phase "buildkit start" "$GOBUILD_ROOT/scripts/buildkit.sh" start
# What `# syntax=docker/dockerfile:1` runs (the ejected Dockerfiles), built from the pinned
# BuildKit and cached by version.
phase "dockerfile frontend image" "$GOBUILD_ROOT/scripts/buildkit.sh" dockerfile-image
eval "$("$GOBUILD_ROOT/scripts/buildkit.sh" env)"
e2e() { GOBUILD_E2E_DAEMON=$1 cargo_locked test --locked --features e2e --test e2e -- --test-threads=1 --nocapture; }
phase "e2e tests: dockerd 20.10 (BuildKit v0.8)" e2e dockerd
phase "e2e tests: buildkitd $BUILDKIT_VERSION + buildx $BUILDX_VERSION" e2e buildkit
