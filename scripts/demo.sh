#!/usr/bin/env bash
# The README's "main job" on a fresh Debian 12 machine (as root):
#   setup (docker.io, private dockerd, local golang/debian base images), the frontend image,
#   then build examples/hello with `# syntax=gobuild-frontend:dev` and run it.
# dockerd is left running afterwards; stop it with scripts/dockerd.sh stop.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$GOBUILD_ROOT"
T0=$(now_ns)

"$GOBUILD_ROOT/scripts/setup.sh"
"$GOBUILD_ROOT/scripts/frontend-image.sh"

# examples/hello/go-build.yaml names gobuild-frontend:dev on its first line.
t=$(now_ns)
"$DOCKER" build --progress=plain -f examples/hello/go-build.yaml -t gobuild-hello examples/hello
build_s=$(fmt_secs "$t")
printf 'TIME %-44s %8ss\n' "demo: docker build examples/hello" "$build_s"

echo "=== docker run --rm gobuild-hello"
"$DOCKER" run --rm --network=none gobuild-hello

size=$("$DOCKER" image inspect -f '{{.Size}}' gobuild-hello)
echo
echo "gobuild-hello: build ${build_s}s, image size $size bytes ($(( size / 1024 )) KiB)"
printf 'TIME %-44s %8ss\n' "demo: total" "$(fmt_secs "$T0")"
cat <<EOM

dockerd is still running. To use it from a shell:
  export DOCKER_HOST=$DOCKER_HOST DOCKER_BUILDKIT=1   # client: $DOCKER
To stop it:
  scripts/dockerd.sh stop

With a current BuildKit and docker buildx (built from the Go module proxy, a few minutes once):
  scripts/buildkit.sh install && scripts/buildkit.sh start
  # line 1 of go-build.yaml: # syntax=$GOBUILD_FRONTEND_REF
  docker buildx build --builder $GOBUILD_BUILDX_BUILDER -f go-build.yaml -t app --load .
  scripts/buildkit.sh stop
EOM
