#!/usr/bin/env bash
# Build the frontend as the release does (static musl, release flags; lib.sh release_build) and
# pack it into a local image (Dockerfile.frontend, target `prebuilt`):
# ${GOBUILD_FRONTEND_IMAGE:-gobuild-frontend:dev}. The e2e suite thus runs the release binary.
# Needs the private dockerd (scripts/setup.sh or scripts/dockerd.sh start).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$GOBUILD_ROOT"

timed "frontend: cargo build --release (x86_64 musl, static)" \
  release_build x86_64-unknown-linux-musl
BIN=$RELEASE_BIN
check_static_elf "$BIN" x86-64

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$BIN" "$ctx/gobuild-frontend"
timed "frontend: docker build --target prebuilt" \
  "$DOCKER" build --quiet -f "$GOBUILD_ROOT/Dockerfile.frontend" --target prebuilt \
    -t "$GOBUILD_FRONTEND_IMAGE" "$ctx"
"$DOCKER" image inspect -f "$GOBUILD_FRONTEND_IMAGE {{.Id}} {{.Size}} bytes entrypoint={{json .Config.Entrypoint}}" \
  "$GOBUILD_FRONTEND_IMAGE"
