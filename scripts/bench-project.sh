#!/usr/bin/env bash
# The large real benchmark project (issues 11 and 12): Gitea, a real Go program of ~3,000 Go
# files whose build needs ~250 modules, with its whole dependency graph served by a GOPROXY on
# 127.0.0.1 — no build ever reaches anything else.
#   scripts/bench-project.sh prepare   fetch the pinned source and every module it needs from the
#                                      Go module proxy (cached under $GOBUILD_CACHE/bench, keyed
#                                      by version); print the paths
#   scripts/bench-project.sh serve     serve the module tree on 127.0.0.1:$BENCH_PROXY_PORT in
#                                      the foreground (a GOPROXY: <module>/@v/<version>.zip, …)
#   scripts/bench-project.sh context DIR
#                                      a fresh, writable copy of the project in DIR, with a
#                                      go-build.yaml naming $GOBUILD_FRONTEND_IMAGE
# Every step prints "TIME <step> <seconds>".
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

BENCH_MODULE=code.gitea.io/gitea
BENCH_VERSION=${BENCH_VERSION:-v1.27.3}
BENCH_PROXY_PORT=${BENCH_PROXY_PORT:-3142}
BENCH_DIR=$GOBUILD_CACHE/bench/gitea-$BENCH_VERSION
# Go's module cache; its cache/download subtree is exactly a GOPROXY's file layout.
BENCH_MODCACHE=$BENCH_DIR/gomod
BENCH_PROXY_DIR=$BENCH_MODCACHE/cache/download

source_dir() {
  GOMODCACHE=$BENCH_MODCACHE GOFLAGS=-mod=mod go mod download -json "$BENCH_MODULE@$BENCH_VERSION" | jq -r .Dir
}

prepare() {
  command -v go >/dev/null || die "go not found: the modules are fetched with go mod download"
  if [ -f "$BENCH_DIR/.done" ]; then echo "cached: $BENCH_DIR"; return 0; fi
  mkdir -p "$BENCH_MODCACHE"
  local src
  src=$(cd / && source_dir)
  [ -d "$src" ] || die "go mod download $BENCH_MODULE@$BENCH_VERSION gave no directory"
  # Every module the build's packages need, as the deps step will ask the proxy for them.
  (cd "$src" && GOMODCACHE=$BENCH_MODCACHE GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download)
  touch "$BENCH_DIR/.done"
}

facts() {
  local src
  src=$(cd / && source_dir)
  echo "source:  $src"
  echo "proxy:   $BENCH_PROXY_DIR"
  echo "go files: $(find "$src" -name '*.go' | wc -l)"
  echo "modules: $(find "$BENCH_PROXY_DIR" -name '*.zip' | wc -l) zips"
  echo "context: $(du -sh "$src" | cut -f1)"
}

serve() {
  [ -d "$BENCH_PROXY_DIR" ] || die "run scripts/bench-project.sh prepare first"
  exec python3 -m http.server --bind 127.0.0.1 --directory "$BENCH_PROXY_DIR" "$BENCH_PROXY_PORT"
}

context() {
  local dest=$1 src
  src=$(cd / && source_dir)
  mkdir -p "$dest"
  cp -r "$src/." "$dest/"
  chmod -R u+w "$dest"
  # The builder image is Go 1.27 (go.mod asks for 1.26 or newer).
  cat >"$dest/go-build.yaml" <<EOF
# syntax=$GOBUILD_FRONTEND_IMAGE
go: "1.27"
binaries:
  - package: .
    name: gitea
EOF
  echo "$dest"
}

case "${1:-}" in
  prepare) timed "bench project: prepare $BENCH_MODULE@$BENCH_VERSION" prepare; facts ;;
  serve) serve ;;
  context) [ -n "${2:-}" ] || die "usage: $0 context DIR"; context "$2" ;;
  *) echo "usage: $0 prepare|serve|context DIR" >&2; exit 2 ;;
esac
