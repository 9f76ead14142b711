#!/usr/bin/env bash
# cluster.sh: a single-node Kubernetes v1.34 on this machine, as plain processes.
#
#   cluster.sh up        build (cached) + start etcd, apiserver, controller-manager,
#                        scheduler, containerd, kubelet; wait for the node; idempotent
#   cluster.sh down      stop everything and remove every trace; idempotent
#   cluster.sh status    exit 0 when the cluster answers and the node is Ready
#   cluster.sh load TAR… import image tarballs into the cluster's containerd
#   cluster.sh env       print shell exports (KUBECONFIG, PATH, CHAOS_RUNTIME_SOCKET)
#   cluster.sh logs      tail every component's log
#   cluster.sh restart containerd|kubelet   stop and start one node daemon again
#
# Facts behind the choices: shared/notes/local-cluster.md. Names avoid the word the
# project's residue tool greps for, so a running cluster does not show up as residue.
# Needs root, and Debian packages the image lacks (containerd, runc, the CNI plugins,
# iptables, nftables): `up` runs the project's install step, mk/deps.sh, which installs
# what is missing (make cluster-up depends on it too).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
STATE=${E2E_CLUSTER_STATE:-/var/lib/kc-e2e-cluster}
RUN=${E2E_CLUSTER_RUN:-/run/kc-e2e-cluster}
OUT=${E2E_CLUSTER_OUT:-$ROOT/_out/cluster}
NODE=e2e-node
NODE_IP=10.77.0.1          # a /32 on lo: kubelet refuses 127/8
POD_CIDR=10.77.1.0/24      # bridge CNI, ipMasq off: pods reach nothing off this machine
POD_GW=10.77.1.1
SVC_CIDR=10.77.2.0/24
BRIDGE=kce2e0
API_PORT=16443
ETCD_PORT=12379
ETCD_PEER_PORT=12380
SOCK=$RUN/containerd.sock
PAUSE_IMAGE=e2e.local/pause:1
TIMEOUT_NODE=${E2E_CLUSTER_TIMEOUT:-120}
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet)

log() { printf '%s cluster: %s\n' "$(date +%T.%3N)" "$*" >&2; }
# step MSG: a progress line with the time, only with E2E_CLUSTER_VERBOSE=1
step() { [ "${E2E_CLUSTER_VERBOSE:-}" = 1 ] && log "$*"; return 0; }
die() { log "ERROR: $*"; exit 1; }

bindir() { "$ROOT/internal/e2e/harness/build.sh" --dir; }
KUBECONFIG_FILE=$STATE/admin.kubeconfig
kc() { "$(bindir)/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it starts containerd and kubelet)"; }

# ---------------------------------------------------------------- processes
pidfile() { echo "$RUN/$1.pid"; }

# alive NAME: the pid file names a live process whose command line is ours.
alive() {
  local f pid
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$1" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$STATE" || return 1
}

start() { # NAME BINARY ARGS...
  local name=$1; shift
  mkdir -p "$STATE/logs"
  # exec -a: the command line starts with the bare name, not the cache path.
  setsid bash -c 'exec -a "$0" "$@"' "$name" "$@" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}

# running PID: the process exists and is not a zombie waiting for its reaper.
running() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

stop_proc() { # NAME: SIGTERM, up to 2 s, then SIGKILL (the state is wiped anyway)
  local name=$1 f pid i
  f=$(pidfile "$name")
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if alive "$name"; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do running "$pid" || break; sleep 0.05; done
    if running "$pid"; then
      step "$name ($pid) still running 2s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 40); do running "$pid" || break; sleep 0.05; done
    fi
  fi
  rm -f "$f"
}

# wait_for WHAT SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local what=$1 secs=$2 t0; shift 2
  t0=$(date +%s)
  until "$@" >/dev/null 2>&1; do
    if [ $(( $(date +%s) - t0 )) -ge "$secs" ]; then
      log "timed out after ${secs}s waiting for $what"
      dump_logs
      return 1
    fi
    sleep 0.2
  done
}

dump_logs() {
  local c
  for c in "${COMPONENTS[@]}"; do
    [ -f "$STATE/logs/$c.log" ] || continue
    echo "----- last 25 lines of $STATE/logs/$c.log" >&2
    tail -n 25 "$STATE/logs/$c.log" >&2
  done
}

