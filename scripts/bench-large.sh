#!/usr/bin/env bash
# The large-repository benchmark (issue 11), reported in BENCHMARKS.md — numbers, never
# pass/fail. Gitea (scripts/bench-project.sh: ~3,000 Go files, ~270 modules, served by a GOPROXY
# on 127.0.0.1) built two ways on the same daemon, in alternating order:
#   best: tests/bench/expert.Dockerfile — the best hand-written Dockerfile (deps step on
#         bind-mounted go.mod/go.sum, module and build cache mounts, context bind-mounted into
#         the compile, scratch runtime, non-root);
#   ours: go-build.yaml through the frontend image;
#   syntax (only where BENCH_WAYS names it): the best Dockerfile behind
#         `# syntax=docker/dockerfile:1` — what the Dockerfile frontend costs as a gateway
#         frontend image, as ours is.
# Scenarios (each sample re-creates its starting state first): cold (cache pruned), no change,
# one .go edit, a new .go file, a new requirement (a fresh module version in the proxy, its
# go.mod/go.sum lines and an import), a README edit, and (issue 12) a fresh-runner edit: a .go
# edit after BuildKit dropped every cache mount but kept the layers, what a CI runner that
# imported the layer cache (`--cache-from`, exported with mode=max; both ways pass one) has; a seeded edit: the
# same, ours seeded by its `--target gocache` image (issue 12's "fresh-runner edit with the
# gocache seed"); a CI edit (buildkitd
# only: dockerd 20.10 exports no mode=max cache): the previous build exports its cache to the
# registry (`--cache-to type=registry,mode=max`, timed and sized apart), the builder is emptied,
# and the edit builds with `--cache-from` that cache; a fresh-runner requirement: the cache
# mounts pruned, an untimed .go edit (the state a CI runner has after its first build from an
# imported cache), then the new requirement. Every timed image must print the version
# the edit gave it. Daemons: dockerd 20.10 (`docker build`) and the current BuildKit
# (`docker buildx build`, result kept in the build cache: no export).
#
#   BENCH_DAEMONS   dockerd,buildkit (default both)
#   BENCH_SCENARIOS cold,no-change,go-edit,new-file,requirement,readme,fresh-edit,seeded-edit,
#                   ci-edit,fresh-requirement (default all)
#                   fresh-edit, seeded-edit, ci-edit and fresh-requirement leave the
#                   builder's cache mounts empty (its state came from an import): a local
#                   scenario after them measures a fresh runner, so the default order puts
#                   them last.
#   BENCH_WAYS      best,ours (default) or best,syntax,ours
#   RUNS            samples per scenario and way (default 3)
#   BENCH_OUT       directory for the raw progress logs (default: a temporary one)
# Markdown on stdout, progress on stderr. Prunes the daemons' whole BuildKit cache.
set -euo pipefail
shopt -s inherit_errexit
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-3}
BENCH_DAEMONS=${BENCH_DAEMONS:-dockerd,buildkit}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-cold,no-change,go-edit,new-file,requirement,readme,fresh-edit,seeded-edit,ci-edit,fresh-requirement}
BENCH_PROXY_PORT=${BENCH_PROXY_PORT:-3142}
PROXY=http://127.0.0.1:$BENCH_PROXY_PORT
IFS=, read -ra WAYS <<<"${BENCH_WAYS:-best,ours}"

