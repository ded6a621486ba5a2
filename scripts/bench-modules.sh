#!/usr/bin/env bash
# The modules benchmark reported in BENCHMARKS.md (numbers, never pass/fail): one Go program
# with module dependencies built four ways on the same BuildKit (naive, classic split and
# expert Dockerfiles from tests/bench/, and our frontend), cold, unchanged, after a .go edit,
# after adding a requirement and after a README edit. See tests/bench_modules.rs.
# Prints markdown to stdout, progress to stderr. RUNS (default 3) samples per cell,
# OVERHEAD_RUNS (default 10) cached builds for the frontend-overhead line, BENCH_SCENARIOS
# (default cold,no-change,go-edit,requirement,readme) a subset of the scenarios.
# Needs the private dockerd and the frontend image (scripts/setup.sh, scripts/frontend-image.sh).
# Prunes the daemon's whole BuildKit cache (docker builder prune -af) several times.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$GOBUILD_ROOT"

# Build under the cargo lock, run outside it: the benchmark takes many minutes.
bin=$(cargo_locked test --locked --features e2e --test bench-modules --no-run --message-format=json |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "bench-modules") | .executable // empty' |
  tail -n 1)
[ -n "$bin" ] || die "cargo built no bench-modules binary"
RUNS=${RUNS:-3} "$bin" --run
