#!/usr/bin/env bash
# The current BuildKit beside dockerd 20.10: pinned buildkitd/buildctl and docker buildx, built
# from the Go module proxy, a private buildkitd (OCI worker, Debian's runc) and Debian's
# docker-registry on 127.0.0.1, for the e2e tests and `docker buildx build`.
#   scripts/buildkit.sh install   apt packages + Go builds (cached under $GOBUILD_CACHE/tools,
#                                 keyed by tool version and Go version)
#   scripts/buildkit.sh start     start the registry and buildkitd (if not running), push the
#                                 local base images and the frontend image to the registry,
#                                 create the buildx builder `gobuild` (remote driver)
#   scripts/buildkit.sh push      push dockerd's base and frontend images to the registry again
#   scripts/buildkit.sh dockerfile-image
#                                 the Dockerfile frontend as docker/dockerfile:1 (benchmarks)
#   scripts/buildkit.sh stop      stop buildkitd and the registry by PID
#   scripts/buildkit.sh env       print the export lines to use them from a shell
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

apt_install() {
  if [ -x /usr/sbin/runc ] && [ -x /usr/bin/docker-registry ] && command -v curl >/dev/null; then
    echo "already installed"; return 0
  fi
  apt-get update -qq
  # Keep docker-registry's package from starting a system registry on :5000.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    runc docker-registry curl >/dev/null || rc=$?
  [ "$created" = 1 ] && rm -f "$policy"
  return $rc
}