work=$(mktemp -d)
out=${BENCH_OUT:-$work/logs}
mkdir -p "$out"
proxy_pid=
cleanup() {
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$GOBUILD_ROOT/scripts/bench-project.sh" prepare >&2
"$GOBUILD_ROOT/scripts/buildkit.sh" dockerfile-image >&2
proxy_dir=$("$GOBUILD_ROOT/scripts/bench-project.sh" prepare | sed -n 's/^proxy: *//p')
# New requirements are published into a copy of the proxy tree, never into the cached one.
mkdir -p "$work/proxy"
cp -rs "$proxy_dir/." "$work/proxy/"
python3 -m http.server --bind 127.0.0.1 --directory "$work/proxy" "$BENCH_PROXY_PORT" \
  >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for _ in $(seq 50); do curl -sf "$PROXY/" >/dev/null && break; sleep 0.1; done

EDITED=(main.go go.mod go.sum README.md)
ADDED=(bench_new.go bench_extra.go)
for way in "${WAYS[@]}"; do
  "$GOBUILD_ROOT/scripts/bench-project.sh" context "$work/$way" >/dev/null
  mkdir "$work/$way.pristine"
  (cd "$work/$way" && cp -p "${EDITED[@]}" "$work/$way.pristine/")
done
cp "$GOBUILD_ROOT/tests/bench/expert.Dockerfile" "$work/best/Dockerfile"
if [ -d "$work/syntax" ]; then
  { echo '# syntax=docker/dockerfile:1'; cat "$work/best/Dockerfile"; } >"$work/syntax/Dockerfile"
fi

# --- starting states and edits; each prints the version the image will report

reset() { # WAY : the edited files back, with their old times (so unchanged for BuildKit too)
  local f
  for f in "${EDITED[@]}"; do cp -p "$work/$1.pristine/$f" "$work/$1/$f"; done
  for f in "${ADDED[@]}"; do rm -f "$work/$1/$f"; done
}
set_version() { # WAY VERSION : a real code edit of the main package
  sed -i "s|^\tVersion = \"[^\"]*\"|\tVersion = \"$2\"|" "$work/$1/main.go"
  grep -q "Version = \"$2\"" "$work/$1/main.go" || die "main.go edit did not apply"
}
new_file() { # WAY VERSION
  printf 'package main\n\nfunc init() { Version = "%s" }\n' "$2" >"$work/$1/bench_new.go"
}
# A module nobody has built before: example.com/benchextra at a new version, published into the
# proxy tree, then required, summed and imported.
publish_module() { # VERSION -> go.sum lines
  local version=$1 mod=example.com/benchextra dir
  dir=$work/mod-$version
  mkdir -p "$dir/src"
  printf 'module %s\n\ngo 1.21\n' "$mod" >"$dir/src/go.mod"
  printf 'package benchextra\n\nconst Version = "extra-%s"\n' "$version" >"$dir/src/extra.go"
  local dl=$work/proxy/$mod/@v
  mkdir -p "$dl"
  (cd "$dir/src" && python3 - "$mod@$version" "$dl/$version.zip" <<'EOF'
import os, sys, zipfile
prefix, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dest, "w") as z:
    for name in sorted(os.listdir(".")):
        z.write(name, f"{prefix}/{name}")
EOF
  )
  cp "$dir/src/go.mod" "$dl/$version.mod"
  printf '{"Version":"%s","Time":"2026-12-01T00:00:00Z"}\n' "$version" >"$dl/$version.info"
  printf '%s\n' "$(ls "$dl" | sed -n 's/\.info$//p')" >"$dl/list"
  GOPROXY=$PROXY GOSUMDB=off GOFLAGS=-mod=mod GOMODCACHE=$dir/cache \
    go mod download -json "$mod@$version" |
    jq -r --arg m "$mod" --arg v "$version" '"\($m) \($v) \(.Sum)\n\($m) \($v)/go.mod \(.GoModSum)"'
  chmod -R u+w "$dir/cache"
}
add_requirement() { # WAY VERSION SUMS
  local dir=$work/$1
  printf '\nrequire example.com/benchextra %s\n' "$2" >>"$dir/go.mod"
  printf '%s\n' "$3" >>"$dir/go.sum"
  printf 'package main\n\nimport "example.com/benchextra"\n\nfunc init() { Version = benchextra.Version }\n' \
    >"$dir/bench_extra.go"
}
edit_readme() { # WAY
  printf '\nEdited %s.\n' "$(now_ns)" >>"$work/$1/README.md"
}

# --- daemons