# ---------------------------------------------------------------- certificates
certs() {
  local d=$STATE/pki
  [ -f "$d/done" ] && return 0
  mkdir -p "$d"
  (
    cd "$d"
    key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; }
    key ca
    openssl req -x509 -new -key ca.key -subj "/CN=kc-e2e-ca" -days 30 -out ca.crt 2>/dev/null
    # NAME SUBJECT [SAN]
    sign() {
      key "$1"
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
      if [ -n "${3:-}" ]; then
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$1.ext"
      else
        printf 'extendedKeyUsage=clientAuth\n' >"$1.ext"
      fi
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    sign apiserver "/CN=kube-apiserver" \
      "IP:$NODE_IP,IP:127.0.0.1,IP:${SVC_CIDR%.0/24}.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost"
    sign admin "/O=system:masters/CN=kubernetes-admin"
    sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
    sign kubelet-client "/O=system:nodes/CN=system:node:$NODE"
    sign kubelet "/CN=$NODE" "IP:$NODE_IP,DNS:$NODE"
    key sa
    openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
    touch done
  )
}

kubeconfig() { # FILE CERTNAME
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kc-e2e
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $STATE/pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $STATE/pki/$2.crt
    client-key: $STATE/pki/$2.key
contexts:
- name: kc-e2e
  context: {cluster: kc-e2e, user: $2, namespace: default}
current-context: kc-e2e
EOF
}

# ---------------------------------------------------------------- configs
containerd_config() {
  mkdir -p "$STATE/containerd" "$STATE/cni/net.d" "$STATE/cni/networks"
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$RUN/containerd"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$STATE/containerd/certs.d"
EOF
  # No registry is ever contacted: every registry (and the default) resolves to a closed
  # port on loopback, so a missing image fails at once instead of going off the machine.
  local h
  for h in _default docker.io ghcr.io registry.k8s.io quay.io gcr.io e2e.local; do
    mkdir -p "$STATE/containerd/certs.d/$h"
    cat >"$STATE/containerd/certs.d/$h/hosts.toml" <<EOF
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
EOF
  done
  cat >"$STATE/cni/net.d/10-kc-e2e.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kc-e2e",
  "plugins": [{
    "type": "bridge",
    "bridge": "$BRIDGE",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "dataDir": "$STATE/cni/networks",
      "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
      "routes": [{"dst": "0.0.0.0/0"}]
    }
  }]
}
EOF
}

kubelet_config() {
  mkdir -p "$STATE/kubelet" "$STATE/pod-logs" "$STATE/volume-plugins"
  cat >"$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: AlwaysAllow}
tlsCertFile: $STATE/pki/kubelet.crt
tlsPrivateKeyFile: $STATE/pki/kubelet.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$SOCK
imageServiceEndpoint: unix://$SOCK
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
podLogsDir: $STATE/pod-logs
volumePluginDir: $STATE/volume-plugins
resolvConf: ""
registerNode: true
serializeImagePulls: false
makeIPTablesUtilChains: false
localStorageCapacityIsolation: false
shutdownGracePeriod: 0s
EOF
}

# ---------------------------------------------------------------- host state
# Remember what existed before the cluster so down removes only what up added.
record_host() {
  local f=$STATE/host-before p
  [ -f "$f" ] && return 0
  mkdir -p "$STATE"
  {
    for p in /var/lib/cni /var/lib/cni/results /run/netns /usr/libexec/kubernetes \
      /var/lib/kubelet /run/containerd /etc/kubernetes /var/log/containers /var/log/pods \
      /run/kubectl-chaos; do
      [ -e "$p" ] && echo "exists $p"
    done
    for p in net.ipv4.ip_forward vm.overcommit_memory kernel.panic kernel.panic_on_oops \
      kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
      echo "sysctl $p $(sysctl -n "$p" 2>/dev/null)"
    done
    nft list tables 2>/dev/null | sed 's/^table /nft /'
  } >"$f.tmp"
  mv "$f.tmp" "$f"
}
existed() { grep -qx "exists $1" "$STATE/host-before" 2>/dev/null; }