# go_build KEY MODULE@VERSION PKG... : build the module's commands into
# $GOBUILD_TOOLS/KEY/bin unless already there. Built inside the module's own directory (as the
# main module): `go install PKG@VERSION` refuses modules whose go.mod has exclude or replace
# directives, as BuildKit's does.
go_build() {
  local key=$1 module=${2%@*} version=${2#*@}
  shift 2
  local dir=$GOBUILD_TOOLS/$key
  if [ -f "$dir/.done" ]; then echo "cached: $dir"; return 0; fi
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  # Own GOPATH/GOCACHE: downloads and compiled packages are reused when a version is rebuilt,
  # and nothing leaks into the user's Go environment.
  local -x GOPATH=$GOBUILD_TOOLS/gopath GOCACHE=$GOBUILD_TOOLS/gocache GOFLAGS=-mod=mod CGO_ENABLED=0
  local src
  src=$(cd / && go mod download -json "$module@$version" | jq -r .Dir)
  [ -d "$src" ] || die "go mod download $module@$version gave no directory"
  local pkg
  for pkg in "$@"; do
    (cd "$src" && go build -trimpath -o "$dir/bin/" \
      -tags 'osusergo netgo static_build seccomp' \
      -ldflags "-s -w -X $module/version.Version=$version" "$pkg")
  done
  touch "$dir/.done"
}

install() {
  command -v go >/dev/null || die "go not found: the tools are built from the Go module proxy"
  timed "buildkit: apt-get install runc docker-registry" apt_install
  local gov bk bx
  gov=$(go env GOVERSION)
  bk=$GOBUILD_TOOLS/buildkit-$BUILDKIT_VERSION-$gov
  bx=$GOBUILD_TOOLS/buildx-$BUILDX_VERSION-$gov
  timed "buildkit: build buildkitd+buildctl $BUILDKIT_VERSION" go_build "${bk##*/}" \
    "github.com/moby/buildkit@$BUILDKIT_VERSION" ./cmd/buildkitd ./cmd/buildctl
  timed "buildkit: build buildx $BUILDX_VERSION" go_build "${bx##*/}" \
    "github.com/docker/buildx@$BUILDX_VERSION" ./cmd/buildx
  mkdir -p "$HOME/.docker/cli-plugins" "$GOBUILD_BIN"
  ln -sf "$bx/bin/buildx" "$HOME/.docker/cli-plugins/docker-buildx"
  ln -sf "$bk/bin/buildkitd" "$GOBUILD_BIN/buildkitd"
  ln -sf "$bk/bin/buildctl" "$GOBUILD_BIN/buildctl"
  "$GOBUILD_BIN/buildkitd" --version
  "$DOCKER" buildx version
}

pid_alive() { # PIDFILE
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start_registry() {
  if pid_alive "$GOBUILD_REGISTRY_PIDFILE"; then log "registry already running"; return 0; fi
  mkdir -p "$GOBUILD_REGISTRY_DATA" "$GOBUILD_RUN_DIR" "$GOBUILD_LOG_DIR"
  cat >"$GOBUILD_RUN_DIR/registry.yml" <<EOF
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $GOBUILD_REGISTRY_DATA}
  delete: {enabled: true}
http:
  addr: $GOBUILD_REGISTRY
EOF
  setsid /usr/bin/docker-registry serve "$GOBUILD_RUN_DIR/registry.yml" \
    </dev/null >>"$GOBUILD_LOG_DIR/registry.log" 2>&1 &
  echo $! >"$GOBUILD_REGISTRY_PIDFILE"
  for _ in $(seq 1 50); do
    if curl -fsS "http://$GOBUILD_REGISTRY/v2/" >/dev/null 2>&1; then
      log "registry up on $GOBUILD_REGISTRY"; return 0
    fi
    sleep 0.2
  done
  tail -20 "$GOBUILD_LOG_DIR/registry.log" >&2
  die "registry did not answer on $GOBUILD_REGISTRY"
}

# buildkitd's config: the registry over plain HTTP, and docker.io mirrored by it so that
# `golang:1.27-bookworm` (docker.io/library/golang:1.27-bookworm) resolves to what we pushed.
# No CNI here: buildkitd uses the host network for steps that ask for the default network.
# `--network=host` (the tests' module proxy on 127.0.0.1) is an entitlement the daemon grants.
write_config() {
  mkdir -p "$GOBUILD_BUILDKIT_DATA" "$GOBUILD_RUN_DIR"
  cat >"$GOBUILD_BUILDKIT_CONFIG" <<EOF
root = "$GOBUILD_BUILDKIT_DATA"
insecure-entitlements = ["network.host"]
[grpc]
  address = ["unix://$GOBUILD_BUILDKIT_SOCK"]
[worker.oci]
  enabled = true
  binary = "/usr/sbin/runc"
  snapshotter = "overlayfs"
  # One fixed GC rule instead of the defaults, which keep 20 % of the disk free: on a crowded
  # disk they prune records mid-benchmark (a warm build turns cold) whatever the cache's size.
  gc = true
  [[worker.oci.gcpolicy]]
    all = true
    reservedSpace = "10GB"
    maxUsedSpace = "25GB"
[worker.containerd]
  enabled = false
[registry."$GOBUILD_REGISTRY"]
  http = true
  insecure = true
[registry."docker.io"]
  mirrors = ["$GOBUILD_REGISTRY"]
EOF
}

buildctl_ok() { "$GOBUILD_BIN/buildctl" --addr "$BUILDKIT_HOST" debug workers >/dev/null 2>&1; }

start_buildkitd() {
  if pid_alive "$GOBUILD_BUILDKIT_PIDFILE" && buildctl_ok; then
    log "buildkitd already running"; return 0
  fi
  [ -x "$GOBUILD_BIN/buildkitd" ] || die "buildkitd is not installed: run scripts/buildkit.sh install"
  write_config
  mkdir -p "$GOBUILD_LOG_DIR"
  rm -f "$GOBUILD_BUILDKIT_SOCK"
  echo "=== buildkitd start $(date -Is)" >>"$GOBUILD_BUILDKIT_LOG"
  setsid "$GOBUILD_BIN/buildkitd" --config "$GOBUILD_BUILDKIT_CONFIG" \
    </dev/null >>"$GOBUILD_BUILDKIT_LOG" 2>&1 &
  echo $! >"$GOBUILD_BUILDKIT_PIDFILE"
  for _ in $(seq 1 100); do
    if buildctl_ok; then log "buildkitd up on $BUILDKIT_HOST, log $GOBUILD_BUILDKIT_LOG"; return 0; fi
    pid_alive "$GOBUILD_BUILDKIT_PIDFILE" || break
    sleep 0.3
  done
  tail -30 "$GOBUILD_BUILDKIT_LOG" >&2
  die "buildkitd did not answer on $BUILDKIT_HOST"
}

# push IMAGE... : copy images from dockerd to the registry, where buildkitd (which has no image
# store of its own) resolves them: base images under library/ (the docker.io mirror), the
# frontend image as $GOBUILD_FRONTEND_REF. dockerd treats 127.0.0.0/8 registries as insecure.
push() {
  local img dst
  for img in "$@"; do
    case $img in
      "$GOBUILD_FRONTEND_IMAGE") dst=$GOBUILD_FRONTEND_REF ;;
      */*) dst=$GOBUILD_REGISTRY/$img ;;
      *) dst=$GOBUILD_REGISTRY/library/$img ;;
    esac
    "$DOCKER" tag "$img" "$dst"
    "$DOCKER" push --quiet "$dst" >/dev/null
    echo "pushed $img -> $dst"
  done
}

push_all() {
  local tags
  mapfile -t tags < <("$DOCKER" images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(golang|debian):' | sort)
  [ "${#tags[@]}" -gt 0 ] || die "no golang/debian images in dockerd: run scripts/setup.sh"
  timed "buildkit: push base images" push "${tags[@]}"
  if "$DOCKER" image inspect "$GOBUILD_FRONTEND_IMAGE" >/dev/null 2>&1; then
    timed "buildkit: push frontend image" push "$GOBUILD_FRONTEND_IMAGE"
  fi
}

# The Dockerfile frontend as an image (what `# syntax=docker/dockerfile:1` runs), built from
# the pinned BuildKit's source like the official image, for the benchmark's comparison: a
# Dockerfile behind `# syntax=` pays the same frontend start as ours. Tagged
# docker/dockerfile:1 in dockerd and pushed as the registry's docker.io mirror of it.
dockerfile_image() {
  local gov dir
  gov=$(go env GOVERSION)
  dir=$GOBUILD_TOOLS/dockerfile-frontend-$BUILDKIT_VERSION-$gov
  timed "buildkit: build dockerfile-frontend $BUILDKIT_VERSION" go_build "${dir##*/}" \
    "github.com/moby/buildkit@$BUILDKIT_VERSION" ./frontend/dockerfile/cmd/dockerfile-frontend
  local ctx
  ctx=$(mktemp -d)
  cp "$dir/bin/dockerfile-frontend" "$ctx/"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
