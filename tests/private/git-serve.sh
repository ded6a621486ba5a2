#!/bin/sh
# The forced command of the e2e tests' sshd (tests/e2e/private.rs writes it into
# authorized_keys as `command="/bin/sh git-serve.sh REPOS LOG",restrict <key>`).
#
# It serves fetches only: `git-upload-pack '/<path>'` from the bare repositories under REPOS,
# so `ssh://root@127.0.0.1:PORT/team/secret.git` (or `.../team/secret`, as Go asks for it) is
# REPOS/team/secret.git. Every request is appended to LOG; anything else is refused.
set -eu
repos=$1
log=$2
cmd=${SSH_ORIGINAL_COMMAND:-}
case $cmd in
"git-upload-pack '"*"'")
  path=${cmd#"git-upload-pack '"}
  path=${path%"'"}
  ;;
*)
  printf 'refused %s\n' "$cmd" >>"$log"
  echo "git-serve: only fetches (git-upload-pack) are served, not: $cmd" >&2
  exit 1
  ;;
esac
path=${path#/}
case $path in
"" | /* | *..* | *"'"* | *"\\"*)
  printf 'refused %s\n' "$cmd" >>"$log"
  echo "git-serve: bad repository path: $path" >&2
  exit 1
  ;;
esac
printf 'upload-pack %s\n' "$path" >>"$log"
# Not --strict: like a hosting service, `team/secret` finds `team/secret.git`.
exec git upload-pack "$repos/$path"