daemon=
build_file() { # WAY : the file WAY builds
  case $1 in
    ours) echo "$work/ours/go-build.yaml" ;;
    best | syntax) echo "$work/$1/Dockerfile" ;;
    *) die "BENCH_WAYS: unknown way $1 (best, syntax, ours)" ;;
  esac
}
build_cmd() { # WAY LOGFILE [ARGS...] : one build of WAY's context on $daemon
  local way=$1 log=$2 file
  shift 2
  file=$(build_file "$way")
  local common=(--progress=plain --network=host --build-arg "GOPROXY=$PROXY"
    --build-arg GOSUMDB=off -f "$file" "$@")
  case $daemon in
    dockerd) "$DOCKER" build "${common[@]}" -t "gobuild-bench-$way" "$work/$way" ;;
    buildkit) "$DOCKER" buildx build --builder "$GOBUILD_BUILDX_BUILDER" "${common[@]}" \
      --output type=cacheonly "$work/$way" ;;
  esac >"$log" 2>&1
}
# The build cache image of ours (`--target gocache`): in dockerd's image store, or pushed to
# the registry buildkitd pulls from. export_gocache LOGFILE; gocache_args: how a build uses it.
gocache_image() {
  case $daemon in
    dockerd) echo gobuild-bench-gocache ;;
    buildkit) echo "${GOBUILD_FRONTEND_REF%%/*}/gobuild-bench-gocache:latest" ;;
  esac
}
export_gocache() {
  local file=$work/ours/go-build.yaml common
  common=(--progress=plain --network=host --build-arg "GOPROXY=$PROXY" --build-arg GOSUMDB=off
    -f "$file" --target gocache)
  case $daemon in
    dockerd) "$DOCKER" build "${common[@]}" -t "$(gocache_image)" "$work/ours" ;;
    buildkit) "$DOCKER" buildx build --builder "$GOBUILD_BUILDX_BUILDER" "${common[@]}" \
      --output "type=image,name=$(gocache_image),push=true" "$work/ours" ;;
  esac >"$1" 2>&1
}
gocache_args() {
  case $daemon in
    dockerd) echo --build-arg "GOBUILD_GOCACHE_FROM=$(gocache_image)" ;;
    buildkit) echo --build-context "gocache=docker-image://$(gocache_image)" ;;
  esac
}
# What a CI runner's build passes even before its cache exists (fresh-edit, fresh-requirement:
# ours compiles dependencies ahead only where a cache is imported, `compiled_deps: auto`).
runner_cache_from() {
  local ref=${GOBUILD_FRONTEND_REF%%/*}/gobuild-bench-none:latest
  case $daemon in
    dockerd) echo --cache-from "$ref" ;;
    buildkit) echo --cache-from "type=registry,ref=$ref" ;;
  esac
}
# A new registry cache ref for WAY (ci-edit: a repository of its own, so every layer is
# uploaded as on a first push); registry_cache_size REF: its compressed bytes.
new_cache_ref() { echo "${GOBUILD_FRONTEND_REF%%/*}/gobuild-bench-cache-$1-$(now_ns):latest"; }
registry_cache_size() {
  local ref=$1 registry repo
  registry=${ref%%/*}; repo=${ref#*/}; repo=${repo%:*}
  curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$registry/v2/$repo/manifests/latest" | jq '[.layers[].size] | add'
}
# The compile step's layer in buildkitd's cache (`buildctl du`), in bytes; 0 when absent.
compile_layer_size() {
  "$GOBUILD_BIN/buildctl" du -v --format '{{json .}}' 2>/dev/null |
    jq '[.[] | select(.description // "" | test("^mount /gobuild/gocache from exec")) | .size] | max // 0'
}
prune() {
  case $daemon in
    dockerd) "$DOCKER" builder prune -af >/dev/null ;;
    buildkit) "$GOBUILD_BIN/buildctl" prune --all >/dev/null ;;
  esac
}
prune_cache_mounts() {
  case $daemon in
    dockerd) "$DOCKER" builder prune -f --filter type=exec.cachemount >/dev/null ;;
    buildkit) "$GOBUILD_BIN/buildctl" prune --filter type==exec.cachemount >/dev/null ;;
  esac
}
# The version the image of WAY reports: dockerd runs the tagged image; for buildkitd the same
# (now cached) build is loaded into dockerd first, untimed.
image_version() { # WAY
  if [ "$daemon" = buildkit ]; then
    local file
    file=$(build_file "$1")
    "$DOCKER" buildx build --builder "$GOBUILD_BUILDX_BUILDER" -q --network=host \
      --build-arg "GOPROXY=$PROXY" --build-arg GOSUMDB=off -f "$file" --load \
      -t "gobuild-bench-$1" "$work/$1" >/dev/null
  fi
  "$DOCKER" run --rm --network=none "gobuild-bench-$1" --version | sed -n 's/^gitea version \([^ ]*\) .*/\1/p'
  # Each sample's image replaces the last under the same tag: drop the untagged ones (155 MB
  # each; hundreds of them once filled this disk mid-run).
  "$DOCKER" image prune -f >/dev/null
}

