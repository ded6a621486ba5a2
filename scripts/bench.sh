#!/usr/bin/env bash
# Benchmarks reported in BENCHMARKS.md (numbers, never pass/fail): examples/hello cold, cached
# and after an edit, and cold builds for one vs three target platforms. Each cold run starts
# from `docker builder prune -af` (which also empties the cache mounts). Then the modules
# benchmark (scripts/bench-modules.sh: with-deps built by three Dockerfiles and by us).
# Needs the private dockerd and the frontend image (scripts/setup.sh, scripts/frontend-image.sh).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$GOBUILD_ROOT/examples/hello" "$work/hello"
sed -i "1s|.*|# syntax=$GOBUILD_FRONTEND_IMAGE|" "$work/hello/go-build.yaml"

# build ARGS... -> wall seconds of one `docker build` of the work copy
build() {
  local t0
  t0=$(now_ns)
  "$DOCKER" build -q --network=none -f "$work/hello/go-build.yaml" "$@" "$work/hello" >/dev/null
  fmt_secs "$t0"
}
cold() { "$DOCKER" builder prune -af >/dev/null; build "$@"; }
# median of RUNS runs of CMD...
median() {
  local i out=()
  for ((i = 0; i < RUNS; i++)); do out+=("$("$@")"); done
  printf '%s\n' "${out[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}
edit() { echo "// $(now_ns)" >>"$work/hello/main.go"; build -t gobuild-bench; }

echo "| measurement (examples/hello, median of $RUNS) | seconds |"
echo "|---|---|"
echo "| cold build, image to dockerd | $(median cold -t gobuild-bench) |"
echo "| fully cached rebuild | $(median build -t gobuild-bench) |"
echo "| rebuild after editing main.go | $(median edit) |"
echo "| cold, 1 platform (linux/arm64), -o type=local | $(median cold --platform linux/arm64 -o "type=local,dest=$work/out1") |"
printf 'platforms: [linux/amd64, linux/arm64, linux/arm/v7]\n' >>"$work/hello/go-build.yaml"
echo "| cold, 3 platforms (amd64, arm64, arm/v7), -o type=local | $(median cold -o "type=local,dest=$work/out3") |"
echo
echo "image size: $("$DOCKER" image inspect -f '{{.Size}}' gobuild-bench) bytes"
"$DOCKER" rmi gobuild-bench >/dev/null

echo
RUNS=$RUNS "$GOBUILD_ROOT/scripts/bench-modules.sh"