# ---------------------------------------------------------------- up
cluster_ready() {
  [ -f "$KUBECONFIG_FILE" ] || return 1
  for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done
  kc get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -qx True
}

up() {
  need_root
  local t0 bin
  t0=$(date +%s%N)
  if cluster_ready; then
    log "already up (node $NODE Ready); kubeconfig: $OUT/kubeconfig"
    publish
    return 0
  fi
  if [ -d "$STATE" ] || [ -d "$RUN" ]; then
    log "partial or stale cluster state: tearing it down first"
    down
  fi
  bash "$ROOT/mk/deps.sh"
  bin=$("$ROOT/internal/e2e/harness/build.sh")
  mkdir -p "$STATE" "$RUN"
  record_host
  certs
  kubeconfig "$KUBECONFIG_FILE" admin
  kubeconfig "$STATE/kubelet.kubeconfig" kubelet-client
  containerd_config
  kubelet_config
  ip addr show dev lo | grep -q " $NODE_IP/32" || ip addr add "$NODE_IP/32" dev lo

  log "starting etcd"
  start etcd "$bin/etcd" --name e2e --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn \
    --quota-backend-bytes 1073741824 --unsafe-no-fsync
  log "starting containerd"
  start_containerd
  wait_for "etcd health" 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  log "starting kube-apiserver"
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
    --tls-cert-file "$STATE/pki/apiserver.crt" --tls-private-key-file "$STATE/pki/apiserver.key" \
    --client-ca-file "$STATE/pki/ca.crt" \
    --kubelet-client-certificate "$STATE/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$STATE/pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$STATE/pki/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$STATE/pki/sa.pub" \
    --service-account-signing-key-file "$STATE/pki/sa.key" \
    --service-cluster-ip-range "$SVC_CIDR" \
    --authorization-mode Node,RBAC --allow-privileged=true \
    --profiling=false --enable-priority-and-fairness=false \
    --endpoint-reconciler-type none
  wait_for "kube-apiserver /readyz" 60 kc get --raw /readyz

  log "starting kube-controller-manager, kube-scheduler, kubelet"
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false --secure-port 0 \
    --service-account-private-key-file "$STATE/pki/sa.key" --root-ca-file "$STATE/pki/ca.crt" \
    --flex-volume-plugin-dir "$STATE/volume-plugins" --controllers '*,-cloud-node-lifecycle' \
    --profiling=false --concurrent-gc-syncs 5 \
    --node-monitor-grace-period 40s
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$KUBECONFIG_FILE" --leader-elect=false --secure-port 0 --profiling=false
  wait_for "containerd socket" 30 ctr --address "$SOCK" version
  import_pause
  start_kubelet "$bin"
  wait_for "node $NODE Ready" "$TIMEOUT_NODE" \
    bash -c "'$bin/kubectl' --kubeconfig '$KUBECONFIG_FILE' get node $NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  wait_for "default service account" 60 kc -n default get serviceaccount default
  publish
  log "up in $(( ($(date +%s%N) - t0) / 1000000 ))ms; node $NODE Ready"
  log "kubeconfig: $OUT/kubeconfig  (export KUBECONFIG=$OUT/kubeconfig)"
}

start_containerd() { start containerd /usr/bin/containerd --config "$STATE/containerd/config.toml"; }

start_kubelet() { # BINDIR
  start kubelet "$1/kubelet" \
    --config "$STATE/kubelet-config.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
    --root-dir "$STATE/kubelet" --hostname-override "$NODE" --node-ip "$NODE_IP"
}

# restart containerd|kubelet: stop one node daemon (SIGTERM, SIGKILL after 2 s) and start
# it again with the same command line, as a node's service manager would after a crash or
# an upgrade (the kill matrix's "restart of containerd / of the kubelet"). Containers
# keep running: their shims outlive containerd, and kubelet finds its pods again.
restart() {
  need_root
  cluster_ready || die "restart $1: the cluster is not up"
  case $1 in
    containerd)
      stop_proc containerd
      start_containerd
      wait_for "containerd socket" 30 ctr --address "$SOCK" version
      ;;
    kubelet)
      stop_proc kubelet
      start_kubelet "$(bindir)"
      # healthzPort is 0: any HTTP answer on the kubelet's port (401 without a client
      # certificate) says it serves again.
      wait_for "kubelet port" 30 curl -ks -o /dev/null "https://$NODE_IP:10250/healthz"
      ;;
    *) die "restart: containerd or kubelet, not $1" ;;
  esac
  log "$1 restarted"
}

