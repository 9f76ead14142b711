#!/usr/bin/env bash
# build.sh: build kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# etcd from the Go module proxy (this nested module) into a cache directory keyed by the
# Kubernetes, etcd and Go versions. Skips what is already there. Prints the directory.
#
#   internal/e2e/harness/build.sh            # build if missing, print the bin dir
#   internal/e2e/harness/build.sh --dir      # only print the bin dir
#   internal/e2e/harness/build.sh --names    # the binaries it builds (make check-deps)
#
# The first build takes long (≈11–17 min on 2 shared cores): it says so before it starts
# and prints which binary it builds and the time elapsed, every 30 s, on stderr.
set -euo pipefail
cd "$(dirname "$0")"
K8S_VERSION=v1.34.4
ETCD_VERSION=v3.6.4
GO=${GO:-go}
gov=$($GO env GOVERSION)
dir=${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-chaos/cluster/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-$gov
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
case ${1:-} in
  --dir) echo "$dir"; exit 0 ;;
  --names) echo "${BINARIES[*]}"; exit 0 ;;
esac
mkdir -p "$dir"
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
-X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
todo=()
for name in "${BINARIES[@]}"; do
  [ -x "$dir/$name" ] || todo+=("$name")
done
start=$(date +%s)
mmss() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
if [ ${#todo[@]} -gt 0 ]; then
  # Measured here: 11 min for all six on 2 cores, 17 min with other builds running; the
  # module downloads come first (a few hundred MB from the Go proxy into the module cache).
  echo "build.sh: building ${todo[*]} from source once, into $dir." >&2
  echo "build.sh: all six take ≈11–17 min on 2 cores ($(nproc) here) and are cached afterwards; progress every 30 s." >&2
fi
tick=
trap '[ -z "$tick" ] || kill "$tick" 2>/dev/null' EXIT
i=0
for name in "${todo[@]}"; do
  i=$((i + 1))
  case $name in
    etcd) pkg=./cmd/etcd ;;
    *) pkg=k8s.io/kubernetes/cmd/$name ;;
  esac
  t=$(date +%s)
  echo "build.sh: [$i/${#todo[@]}] $name ($pkg), $(mmss $((t - start))) elapsed" >&2
  ( # the ticker: its sleep dies with it (wait, unlike a foreground sleep, lets the trap run)
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 30 & s=$!
      wait "$s"
      now=$(date +%s)
      echo "build.sh: [$i/${#todo[@]}] still building $name: $(mmss $((now - t))) on it, $(mmss $((now - start))) elapsed" >&2
    done
  ) &
  tick=$!
  nice -n 10 $GO build -trimpath -ldflags "$ldflags" -o "$dir/.$name.tmp" "$pkg"
  kill "$tick" 2>/dev/null || true
  wait "$tick" 2>/dev/null || true
  tick=
  mv "$dir/.$name.tmp" "$dir/$name"
  echo "build.sh: [$i/${#todo[@]}] $name built in $(mmss $(($(date +%s) - t)))" >&2
done
if [ ${#todo[@]} -gt 0 ]; then
  echo "build.sh: built ${todo[*]} in $(mmss $(($(date +%s) - start)))" >&2
fi
echo "$dir"
