#!/usr/bin/env bash
# hostsnap.sh: a sorted snapshot of the host state the cluster touches, so a snapshot
# taken before `cluster.sh up` and one after `cluster.sh down` can be diffed:
# the project's residue tool plus mounts, cgroups, links, addresses, netns, nft tables,
# sysctls, processes of the cluster's binaries and the paths kubelet/CNI write outside
# the state directory.
#
#   hostsnap.sh > before; cluster.sh up; …; cluster.sh down; hostsnap.sh > after
#   hostsnap.sh --diff before after     # exit 1 and print the difference if any
set -u
LC_ALL=C; export LC_ALL
if [ "${1:-}" = "--diff" ]; then
  if diff -u "$2" "$3" >/dev/null; then
    echo "hostsnap: host state after == before ($(wc -l <"$2") lines compared)"
    exit 0
  fi
  echo "hostsnap: host state differs ('+' = left behind, '-' = removed):"
  diff -u "$2" "$3" | tail -n +3 | grep '^[-+]'
  exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
residue=${RESIDUE:-}
for r in "$here/../../../../shared/tools/residue" /work/shared/tools/residue; do
  [ -z "$residue" ] && [ -f "$r" ] && residue=$r
done
{
  # residue's process lines: only the tool's own (the image's /kubectl-chaos); builds and
  # test VMs of other work on a shared machine match its pattern too.
  [ -n "$residue" ] && bash "$residue" 2>/dev/null | grep -v '^process' | sed 's/^/residue /'
  [ -n "$residue" ] && bash "$residue" 2>/dev/null | grep '^process /kubectl-chaos' | sed 's/^/residue /'
  awk '{print "mount " $2 " " $3}' /proc/self/mounts
  # cgroups; process_api/* are this sandbox's per-command cgroups, not ours
  find /sys/fs/cgroup -mindepth 1 -maxdepth 4 -type d 2>/dev/null | grep -v '/process_api/' | sed 's/^/cgroup /'
  ip -o link show 2>/dev/null | awk -F': ' '{print "link " $2}' | cut -d@ -f1
  ip -o addr show 2>/dev/null | awk '{print "addr " $2 " " $4}'
  ip route show table all 2>/dev/null | grep -v '^local\|^broadcast\|^multicast' | sed 's/^/route /'
  ip netns list 2>/dev/null | sed 's/^/netns /'
  nft list tables 2>/dev/null | sed 's/^/nft /'
  iptables-save 2>/dev/null | grep -E '^[:*-]' | sed 's/\[[0-9:]*\]//' | sed 's/^/iptables /'
  for k in net.ipv4.ip_forward vm.overcommit_memory kernel.panic kernel.panic_on_oops; do
    echo "sysctl $k $(sysctl -n $k 2>/dev/null)"
  done
  for p in /var/lib/cni /var/lib/kubelet /usr/libexec/kubernetes /run/netns /run/containerd \
    /var/lib/kc-e2e-cluster /run/kc-e2e-cluster /etc/kubernetes /run/kubectl-chaos \
    /var/log/containers /var/log/pods; do
    [ -e "$p" ] && find "$p" -maxdepth 3 2>/dev/null | sed 's/^/path /'
  done
  ps -eo args= 2>/dev/null | awk '{print $1}' | grep -E '(^|/)(etcd|kube-[a-z-]+|kubelet|containerd[a-z0-9-]*|runc|pause|echo)$' | sed 's/^/process /'
} | grep -vE 'kc-(test|h5)-' | sort
# The filter: the namespaces and cgroups of the project's root integration tests
# (nstest's kc-test-*, the network tests' kc-h5-*) are never the cluster's; on a shared
# machine another make test-unit creates and removes them while the cluster runs (a make
# demo here failed on one), and each of those tests checks its own cleanup.
