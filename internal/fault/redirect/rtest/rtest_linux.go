// Package rtest builds what the dns and http root tests need: a "pod" network namespace
// and a "peer" one joined by a veth pair, with IPv4 and IPv6 addresses, a process in the
// pod's namespace (so recovery can find it by inode) and a way to run code in either.
package rtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Pair is two namespaces joined by a veth pair.
type Pair struct {
	Pod, Peer       string // names under /run/netns
	PodIP, PeerIP   net.IP
	PodIP6, PeerIP6 net.IP
	PodPID          int
	PodNetns        string // /proc/<pid>/ns/net
	PodInode        uint64
	HostPeerIP      net.IP // the host's address on a second veth into the pod (the "node")
}

// pairLock serializes pairs across test binaries: every pair gives the host the same
// address on its "node" link (10.231.1.2/24), so two packages' tests run in parallel
// (go test without -p 1) would route each other's probes.
const pairLock = "/tmp/kc-dnshttp-rtest.lock"

func lockPairs(t testing.TB) {
	f, err := os.OpenFile(pairLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock, after the pair is gone
}

// NewPair creates the namespaces (named kc-dnshttp-…, removed at cleanup).
func NewPair(t testing.TB) *Pair {
	t.Helper()
	nstest.RequireRoot(t)
	lockPairs(t)
	id := nstest.RandomHex(3)
	p := &Pair{Pod: "kc-dnshttp-pod-" + id, Peer: "kc-dnshttp-peer-" + id,
		PodIP: net.ParseIP("10.231.0.1"), PeerIP: net.ParseIP("10.231.0.2"),
		PodIP6: net.ParseIP("fd00:231::1"), PeerIP6: net.ParseIP("fd00:231::2"),
		HostPeerIP: net.ParseIP("10.231.1.2")}
	for _, n := range []string{p.Pod, p.Peer} {
		if err := newNamed(n); err != nil {
			t.Fatalf("creating netns %s: %v", n, err)
		}
		name := n
		t.Cleanup(func() { netns.DeleteNamed(name) })
	}
	pod, peer := handle(t, p.Pod), handle(t, p.Peer)
	defer pod.Close()
	defer peer.Close()
	la := netlink.NewLinkAttrs()
	la.Name = "kcdh0" + id[:4]
	if err := pod.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "kcdh1" + id[:4]}); err != nil {
		t.Fatal(err)
	}
	l1, err := pod.LinkByName("kcdh1" + id[:4])
	if err != nil {
		t.Fatal(err)
	}
	pns, _ := netns.GetFromName(p.Peer)
	defer pns.Close()
	if err := pod.LinkSetNsFd(l1, int(pns)); err != nil {
		t.Fatal(err)
	}
	setup(t, pod, la.Name, p.PodIP, p.PodIP6)
	setup(t, peer, "kcdh1"+id[:4], p.PeerIP, p.PeerIP6)
	p.hostLink(t, pod, id)

	cmd := exec.Command("sleep", "3600")
	if err := nsutil.Do("/run/netns/"+p.Pod, cmd.Start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p.PodPID = cmd.Process.Pid
	p.PodNetns = fmt.Sprintf("/proc/%d/ns/net", p.PodPID)
	if p.PodInode, err = nsutil.Inode(p.PodNetns); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostLink joins the pod to the test's own namespace (the "node", where kubelet's
// probes come from) by a second veth: 10.231.1.1 in the pod, 10.231.1.2 on the host.
func (p *Pair) hostLink(t testing.TB, pod *netlink.Handle, id string) {
	host, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	la := netlink.NewLinkAttrs()
	la.Name = "kcdh2" + id[:4]
	if err := host.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "kcdh3" + id[:4]}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(la.Name); err == nil {
			netlink.LinkDel(l)
		}
	})
	l3, err := host.LinkByName("kcdh3" + id[:4])
	if err != nil {
		t.Fatal(err)
	}
	podNs, _ := netns.GetFromName(p.Pod)
	defer podNs.Close()
	if err := host.LinkSetNsFd(l3, int(podNs)); err != nil {
		t.Fatal(err)
	}
	setup(t, host, la.Name, p.HostPeerIP, nil)
	setup(t, pod, "kcdh3"+id[:4], net.ParseIP("10.231.1.1"), nil)
}

func setup(t testing.TB, h *netlink.Handle, name string, ip, ip6 net.IP) {
	t.Helper()
	for _, n := range []string{"lo", name} {
		l, err := h.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	l, _ := h.LinkByName(name)
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}}); err != nil {
		t.Fatal(err)
	}
	if ip6 != nil {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: ip6, Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
		if err := h.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
	}
}

func handle(t testing.TB, name string) *netlink.Handle {
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newNamed(name string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		if serr := netns.Set(orig); serr != nil {
			errc <- serr
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// In runs fn inside the named namespace (on a locked thread).
func In(name string, fn func() error) error { return nsutil.Do("/run/netns/"+name, fn) }

// Target is the pod as a resolved fault target of experiment exp.
func (p *Pair) Target(exp string) fault.Target {
	return fault.Target{
		Target: plan.Target{Namespace: "default", Pod: p.Pod, Container: "app", ContainerID: "containerd://" + p.Pod},
		PID:    p.PodPID, NetnsPath: p.PodNetns, NetnsInode: p.PodInode, Experiment: exp,
	}
}

// Tables lists the nft tables in the pod's namespace (nft CLI), for residue checks.
func (p *Pair) Tables(t testing.TB) string {
	out, _ := exec.Command("ip", "netns", "exec", p.Pod, "nft", "list", "tables").CombinedOutput()
	return string(out)
}

// IPRules lists the pod's policy rules and our routing tables' routes (both families).
func (p *Pair) IPRules(t testing.TB) string {
	var s string
	for _, args := range [][]string{{"-4", "rule"}, {"-6", "rule"}, {"-4", "route", "show", "table", "all"}, {"-6", "route", "show", "table", "all"}} {
		out, _ := exec.Command("ip", append([]string{"-n", p.Pod}, args...)...).CombinedOutput()
		for _, l := range strings.SplitAfter(string(out), "\n") {
			// IPv6 link-local routes come and go with the kernel's address
			// autoconfiguration (DAD), not with anything a fault does.
			if !strings.Contains(l, "fe80:") {
				s += l
			}
		}
	}
	return s
}

// Exists reports whether path exists (for journals).
func Exists(path string) bool { _, err := os.Stat(path); return err == nil }

// DialIn returns a dial function whose sockets live in the named namespace.
func DialIn(name string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if name == "" {
		return (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := In(name, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// ListenIn listens in the named namespace.
func ListenIn(t testing.TB, name, network, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := In(name, func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// ListenPacketIn listens for datagrams in the named namespace.
func ListenPacketIn(t testing.TB, name, network, addr string) net.PacketConn {
	t.Helper()
	var l net.PacketConn
	if err := In(name, func() error {
		var err error
		l, err = net.ListenPacket(network, addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Journal is a journal for target t in a temporary directory.
func Journal(t testing.TB, ft fault.Target) *journal.Journal {
	t.Helper()
	j, err := journal.Create(t.TempDir(), journal.Meta{Experiment: ft.Experiment, Deadline: time.Now().Add(time.Hour)}, ft.Target)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