LABEL moby.buildkit.frontend.network.none="true"
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
COPY dockerfile-frontend /bin/dockerfile-frontend
ENTRYPOINT ["/bin/dockerfile-frontend"]
EOF
  DOCKER_BUILDKIT=1 "$DOCKER" build -q -t docker/dockerfile:1 "$ctx" >/dev/null
  rm -rf "$ctx"
  push docker/dockerfile:1
}

create_builder() {
  if ! "$DOCKER" buildx inspect "$GOBUILD_BUILDX_BUILDER" >/dev/null 2>&1; then
    "$DOCKER" buildx create --name "$GOBUILD_BUILDX_BUILDER" --driver remote "$BUILDKIT_HOST" >/dev/null
  fi
  "$DOCKER" buildx inspect --bootstrap "$GOBUILD_BUILDX_BUILDER" | sed -n '1,12p'
}

stop_one() { # NAME PIDFILE
  if ! pid_alive "$2"; then rm -f "$2"; return 0; fi
  local pid
  pid=$(cat "$2")
  log "stopping $1 pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$2"; return 0; }
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$2"
}

case "${1:-}" in
  install) install ;;
  start)
    timed "buildkit: registry start" start_registry
    timed "buildkit: buildkitd start" start_buildkitd
    push_all
    timed "buildkit: buildx builder" create_builder ;;
  push) push_all ;;
  dockerfile-image) dockerfile_image ;;
  stop)
    stop_one buildkitd "$GOBUILD_BUILDKIT_PIDFILE"
    stop_one registry "$GOBUILD_REGISTRY_PIDFILE" ;;
  env)
    printf 'export BUILDKIT_HOST=%q GOBUILD_BUILDX_BUILDER=%q GOBUILD_FRONTEND_REF=%q GOBUILD_BUILDKIT_LOG=%q GOBUILD_BIN=%q\n' \
      "$BUILDKIT_HOST" "$GOBUILD_BUILDX_BUILDER" "$GOBUILD_FRONTEND_REF" "$GOBUILD_BUILDKIT_LOG" "$GOBUILD_BIN" ;;
  *) echo "usage: $0 install|start|push|dockerfile-image|stop|env" >&2; exit 2 ;;
esac
