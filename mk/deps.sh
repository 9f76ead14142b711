#!/usr/bin/env bash
# deps.sh (make deps): the project's one install step. Installs the Debian packages
# listed in mk/packages that are not installed yet; idempotent.
#
# - nothing missing: prints nothing, exits 0 (a few ms: one dpkg-query)
# - root: one line saying what it installs (apt-get update once, then apt-get install)
# - not root: one line saying what is missing; exits 0, so `make test` still runs vet and
#   the unit tests, and the tests that need root and these packages skip with a reason
#
# `make demo`, `make test`, `make cluster-up`, `make test-netem` and the bench targets
# depend on it (mk/deps.mk); cluster.sh and netemvm/run.sh call it when run by hand.
# Why each package is there, and the check that keeps the list true: docs/dependencies.md.
set -euo pipefail
LIST=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/packages

pkgs=()
while read -r p _; do
  case $p in '' | '#'*) continue ;; esac
  pkgs+=("$p")
done <"$LIST"

# missing: the listed packages dpkg does not have installed ("ii"), in list order.
missing() {
  local have
  have=" $(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null |
    awk '$2 == "ii" {printf "%s ", $1}') "
  for p in "${pkgs[@]}"; do
    [[ $have == *" $p "* ]] || echo "$p"
  done
}

need=($(missing))
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "deps: missing Debian packages ${need[*]}: installing them needs root (sudo make deps); until then the tests that need them skip" >&2
  exit 0
fi

# Serialize concurrent runs (make -j, cluster.sh and netemvm/run.sh called by hand), then
# look again: another run may have installed them meanwhile.
exec 9>/run/lock/kubectl-chaos-deps.lock
flock 9
need=($(missing))
[ ${#need[@]} -eq 0 ] && exit 0

t0=$(date +%s)
printf 'deps: installing %s (apt-get update + install) ...' "${need[*]}" >&2
log=$(mktemp "${TMPDIR:-/tmp}/kubectl-chaos-deps.XXXXXX")
trap 'rm -f "$log"' EXIT
apt() { # wait for other apt/dpkg users instead of failing on their lock
  DEBIAN_FRONTEND=noninteractive apt-get -y -o DPkg::Lock::Timeout=600 "$@" >>"$log" 2>&1
}
if ! apt update || ! apt install --no-install-recommends "${need[@]}"; then
  echo " FAILED" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
left=($(missing))
if [ ${#left[@]} -gt 0 ]; then
  echo " FAILED: still not installed: ${left[*]}" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
echo " done in $(($(date +%s) - t0))s" >&2
