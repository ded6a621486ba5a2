#!/usr/bin/env bash
# What can be checked here of the release's arm64 image (Docker Desktop on Apple silicon runs
# the frontend as arm64): the aarch64 binary cross-builds with the release flags on this
# machine, with no emulation and no C cross toolchain, and is a static ARM64 ELF.
# (x86_64 is built the same way by frontend-image.sh and runs the whole e2e suite.)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$GOBUILD_ROOT"

timed "release: cargo build --release (aarch64 musl, static)" \
  release_build aarch64-unknown-linux-musl
check_static_elf "$RELEASE_BIN" "ARM aarch64"
