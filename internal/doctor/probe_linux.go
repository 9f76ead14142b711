package doctor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
)

// ProbeOptions say where the node's files are.
type ProbeOptions struct {
	// Root is prefixed to every host path ("" in a helper pod, whose host mounts sit at
	// the host's paths).
	Root string
	// RuntimeSocket is the socket the CLI was told to use (--runtime-socket); the usual
	// ones are looked for too.
	RuntimeSocket string
}

// runtimeSockets are the sockets looked for, in order (the agent speaks containerd and
// falls back to a /proc scan for the others).
var runtimeSockets = []string{"/run/containerd/containerd.sock", "/run/crio/crio.sock", "/run/k3s/containerd/containerd.sock", "/run/cri-dockerd.sock"}

// Probe tries what the fault kinds need on this machine. The kernel features are tried
// for real in a network namespace of its own that dies with the probe's thread, so
// nothing is left on the node, whatever happens.
func Probe(o ProbeOptions) (Report, error) {
	var r Report
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		r.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	r.Checks = append(r.Checks, probeRuntime(o), probeCgroup(o), probeFreezer(o))
	net, err := probeNetwork()
	if err != nil {
		return r, err
	}
	r.Checks = append(r.Checks, net...)
	r.Checks = append(r.Checks, probeFUSE(o), probePtrace(o))
	return r, nil
}

func probeRuntime(o ProbeOptions) Check {
	cands := runtimeSockets
	if o.RuntimeSocket != "" {
		cands = append([]string{o.RuntimeSocket}, cands...)
	}
	for _, s := range cands {
		if fi, err := os.Stat(filepath.Join(o.Root, s)); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if strings.Contains(s, "containerd") {
				return Check{Runtime, OK, "containerd socket " + s}
			}
			return Check{Runtime, Fallback, "socket " + s + " (not containerd: containers are found by a /proc scan)"}
		}
	}
	return Check{Runtime, Fallback, "no runtime socket at " + strings.Join(cands, ", ") + ": containers are found by a /proc scan"}
}

func fsType(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Type), nil
}

func probeCgroup(o ProbeOptions) Check {
	root := filepath.Join(o.Root, "/sys/fs/cgroup")
	t, err := fsType(root)
	switch {
	case err != nil:
		return Check{Cgroup, Missing, fmt.Sprintf("%s: %v", root, err)}
	case t == unix.CGROUP2_SUPER_MAGIC:
		return Check{Cgroup, OK, "v2 (unified) at " + root}
	}
	if t2, err := fsType(filepath.Join(root, "unified")); err == nil && t2 == unix.CGROUP2_SUPER_MAGIC {
		return Check{Cgroup, OK, "hybrid: v1 controllers, cgroup2 at " + filepath.Join(root, "unified")}
	}
	if _, err := os.Stat(filepath.Join(root, "cpu")); err == nil {
		return Check{Cgroup, OK, "v1 at " + root}
	}
	return Check{Cgroup, Missing, "no cgroup v1 or v2 hierarchy at " + root}
}

func probeFreezer(o ProbeOptions) Check {
	root := filepath.Join(o.Root, "/sys/fs/cgroup")
	if t, err := fsType(root); err == nil && t == unix.CGROUP2_SUPER_MAGIC {
		if _, err := os.Stat(filepath.Join(root, "cgroup.freeze")); err == nil || errors.Is(err, os.ErrNotExist) {
			return Check{Freezer, OK, "cgroup v2 cgroup.freeze"}
		}
	}
	if t, err := fsType(filepath.Join(root, "freezer")); err == nil && t == unix.CGROUP_SUPER_MAGIC {
		return Check{Freezer, OK, "cgroup v1 freezer at " + filepath.Join(root, "freezer")}
	}
	return Check{Freezer, Missing, "no cgroup v2 hierarchy and no v1 freezer under " + root}
}

func probeFUSE(o ProbeOptions) Check {
	p := filepath.Join(o.Root, "/dev/fuse")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return Check{FUSE, Missing, fmt.Sprintf("%s: %v", p, err)}
	}
	f.Close()
	return Check{FUSE, OK, p + " opens"}
}

const capSysPtrace = 19

