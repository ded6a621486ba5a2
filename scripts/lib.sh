# shellcheck shell=bash
# shellcheck disable=SC2034  # variables used by the scripts that source this file
# Common paths and helpers for gobuild-frontend's scripts. Source it; do not run it.
#
# Everything Docker-related goes to a PRIVATE dockerd (own socket, data root, exec root,
# pidfile, log) so that the project never touches a system Docker and can stop exactly the
# daemon it started (by PID).

GOBUILD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

GOBUILD_RUN_DIR=/run/gobuild-frontend-test
GOBUILD_DOCKER_SOCK=$GOBUILD_RUN_DIR/docker.sock
GOBUILD_DOCKER_PIDFILE=$GOBUILD_RUN_DIR/dockerd.pid
GOBUILD_DOCKER_EXEC_ROOT=$GOBUILD_RUN_DIR/exec
# Persisting the data root across runs on one machine is fine and keeps the base images,
# the BuildKit cache and the cache mounts warm for the next CI run.
GOBUILD_DOCKER_DATA=/var/lib/gobuild-frontend-test/docker
GOBUILD_LOG_DIR=/var/log/gobuild-frontend-test
GOBUILD_DOCKER_LOG=$GOBUILD_LOG_DIR/dockerd.log
export GOBUILD_DOCKER_LOG   # the e2e tests show its new lines when a build fails

# The Debian 20.10 client: it drives BuildKit builds with DOCKER_BUILDKIT=1. The newer
# /usr/local/bin/docker on these machines has no buildx and cannot.
DOCKER=/usr/bin/docker
export DOCKER_BUILDKIT=1
export DOCKER_HOST=unix://$GOBUILD_DOCKER_SOCK

GOBUILD_CACHE=${GOBUILD_CACHE:-$HOME/.cache/gobuild-frontend}
GOBUILD_FRONTEND_IMAGE=${GOBUILD_FRONTEND_IMAGE:-gobuild-frontend:dev}
export GOBUILD_FRONTEND_IMAGE

# The one lock every cargo invocation on this machine takes (2 cores: never compile twice).
GOBUILD_CARGO_LOCK=/tmp/gobuild-cargo.lock

# The frontend's release build for a Rust target, as Dockerfile.frontend's release stage makes
# it: a static musl binary linked by rust-lld with Rust's self-contained musl (no C cross
# toolchain). Sets RELEASE_BIN to its path. `rustup target add` fetches the target's std once.
RELEASE_RUSTFLAGS='-C linker=rust-lld -C link-self-contained=yes -C target-feature=+crt-static'
release_build() { # RUST_TARGET
  local target=$1
  rustup target list --installed | grep -qx "$target" || rustup target add "$target" >&2
  flock "$GOBUILD_CARGO_LOCK" env RUSTFLAGS="$RELEASE_RUSTFLAGS" \
    cargo build --release --locked --target "$target"
  RELEASE_BIN=$GOBUILD_ROOT/target/$target/release/gobuild-frontend
}
# Fails unless FILE is a static ELF for ARCH (`file`'s words: x86-64, ARM aarch64).
check_static_elf() { # FILE ARCH
  local desc
  desc=$(file -b "$1")
  echo "$1: $desc"
  case $desc in *"$2"*) ;; *) die "$1 is not built for $2: $desc" ;; esac
  case $desc in
    *static-pie\ linked*|*statically\ linked*) ;;
    *) die "$1 is not statically linked: $desc" ;;
  esac
}

log() { printf '>>> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

now_ns() { date +%s%N; }
# fmt_secs START_NS -> seconds since START_NS with one decimal
fmt_secs() {
  local d=$(( $(now_ns) - $1 ))
  printf '%d.%d' $(( d / 1000000000 )) $(( (d % 1000000000) / 100000000 ))
}
# timed NAME CMD... : run CMD and print "TIME NAME seconds". CMD runs as a plain command so
# that `set -e` still applies inside shell functions (an `|| rc=$?` would switch it off); under
# set -e a failing step therefore ends the script right there, with its own error message.
timed() {
  local name=$1; shift
  local t0
  t0=$(now_ns)
  log "$name"
  "$@"
  printf 'TIME %-44s %8ss\n' "$name" "$(fmt_secs "$t0")"
}

cargo_locked() { flock "$GOBUILD_CARGO_LOCK" cargo "$@"; }

# The current BuildKit (scripts/buildkit.sh): pinned releases built with `go install`, a private
# buildkitd with the OCI worker, docker buildx (remote driver) and a registry on 127.0.0.1.
BUILDKIT_VERSION=${BUILDKIT_VERSION:-v0.34.2}
BUILDX_VERSION=${BUILDX_VERSION:-v0.38.2}
GOBUILD_TOOLS=$GOBUILD_CACHE/tools
GOBUILD_BIN=$GOBUILD_TOOLS/bin
GOBUILD_BUILDKIT_DATA=/var/lib/gobuild-frontend-test/buildkit
GOBUILD_BUILDKIT_CONFIG=$GOBUILD_RUN_DIR/buildkitd.toml
GOBUILD_BUILDKIT_SOCK=$GOBUILD_RUN_DIR/buildkitd.sock
GOBUILD_BUILDKIT_PIDFILE=$GOBUILD_RUN_DIR/buildkitd.pid
GOBUILD_BUILDKIT_LOG=$GOBUILD_LOG_DIR/buildkitd.log
GOBUILD_REGISTRY=127.0.0.1:5000
GOBUILD_REGISTRY_DATA=/var/lib/gobuild-frontend-test/registry
GOBUILD_REGISTRY_PIDFILE=$GOBUILD_RUN_DIR/registry.pid
GOBUILD_BUILDX_BUILDER=gobuild
# The frontend image as buildkitd resolves it (it has no image store of its own).
GOBUILD_FRONTEND_REF=$GOBUILD_REGISTRY/gobuild-frontend:dev
export BUILDKIT_HOST=unix://$GOBUILD_BUILDKIT_SOCK
export GOBUILD_BUILDKIT_LOG GOBUILD_FRONTEND_REF GOBUILD_BUILDX_BUILDER GOBUILD_REGISTRY