# sample SCENARIO WAY ROUND : re-creates the starting state, times one build, checks the image;
# prints "seconds"
sample() {
  local scenario=$1 way=$2 round=$3 expect=development log
  log=$out/$daemon-$scenario-$way-$round.log
  reset "$way"
  local extra=() runner=()
  case $scenario in
    fresh-edit | fresh-requirement) read -ra runner <<<"$(runner_cache_from)"; extra=("${runner[@]}") ;;
  esac
  case $scenario in
    cold) prune ;;
    ci-edit)
      [ "$daemon" = buildkit ] || die "ci-edit needs buildkitd: dockerd 20.10 exports no mode=max cache"
      local t0 ref
      ref=$(new_cache_ref "$way")
      build_cmd "$way" "$log.prepare" || die "$way: starting build failed: $log.prepare"
      t0=$(now_ns)
      build_cmd "$way" "$log.export-log" --cache-to "type=registry,ref=$ref,mode=max" ||
        die "$way: exporting the cache failed: $log.export-log"
      echo "export $(fmt_ms "$t0") s, registry cache $(registry_cache_size "$ref") bytes" \
        "$([ "$way" = ours ] && echo ", compile layer $(compile_layer_size) bytes")" >"$log.export"
      extra=(--cache-from "type=registry,ref=$ref")
      prune ;;
    seeded-edit)
      # A fresh runner that imported the layer cache and has ours' gocache image too (the
      # best Dockerfile has no such thing: a fresh-runner edit for it).
      build_cmd "$way" "$log.prepare" || die "$way: starting build failed: $log.prepare"
      if [ "$way" = ours ]; then
        export_gocache "$log.gocache" || die "exporting the build cache failed: $log.gocache"
        read -ra extra <<<"$(gocache_args)"
      fi
      prune_cache_mounts ;;
    fresh-requirement)
      build_cmd "$way" "$log.prepare" "${runner[@]}" || die "$way: starting build failed: $log.prepare"
      prune_cache_mounts
      set_version "$way" "fresh-$(now_ns)"
      build_cmd "$way" "$log.edit" "${runner[@]}" || die "$way: the edit after pruning failed: $log.edit" ;;
    *) build_cmd "$way" "$log.prepare" "${runner[@]}" || die "$way: starting build failed: $log.prepare" ;;
  esac
  local tag
  tag=bench-$(now_ns)
  case $scenario in
    go-edit) set_version "$way" "$tag"; expect=$tag ;;
    fresh-edit) prune_cache_mounts; set_version "$way" "$tag"; expect=$tag ;;
    seeded-edit | ci-edit) set_version "$way" "$tag"; expect=$tag ;;
    new-file) new_file "$way" "$tag"; expect=$tag ;;
    requirement | fresh-requirement)
      local v=v1.0.${tag#bench-} sums
      sums=$(publish_module "$v")
      add_requirement "$way" "$v" "$sums"; expect=extra-$v ;;
    readme) edit_readme "$way" ;;
  esac
  local t0 secs
  t0=$(now_ns)
  build_cmd "$way" "$log" "${extra[@]}" || die "$way $scenario: build failed: $log"
  secs=$(fmt_ms "$t0")
  local got
  got=$(image_version "$way")
  [ "$got" = "$expect" ] || die "$way $scenario: the image reports version '$got', not '$expect'"
  echo "$secs"
}
fmt_ms() { # START_NS -> seconds with two decimals
  local d=$(( ($(now_ns) - $1) / 10000000 ))
  printf '%d.%02d' $(( d / 100 )) $(( d % 100 ))
}
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# steps LOG : "name=seconds" for each vertex that ran in a plain-progress log (CACHED ones
# print "cached"), in order of appearance.
steps() {
  awk '
    /^#[0-9]+ / {
      id = $1; rest = substr($0, length(id) + 2)
      if (!(id in name)) { name[id] = rest; order[++n] = id }
      if (rest ~ /^DONE /) done[id] = $3
      if (rest == "CACHED") done[id] = "cached"
    }
    END { for (i = 1; i <= n; i++) { id = order[i]; if (id in done) printf "%s\t%s\n", name[id], done[id] } }
  ' "$1"
}

# floor FILE: the median of 5 builds of FILE (in its own directory) that its frontend refuses
# right after reading it: what any build through that frontend costs before it does anything
# (for a `# syntax=` image: resolve it, start its container, connect, one read, return).
floor() {
  local file=$1 i t0 out=()
  for i in 1 2 3 4 5; do
    t0=$(now_ns)
    case $daemon in
      dockerd) "$DOCKER" build -q -f "$file" "${file%/*}" >/dev/null 2>&1 || true ;;
      buildkit) "$DOCKER" buildx build --builder "$GOBUILD_BUILDX_BUILDER" -q \
        -f "$file" "${file%/*}" >/dev/null 2>&1 || true ;;
    esac
    out+=("$(fmt_ms "$t0")")
  done
  printf '%s\n' "${out[@]}" | median
}

