#!/usr/bin/env bash
# check.sh: prove the harness without kubectl-chaos (make cluster-check): from a host
# without a cluster, bring it up, import the images, run a plain pod that serves and is
# reached from the host, a privileged hostPID pod that sees that pod's process and its
# network namespace, tear down, and compare the host with the snapshot taken before.
set -euo pipefail
cd "$(dirname "$0")/../../.."
C=internal/e2e/cluster/cluster.sh
S=internal/e2e/cluster/hostsnap.sh
mkdir -p _out/e2e
if $C status 2>/dev/null; then
  echo "check.sh: a cluster is running; run make cluster-down first" >&2
  exit 1
fi
[ -d /var/lib/kc-e2e-cluster ] && $C down
$S >_out/e2e/check-before.txt
ok=0
trap '$C down; $S >_out/e2e/check-after.txt; $S --diff _out/e2e/check-before.txt _out/e2e/check-after.txt || ok=1; [ $ok = 0 ] && echo "check.sh: PASS" || echo "check.sh: FAIL"; exit $ok' EXIT
t0=$(date +%s%N)
$C up
echo "check.sh: up in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
$C load _out/images/pause.tar _out/images/echo.tar
eval "$($C env)"
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  automountServiceAccountToken: false
  containers: [{name: echo, image: "e2e.local/echo:1", imagePullPolicy: Never, args: [serve]}]
---
apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: default}
spec:
  terminationGracePeriodSeconds: 1
  automountServiceAccountToken: false
  hostPID: true
  containers:
  - {name: p, image: "e2e.local/pause:1", imagePullPolicy: Never, securityContext: {privileged: true}}
EOF
t0=$(date +%s%N)
kubectl wait pod/plain pod/priv --for=condition=Ready --timeout=90s >/dev/null || { ok=1; $C logs; exit 1; }
echo "check.sh: two pods Ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
ip=$(kubectl get pod plain -o jsonpath='{.status.podIP}')
curl -fsS --max-time 3 "http://$ip:8080/" >/dev/null || { echo "check.sh: plain pod not reachable at $ip" >&2; ok=1; }
echo "check.sh: plain pod serves at $ip"
# The privileged hostPID pod sees the host's PIDs: the echo server's netns is visible
# in the /proc mounted inside that pod (read through /proc/PID/root from the host).
uid=$(kubectl get pod priv -o jsonpath='{.metadata.uid}')
ppid=$(grep -l "pod$uid" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | head -1 || true)
epid=$(pgrep -f '^/echo serve$' | head -1 || true)
if [ -n "$epid" ] && [ -n "$ppid" ] && [ -e "/proc/$ppid/root/proc/$epid/ns/net" ]; then
  echo "check.sh: hostPID pod sees the echo server's pid $epid and its netns"
else
  echo "check.sh: hostPID pod does not see pid ${epid:-?}" >&2; ok=1
fi
kubectl delete pod plain priv --wait=true --timeout=30s >/dev/null
