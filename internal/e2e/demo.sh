#!/usr/bin/env bash
# demo.sh: a client and a server in the current cluster, and a short `kubectl chaos`
# session between them: the client's error rate and latency before, during and after.
# `make demo` runs it against the local cluster; against your own cluster:
#
#   kubectl apply … (any client/server), then
#   DEMO_RUNTIME_SOCKET=/run/containerd/containerd.sock internal/e2e/demo.sh
#
# Environment: ECHO_IMAGE (the workload image), DEMO_FAULT (default: loss 30%),
# E2E_RUNTIME_SOCKET (containerd socket on the nodes).
set -euo pipefail
NS=chaos-demo
IMAGE=${ECHO_IMAGE:-e2e.local/echo:1}
SOCKET=${E2E_RUNTIME_SOCKET:-/run/containerd/containerd.sock}
FAULT=${DEMO_FAULT:-network loss deploy/server --percent 30}
PULL=${DEMO_PULL_POLICY:-IfNotPresent}   # make demo: Never (images are loaded, no registry)
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi

cleanup() {
  set +e
  [ -n "${logs_pid:-}" ] && kill "$logs_pid" 2>/dev/null
  say "cleaning up: deleting namespace $NS"
  kubectl delete namespace "$NS" --wait=true --timeout=60s >/dev/null
}
trap cleanup EXIT

say "deploying the demo app in namespace $NS (server + client, image $IMAGE)"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: server, namespace: $NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: server}}
  template:
    metadata: {labels: {app: server}}
    spec:
      terminationGracePeriodSeconds: 1
      automountServiceAccountToken: false
      containers:
      - {name: echo, image: $IMAGE, imagePullPolicy: IfNotPresent, args: [serve],
         readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}}
EOF
kubectl -n "$NS" rollout status deploy/server --timeout=90s >/dev/null
server_ip=$(kubectl -n "$NS" get pods -l app=server -o jsonpath='{.items[0].status.podIP}')
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: $NS, labels: {app: client}}
spec:
  terminationGracePeriodSeconds: 1
  automountServiceAccountToken: false
  containers:
  - {name: client, image: $IMAGE, imagePullPolicy: IfNotPresent,
     args: [client, "http://$server_ip:8080/", -interval, 50ms, -timeout, 300ms]}
EOF
kubectl -n "$NS" wait pod/client --for=condition=Ready --timeout=90s >/dev/null
echo "server pod IP $server_ip; the client sends 20 HTTP requests a second and prints once a second:"

kubectl -n "$NS" logs -f client --since=1s &
logs_pid=$!
say "BEFORE: 5 seconds without a fault"
sleep 5
say "DURING: kubectl chaos $FAULT   (Ctrl-C after 8 seconds)"
# shellcheck disable=SC2086
kubectl chaos $FAULT -n "$NS" --runtime-socket "$SOCKET" --image-pull-policy "$PULL" --yes --duration 1m >/tmp/chaos-demo.out 2>&1 &
chaos_pid=$!
sleep 8
say "Ctrl-C (SIGINT) to kubectl chaos"
kill -INT "$chaos_pid"
rc=0
wait "$chaos_pid" || rc=$?
echo "kubectl chaos exited $rc; its output:"
sed 's/^/    /' /tmp/chaos-demo.out
say "AFTER: 5 seconds"
sleep 5
kill "$logs_pid" 2>/dev/null || true
say "helper pods left: $(kubectl get pods -A -l app.kubernetes.io/managed-by=kubectl-chaos -o name | wc -l)"
