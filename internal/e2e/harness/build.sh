#!/usr/bin/env bash
# build.sh: build kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# etcd from the Go module proxy (this nested module) into a cache directory keyed by the
# Kubernetes, etcd and Go versions. Skips what is already there. Prints the directory.
#
#   internal/e2e/harness/build.sh            # build if missing, print the bin dir
#   internal/e2e/harness/build.sh --dir      # only print the bin dir
set -euo pipefail
cd "$(dirname "$0")"
K8S_VERSION=v1.34.4
ETCD_VERSION=v3.6.4
GO=${GO:-go}
gov=$($GO env GOVERSION)
dir=${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-chaos/cluster/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-$gov
if [ "${1:-}" = "--dir" ]; then echo "$dir"; exit 0; fi
mkdir -p "$dir"
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
-X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
start=$(date +%s)
built=()
for name in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
  [ -x "$dir/$name" ] && continue
  case $name in
    etcd) pkg=./cmd/etcd ;;
    *) pkg=k8s.io/kubernetes/cmd/$name ;;
  esac
  echo "build.sh: building $name ($pkg) into $dir" >&2
  nice -n 10 $GO build -trimpath -ldflags "$ldflags" -o "$dir/.$name.tmp" "$pkg"
  mv "$dir/.$name.tmp" "$dir/$name"
  built+=("$name")
done
if [ ${#built[@]} -gt 0 ]; then
  echo "build.sh: built ${built[*]} in $(( $(date +%s) - start ))s" >&2
fi
echo "$dir"