func probePtrace(o ProbeOptions) Check {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return Check{Ptrace, Missing, err.Error()}
	}
	var eff uint64
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			eff, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	if eff&(1<<capSysPtrace) == 0 {
		return Check{Ptrace, Missing, "no CAP_SYS_PTRACE (the helper pod is privileged: run the probe as root)"}
	}
	detail := "CAP_SYS_PTRACE, no Yama"
	if s, err := os.ReadFile(filepath.Join(o.Root, "/proc/sys/kernel/yama/ptrace_scope")); err == nil {
		scope := strings.TrimSpace(string(s))
		if scope == "3" {
			return Check{Ptrace, Missing, "Yama ptrace_scope 3 forbids every ptrace attach"}
		}
		detail = "CAP_SYS_PTRACE, Yama ptrace_scope " + scope
	}
	return Check{Ptrace, OK, detail}
}

// probeNetwork runs the kernel tries on a locked thread in a new network namespace. The
// thread is never unlocked: it exits with the goroutine, and the namespace (with any
// qdisc or table made in it) goes with it.
func probeNetwork() ([]Check, error) {
	type res struct {
		checks []Check
		err    error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- res{err: fmt.Errorf("probe: a network namespace of its own (unshare): %w (run as root)", err)}
			return
		}
		ch <- res{checks: tryNetwork()}
	}()
	r := <-ch
	return r.checks, r.err
}

func tryNetwork() []Check {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return []Check{{Netem, Missing, "rtnetlink: " + err.Error()}}
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return []Check{{Netem, Missing, "lo in the probe's netns: " + err.Error()}}
	}
	root := netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT}
	netem := Check{Netem, OK, "netem qdisc created"}
	if err := h.QdiscAdd(netlink.NewNetem(root, netlink.NetemQdiscAttrs{Latency: 1000})); err != nil {
		netem = Check{Netem, Missing, qdiscErr("netem", err) + "; fallbacks: delay, corrupt, reorder by the NFQUEUE engine, loss and duplicate by nftables"}
	} else {
		_ = h.QdiscDel(&netlink.GenericQdisc{QdiscAttrs: root, QdiscType: "netem"})
	}
	tbf := Check{TBF, OK, "tbf qdisc created"}
	if err := h.QdiscAdd(&netlink.Tbf{QdiscAttrs: root, Rate: 125000, Limit: 10000, Buffer: 1600}); err != nil {
		tbf = Check{TBF, Missing, qdiscErr("tbf", err)}
	}
	return append([]Check{netem, tbf}, tryNFT()...)
}

func qdiscErr(kind string, err error) string {
	if errors.Is(err, unix.ENOENT) {
		return "the kernel has no " + kind + " qdisc (sch_" + kind + " not built or not loadable)"
	}
	return kind + " qdisc refused: " + err.Error()
}

// tryNFT creates an owned table with an input chain, then a queue rule in it: the
// native expression first, the xt NFQUEUE target through nft_compat second.
func tryNFT() []Check {
	ns, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return []Check{{NFTables, Missing, err.Error()}, {NFQueue, Missing, "needs nftables"}}
	}
	defer ns.Close()
	c, err := nft.Dial(int(ns.Fd()))
	if err != nil {
		return []Check{{NFTables, Missing, err.Error()}, {NFQueue, Missing, "needs nftables"}}
	}
	defer c.Close()
	t := nft.Table{Family: nft.FamilyINet, Name: "kubectl_chaos_probe", Owner: true}
	ch := nft.Chain{Table: t, Name: "probe", Hook: &nft.Hook{Hooknum: nft.HookInput}}
	b := &nft.Batch{}
	b.AddTable(t)
	b.AddChain(ch)
	if err := c.Send(b); err != nil {
		return []Check{{NFTables, Missing, "owned inet table with an input chain: " + err.Error()}, {NFQueue, Missing, "needs nftables"}}
	}
	out := []Check{{NFTables, OK, "owned inet table with an input chain"}}
	names := []string{"native nft queue expression", "xt NFQUEUE target through nft_compat"}
	var errs []string
	for i, q := range nft.QueueVerdicts(0, 1, nft.QueueBypass) {
		b := &nft.Batch{}
		b.AddRule(ch, []expr.Any{q})
		if err := c.Send(b); err != nil {
			errs = append(errs, names[i]+": "+err.Error())
			continue
		}
		if i == 0 {
			return append(out, Check{NFQueue, OK, names[0]})
		}
		return append(out, Check{NFQueue, Fallback, names[1] + " (" + strings.Join(errs, "; ") + ")"})
	}
	return append(out, Check{NFQueue, Missing, strings.Join(errs, "; ")})
}
