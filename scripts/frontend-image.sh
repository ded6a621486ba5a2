#!/usr/bin/env bash
# Build the frontend as a static binary and pack it into a local image
# (Dockerfile.frontend, target `prebuilt`): ${GOBUILD_FRONTEND_IMAGE:-gobuild-frontend:dev}.
# Needs the private dockerd (scripts/setup.sh or scripts/dockerd.sh start).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$GOBUILD_ROOT"

BIN=$GOBUILD_ROOT/target/$RUST_TARGET/release/gobuild-frontend

# A static glibc binary (`static-pie`): the musl target is not installable here, and the image
# is FROM scratch. Its own target dir keeps these RUSTFLAGS from invalidating the host build.
timed "frontend: cargo build --release (static)" \
  flock "$GOBUILD_CARGO_LOCK" env RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked --target "$RUST_TARGET"

desc=$(file -b "$BIN")
echo "$BIN: $desc"
case $desc in
  *static-pie\ linked*|*statically\ linked*) ;;
  *) die "$BIN is not statically linked: $desc" ;;
esac

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$BIN" "$ctx/gobuild-frontend"
timed "frontend: docker build --target prebuilt" \
  "$DOCKER" build --quiet -f "$GOBUILD_ROOT/Dockerfile.frontend" --target prebuilt \
    -t "$GOBUILD_FRONTEND_IMAGE" "$ctx"
"$DOCKER" image inspect -f "$GOBUILD_FRONTEND_IMAGE {{.Id}} {{.Size}} bytes entrypoint={{json .Config.Entrypoint}}" \
  "$GOBUILD_FRONTEND_IMAGE"
