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
#                                      go-build.yaml naming $GOBUILD_FRONTEND_IMAGE and a
#                                      developer's (ignored) node_modules
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

# What a Gitea developer's checkout also holds after `make frontend`: the JavaScript
# dependencies, ~1,200 pnpm packages and ~50,000 files in node_modules, which Gitea's own
# .dockerignore leaves out. Made up (names, sizes) but shaped like pnpm's tree: a context
# walk that does not skip an ignored directory pays for every one of these paths.
node_modules() {
  python3 - "$1/node_modules" <<'PY'
import os, sys
root = sys.argv[1]
for p in range(1200):
    name = f"pkg{p}"
    pkg = os.path.join(root, ".pnpm", f"{name}@1.{p % 7}.0", "node_modules", name)
    for d in ("lib", "lib/util", "dist", "types"):
        os.makedirs(os.path.join(pkg, d), exist_ok=True)
    files = ["package.json", "README.md", "LICENSE", "index.js"]
    files += [f"lib/m{i}.js" for i in range(14)] + [f"lib/util/u{i}.js" for i in range(8)]
    files += [f"dist/{name}.min.js", f"dist/{name}.min.js.map"]
    files += [f"types/t{i}.d.ts" for i in range(12)]
    for f in files:
        with open(os.path.join(pkg, f), "w") as out:
            out.write(f"// {name} {f}\n" * (1 + p % 5))
    link = os.path.join(root, name)
    if not os.path.lexists(link):
        os.symlink(os.path.relpath(pkg, root), link)
PY
}

context() {
  local dest=$1 src
  src=$(cd / && source_dir)
  mkdir -p "$dest"
  cp -r "$src/." "$dest/"
  chmod -R u+w "$dest"
  node_modules "$dest"
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
