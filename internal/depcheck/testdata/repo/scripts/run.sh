#!/usr/bin/env bash
# fixture: what the checker must see through, and what it must not count as commands
set -euo pipefail
GO=${GO:-go}
HERE=$(cd "$(dirname "$0")" && pwd)
log() { echo "$*" >&2; }
phase() { local name=$1; shift; log "$name"; "$@"; }
wait_for() { local what=$1 secs=$2; shift 2; until "$@"; do sleep 1; done; }
start() { local name=$1; shift; setsid bash -c 'exec -a "$0" "$@"' "$name" "$@" & }
ok=false
ok=true
if $ok; then log yes; fi
phase "build" $GO build ./...
wait_for "health" 30 curl -fsS http://127.0.0.1:1/
start daemon /usr/bin/sortd --config x
timeout -s KILL 5 nice -n 10 env A=1 B=2 sha256sum /dev/null
find . -name '*.tmp' -exec rm -f {} \;
ls | xargs -n 1 wc -l
bash -c "tr a b </dev/null | $GO version"
trap 'rmdir /tmp/x; cleanup-tool --all' EXIT
command -v probe-only >/dev/null || true
flock 9
flock /tmp/lock cp a b
"$HERE/helper.sh" arg
"$bin/kubectl" get pods
"$t" -test.v
scripts/helper.sh
./helper.sh
cat <<EOT
not-a-command here
EOT
