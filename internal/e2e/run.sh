#!/usr/bin/env bash
# run.sh test|demo|bench: bring the local cluster up if needed, load the images, run
# the e2e tests (or the demo, or the benchmark), and take the cluster down again if this
# script brought it up (E2E_KEEP_CLUSTER=1 keeps it). Prints the time of each phase and,
# for a cluster it brought up, checks that the host is left as it was found.
# Called by `make test-e2e`, `make demo`, `make bench-e2e` with VERSION, AGENT_IMAGE,
# ECHO_IMAGE set.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
mode=${1:-test}
CLUSTER=internal/e2e/cluster/cluster.sh
SNAP=internal/e2e/cluster/hostsnap.sh
: "${VERSION:?run through make}" "${AGENT_IMAGE:?}" "${ECHO_IMAGE:?}"
T0=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
PHASES=()
phase() { # NAME CMD...: run, time, remember
  local name=$1 t rc=0; shift
  echo "== e2e phase: $name" >&2
  t=$(date +%s%N)
  "$@" || rc=$?
  PHASES+=("$(printf '%-28s %8.1fs %s' "$name" "$(echo "$(ms "$t")" | awk '{print $1/1000}')" "$([ $rc = 0 ] && echo ok || echo "FAILED ($rc)")")")
  return $rc
}
summary() {
  echo "== e2e phase times" >&2
  local p
  for p in "${PHASES[@]}"; do echo "   $p" >&2; done
  echo "   total $(( $(ms "$T0") / 1000 ))s" >&2
}

if [ "$(id -u)" != 0 ]; then
  # make test as a user: vet and the unit tests ran; this part needs root.
  if [ "$mode" = test ]; then
    echo "run.sh: SKIP e2e tests: the local cluster needs root (containerd, kubelet, bridge CNI)" >&2
    exit 0
  fi
  echo "run.sh: the local cluster needs root (containerd, kubelet, bridge CNI)" >&2
  exit 1
fi

was_up=false
$CLUSTER status 2>/dev/null && was_up=true
mkdir -p _out/e2e
if ! $was_up; then
  # Leftovers of a cluster whose processes were killed (a previous session, a crash):
  # clear them first, so the snapshot below is the host as it was before any cluster.
  if [ -d /var/lib/kc-e2e-cluster ] || [ -d /run/kc-e2e-cluster ]; then
    phase "stale cluster cleanup" $CLUSTER down
  fi
  "$SNAP" >_out/e2e/host-before.txt
fi

finish() {
  local rc=$?
  set +e
  if $was_up || [ "${E2E_KEEP_CLUSTER:-}" = 1 ]; then
    echo "== cluster left running: export KUBECONFIG=$ROOT/_out/cluster/kubeconfig; make cluster-down to stop it" >&2
  else
    phase "cluster down" $CLUSTER down || rc=1
    "$SNAP" >_out/e2e/host-after.txt
    if ! phase "host state check" "$SNAP" --diff _out/e2e/host-before.txt _out/e2e/host-after.txt; then
      rc=1
    fi
  fi
  summary
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

phase "kubernetes binaries" internal/e2e/harness/build.sh >/dev/null
phase "cluster up" $CLUSTER up
phase "images build+load" make -s images-load VERSION="$VERSION"
eval "$($CLUSTER env)"
export E2E_KUBECONFIG=$KUBECONFIG E2E_RUNTIME_SOCKET AGENT_IMAGE ECHO_IMAGE
export E2E_BIN=$ROOT/bin/kubectl-chaos
# `kubectl chaos` in the tests is this build (make test-e2e built it), not whatever
# make install put in /usr/local/bin on this machine (another checkout's, or stale).
export PATH=$ROOT/bin:$PATH

case $mode in
  test)
    e2e_tests() {
      # E2E_RUN=REGEXP runs a subset (go test -run), e.g. E2E_RUN='TestLossCtrlC|TestKillCLI$'.
      # E2E_TIMEOUT: make test-reliability's full kill matrix needs more than the 40m.
      # make exports GOFLAGS with -tags=grpcnotrace (Makefile): a plain -tags e2e would
      # replace it, and the packages that import gRPC would be compiled a second time.
      local tags=e2e f
      for f in ${GOFLAGS:-}; do case $f in -tags=*) tags+=",${f#-tags=}" ;; esac; done
      go test -tags "$tags" -count=1 -p 1 -v -timeout "${E2E_TIMEOUT:-40m}" ${E2E_RUN:+-run "$E2E_RUN"} ./internal/e2e/ 2>&1 | tee _out/e2e/go-test.log
    }
    test_rc=0
    phase "go test -tags e2e" e2e_tests || test_rc=$?
    # The count of top-level tests, as the plain closing line CI and people read.
    count() { grep -c "^--- $1:" _out/e2e/go-test.log || true; }
    echo "e2e: $(count PASS) passed, $(count FAIL) failed, $(count SKIP) skipped"
    [ "$test_rc" = 0 ] || exit "$test_rc"
    ;;
  bench)
    phase "bench" go test -tags e2e -count=1 -v -timeout 20m -run 'TestBench' ./internal/e2e/ \
      -args -e2e.bench
    ;;
  demo)
    phase "install plugin" make -s install VERSION="$VERSION"
    phase "demo" env DEMO_PULL_POLICY=Never internal/e2e/demo.sh
    ;;
  *) echo "run.sh: unknown mode $mode (test|demo|bench)" >&2; exit 2 ;;
esac
