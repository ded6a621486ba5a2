#!/usr/bin/env bash
# Start/stop the project's private dockerd.
#   scripts/dockerd.sh start    start (if not already running) and wait until `docker version` answers
#   scripts/dockerd.sh stop     stop it by the PID in its pidfile and wait until it is gone
#   scripts/dockerd.sh status   exit 0 when it answers
#   scripts/dockerd.sh env      print the export lines to use it from a shell
#
# Network: builds and tests must not send traffic anywhere but loopback. Choice made:
#   --iptables=false --ip-masq=false --ip-forward=false
#       never rewrite the host's firewall/NAT and never turn on forwarding: nothing a container
#       sends on the bridge is routed or masqueraded off this host.
#   --userland-proxy=false   no docker-proxy processes.
#   The default bridge (docker0) is KEPT. Tried --bridge=none first: plain `docker run` works,
#   but dockerd 20.10's embedded BuildKit runs every sandbox-mode exec step (NetMode UNSET, the
#   default of a Dockerfile RUN and of the frontend's deps step) on the network named "bridge",
#   so `FROM debian:bookworm-slim` + `RUN true` failed with "network bridge not found".
#   The tests themselves never use the bridge: they build with `--network=none` (BuildKit sees
#   force-network-mode=none) and run containers with `--network=none`.
# and its own containerd (it supervises one under the exec root; no system containerd runs).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

pid_alive() {
  [ -f "$GOBUILD_DOCKER_PIDFILE" ] || return 1
  local pid
  pid=$(cat "$GOBUILD_DOCKER_PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

answers() { "$DOCKER" version >/dev/null 2>&1; }

start() {
  [ -x "$DOCKER" ] || die "$DOCKER not found: run scripts/setup.sh (apt-get install docker.io)"
  command -v dockerd >/dev/null || die "dockerd not found: run scripts/setup.sh"
  if pid_alive && answers; then
    log "dockerd already running (pid $(cat "$GOBUILD_DOCKER_PIDFILE")) on $DOCKER_HOST"
    return 0
  fi
  if pid_alive; then
    die "dockerd pid $(cat "$GOBUILD_DOCKER_PIDFILE") is alive but does not answer on $DOCKER_HOST; see $GOBUILD_DOCKER_LOG"
  fi
  mkdir -p "$GOBUILD_RUN_DIR" "$GOBUILD_DOCKER_DATA" "$GOBUILD_DOCKER_EXEC_ROOT" "$GOBUILD_LOG_DIR"
  rm -f "$GOBUILD_DOCKER_PIDFILE" "$GOBUILD_DOCKER_SOCK"
  echo "=== dockerd start $(date -Is)" >>"$GOBUILD_DOCKER_LOG"
  # setsid + no stdin: the daemon outlives the script that started it (demo.sh leaves it up).
  setsid dockerd \
    --host "unix://$GOBUILD_DOCKER_SOCK" \
    --data-root "$GOBUILD_DOCKER_DATA" \
    --exec-root "$GOBUILD_DOCKER_EXEC_ROOT" \
    --pidfile "$GOBUILD_DOCKER_PIDFILE" \
    --iptables=false --ip-masq=false --ip-forward=false \
    --userland-proxy=false \
    </dev/null >>"$GOBUILD_DOCKER_LOG" 2>&1 &
  local spawned=$!
  for _ in $(seq 1 120); do
    if answers; then
      log "dockerd up (pid $(cat "$GOBUILD_DOCKER_PIDFILE" 2>/dev/null || echo "$spawned")) on $DOCKER_HOST, log $GOBUILD_DOCKER_LOG"
      return 0
    fi
    kill -0 "$spawned" 2>/dev/null || { tail -30 "$GOBUILD_DOCKER_LOG" >&2; die "dockerd exited during start-up"; }
    sleep 0.5
  done
  tail -30 "$GOBUILD_DOCKER_LOG" >&2
  die "dockerd did not answer within 60s"
}

stop() {
  if ! pid_alive; then
    log "dockerd not running"
    rm -f "$GOBUILD_DOCKER_PIDFILE"
    return 0
  fi
  local pid
  pid=$(cat "$GOBUILD_DOCKER_PIDFILE")
  log "stopping dockerd pid $pid"
  kill -TERM "$pid"
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { log "dockerd stopped"; return 0; }
    sleep 0.5
  done
  log "dockerd pid $pid still alive after 30s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) pid_alive && answers ;;
  env) printf 'export DOCKER_HOST=%q DOCKER_BUILDKIT=1 GOBUILD_DOCKER_LOG=%q\n' "$DOCKER_HOST" "$GOBUILD_DOCKER_LOG" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