publish() {
  mkdir -p "$OUT"
  cp "$KUBECONFIG_FILE" "$OUT/kubeconfig"
  ln -sfn "$(bindir)" "$OUT/bin"
}

import_pause() {
  local tar=$OUT/images/pause.tar
  if [ ! -f "$tar" ]; then
    mkdir -p "$OUT/images"
    (cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT/images/pause" ./internal/e2e/tools/pause &&
      go run ./internal/e2e/tools/mkimage -o "$tar" -tag "$PAUSE_IMAGE" \
        -file "$OUT/images/pause:/pause" -entrypoint /pause)
  fi
  load "$tar"
}

load() {
  local t
  for t in "$@"; do
    ctr --address "$SOCK" -n k8s.io images import --no-unpack=false "$t" >/dev/null ||
      die "ctr images import $t failed"
  done
}

# ---------------------------------------------------------------- down
ours_mounts() { # mount points under our dirs, deepest first
  awk -v s="$STATE" -v r="$RUN" -v k=/var/lib/kubelet '
    index($2, s) == 1 || index($2, r) == 1 || index($2, k "/") == 1 || $2 ~ /^\/run\/netns\/cni-/ ||
    index($2, "/run/containerd/") == 1 { print $2 }' /proc/self/mounts |
    awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

down() {
  need_root
  local t0 c pid
  t0=$(date +%s)
  if [ ! -d "$STATE" ] && [ ! -d "$RUN" ]; then
    log "nothing to tear down"
    return 0
  fi
  # Helper pods of the tool first, through the API, so their agents recover and remove
  # their journals instead of being killed mid-fault (bounded).
  if alive kube-apiserver && alive kubelet && [ -f "$KUBECONFIG_FILE" ]; then
    if [ -n "$(kc get pods -A -l app.kubernetes.io/managed-by=kubectl-chaos -o name 2>/dev/null)" ]; then
      log "deleting the tool's helper pods"
      kc delete pods -A -l app.kubernetes.io/managed-by=kubectl-chaos --wait=true --timeout=20s >/dev/null 2>&1 || true
    fi
  fi
  # kubelet first, so nothing restarts what we kill next.
  step "stopping kubelet"
  stop_proc kubelet
  step "killing containers"
  if alive containerd; then
    local ids
    ids=$(ctr --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null || true)
    for c in $ids; do ctr --address "$SOCK" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
    for c in $ids; do
      for _ in $(seq 1 30); do
        ctr --address "$SOCK" -n k8s.io tasks delete "$c" >/dev/null 2>&1 && break
        sleep 0.1
      done
    done
    for c in $(ctr --address "$SOCK" -n k8s.io containers ls -q 2>/dev/null || true); do
      ctr --address "$SOCK" -n k8s.io containers delete "$c" >/dev/null 2>&1 || true
    done
  fi
  for c in kube-scheduler kube-controller-manager containerd kube-apiserver etcd; do step "stopping $c"; stop_proc "$c"; done
  step "shims, mounts, netns, links, cgroups, nft, sysctls, files"
  # Shims outlive containerd: find ours by the socket address on their command line.
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" || true); do
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-address $SOCK" && kill -KILL "$pid" 2>/dev/null || true
  done
  # Any process still running from a container of ours (its cgroup is under kubepods).
  for pid in $(grep -l kubepods /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  sleep 0.2
  for m in $(ours_mounts); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  for f in /run/netns/cni-*; do
    [ -e "$f" ] || continue
    umount "$f" 2>/dev/null || true
    rm -f "$f"
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && {
    for v in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
      ip link del "$v" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
  }
  ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true
  cgroups_clean
  nft_clean
  restore_sysctls
  existed /var/lib/cni/results || rm -rf /var/lib/cni/results
  existed /var/lib/cni || rmdir /var/lib/cni 2>/dev/null || true
  existed /usr/libexec/kubernetes || rm -rf /usr/libexec/kubernetes
  existed /var/lib/kubelet || rm -rf /var/lib/kubelet
  existed /run/netns || rmdir /run/netns 2>/dev/null || true
  existed /run/containerd || rm -rf /run/containerd
  existed /etc/kubernetes || rm -rf /etc/kubernetes
  existed /var/log/containers || rm -rf /var/log/containers
  existed /var/log/pods || rm -rf /var/log/pods
  # The tool's journal dir, created by the helper pods' hostPath: removed when empty and
  # not there before; journals left in it are the tool's residue and stay for inspection.
  if ! existed /run/kubectl-chaos && [ -d /run/kubectl-chaos ]; then
    rmdir /run/kubectl-chaos 2>/dev/null || log "WARNING: journals left in /run/kubectl-chaos: $(ls /run/kubectl-chaos)"
  fi
  if ours_mounts | grep -q .; then
    log "WARNING: mounts left under our directories:"; ours_mounts >&2
  fi
  rm -rf "$RUN" "$STATE" "$OUT/kubeconfig" "$OUT/bin"
  log "down in $(( $(date +%s) - t0 ))s"
}

cgroups_clean() {
  local d
  for d in /sys/fs/cgroup/kubepods* /sys/fs/cgroup/*/kubepods*; do
    [ -d "$d" ] || continue
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    [ -d "$d" ] && log "WARNING: cgroup $d could not be removed"
  done
  return 0
}

nft_clean() {
  local fam tbl chains
  for fam in ip ip6; do
    for tbl in filter nat mangle; do
      nft list table "$fam" "$tbl" >/dev/null 2>&1 || continue
      # kubelet's chains are all named KUBE-*
      for chains in $(nft -a list table "$fam" "$tbl" 2>/dev/null | awk '$1 == "chain" && $2 ~ /^KUBE-/ {print $2}'); do
        nft flush chain "$fam" "$tbl" "$chains" 2>/dev/null || true
      done
      # rules in base chains that jump to KUBE-* chains
      nft -a list table "$fam" "$tbl" 2>/dev/null | awk '
        $1 == "chain" {chain=$2}
        /jump KUBE-|goto KUBE-/ { for (i=1;i<=NF;i++) if ($i=="handle") print chain, $(i+1) }' |
        while read -r ch h; do nft delete rule "$fam" "$tbl" "$ch" handle "$h" 2>/dev/null || true; done
      for chains in $(nft -a list table "$fam" "$tbl" 2>/dev/null | awk '$1 == "chain" && $2 ~ /^KUBE-/ {print $2}'); do
        nft delete chain "$fam" "$tbl" "$chains" 2>/dev/null || true
      done
      if ! grep -qx "nft $fam $tbl" "$STATE/host-before" 2>/dev/null; then
        # delete the table only if nothing but empty base chains is left
        if ! nft list table "$fam" "$tbl" 2>/dev/null | grep -qE '^\s+(ip|ip6|meta|ct|counter|jump|goto|accept|drop|iifname|oifname|tcp|udp)'; then
          nft delete table "$fam" "$tbl" 2>/dev/null || true
        fi
      fi
    done
  done
}

restore_sysctls() {
  [ -f "$STATE/host-before" ] || return 0
  grep '^sysctl ' "$STATE/host-before" | while read -r _ k v; do
    [ -n "$v" ] || continue
    [ "$(sysctl -n "$k" 2>/dev/null)" = "$v" ] || sysctl -qw "$k=$v" >/dev/null 2>&1 || true
  done
}

# ---------------------------------------------------------------- main
case ${1:-} in
  up) up ;;
  down) down ;;
  status) cluster_ready ;;
  load) shift; need_root; load "$@" ;;
  env)
    echo "export KUBECONFIG=$OUT/kubeconfig"
    echo "export PATH=$ROOT/bin:$(bindir):\$PATH"
    echo "export E2E_RUNTIME_SOCKET=$SOCK"
    ;;
  logs) dump_logs ;;
  restart) restart "${2:-}" ;;
  *) echo "usage: $0 up|down|status|load TAR...|env|logs|restart containerd|kubelet" >&2; exit 2 ;;
esac