# The three floors: ours, the Dockerfile frontend behind `# syntax=` (its image from
# scripts/buildkit.sh dockerfile-image) and the one built into the daemon.
floors() {
  local dir=$work/floor
  mkdir -p "$dir"
  printf '# syntax=%s\nbinaries:\n  - package: .\n    nmae: typo\n' "$frontend" >"$dir/go-build.yaml"
  printf 'module example.com/floor\n\ngo 1.27\n' >"$dir/go.mod"
  printf '# syntax=docker/dockerfile:1\nFORM scratch\n' >"$dir/syntax.Dockerfile"
  printf 'FORM scratch\n' >"$dir/builtin.Dockerfile"
  echo "ours $(floor "$dir/go-build.yaml") s, a Dockerfile behind \`# syntax=docker/dockerfile:1\` $(floor "$dir/syntax.Dockerfile") s, the daemon's built-in Dockerfile frontend $(floor "$dir/builtin.Dockerfile") s"
}

# --- run

declare -A times floors
for daemon in ${BENCH_DAEMONS//,/ }; do
  case $daemon in
    dockerd) frontend=$GOBUILD_FRONTEND_IMAGE ;;
    buildkit) frontend=$GOBUILD_FRONTEND_REF ;;
    *) die "BENCH_DAEMONS: unknown daemon $daemon (dockerd, buildkit)" ;;
  esac
  sed -i "1s|.*|# syntax=$frontend|" "$work/ours/go-build.yaml"
  floors[$daemon]=$(floors)
  log "$daemon: builds refused right after reading their file: ${floors[$daemon]}"
  for scenario in ${BENCH_SCENARIOS//,/ }; do
    for ((round = 1; round <= RUNS; round++)); do
      # Each round starts with the next way: every way goes first as often.
      k=$(( (round - 1) % ${#WAYS[@]} ))
      order=("${WAYS[@]:k}" "${WAYS[@]:0:k}")
      for way in "${order[@]}"; do
        s=$(sample "$scenario" "$way" "$round")
        times[$daemon,$scenario,$way]+="$s "
        log "$daemon $scenario $way run $round: ${s}s"
      done
    done
  done
done

syntax=false
[[ " ${WAYS[*]} " == *" syntax "* ]] && syntax=true
median_of() { tr ' ' '\n' <<<"${times[$1]}" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
if $syntax; then
  echo "| daemon | scenario | best hand-written (s) | the same behind \`# syntax=\` (s) | ours (s) | ours ÷ best | ours ÷ behind \`# syntax=\` | runs best / behind \`# syntax=\` / ours |"
  echo "|---|---|---:|---:|---:|---:|---:|---|"
else
  echo "| daemon | scenario | best hand-written (s) | ours (s) | ours ÷ best | runs best / ours |"
  echo "|---|---|---:|---:|---:|---|"
fi
for daemon in ${BENCH_DAEMONS//,/ }; do
  for scenario in ${BENCH_SCENARIOS//,/ }; do
    b=$(median_of "$daemon,$scenario,best")
    o=$(median_of "$daemon,$scenario,ours")
    if $syntax; then
      y=$(median_of "$daemon,$scenario,syntax")
      printf '| %s | %s | %.2f | %.2f | %.2f | %s | %s | %s/ %s/ %s|\n' "$daemon" "$scenario" \
        "$b" "$y" "$o" "$(ratio "$o" "$b")" "$(ratio "$o" "$y")" \
        "${times[$daemon,$scenario,best]}" "${times[$daemon,$scenario,syntax]}" \
        "${times[$daemon,$scenario,ours]}"
    else
      printf '| %s | %s | %.2f | %.2f | %s | %s/ %s|\n' "$daemon" "$scenario" "$b" "$o" \
        "$(ratio "$o" "$b")" "${times[$daemon,$scenario,best]}" "${times[$daemon,$scenario,ours]}"
    fi
  done
done
echo
for daemon in ${BENCH_DAEMONS//,/ }; do
  echo "- $daemon: a build refused right after reading its file (median of 5): ${floors[$daemon]}"
done
echo
for f in "$out"/*-ci-edit-*.log.export; do
  [ -e "$f" ] && echo "- $(basename "$f" .log.export): $(cat "$f")"
done
echo
echo "Steps that ran in the last run of each scenario, ours (BuildKit's DONE seconds):"
for daemon in ${BENCH_DAEMONS//,/ }; do
  for scenario in ${BENCH_SCENARIOS//,/ }; do
    echo
    echo "- $daemon, $scenario:"
    steps "$out/$daemon-$scenario-ours-$RUNS.log" | grep -v $'\tcached$' | sed 's/^/  - /' || true
  done
done
