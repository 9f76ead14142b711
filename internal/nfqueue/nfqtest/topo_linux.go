//go:build linux

package nfqtest

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NS is an unnamed network namespace kept alive by its handle.
type NS struct{ h netns.NsHandle }

// NewNS creates an unnamed network namespace without moving the caller.
func NewNS() (NS, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return NS{}, fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	h, err := netns.New()
	if err != nil {
		return NS{}, fmt.Errorf("create netns: %w", err)
	}
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in the new namespace: keep it locked so it dies with
		// the goroutine instead of being reused.
		runtime.LockOSThread()
		h.Close()
		return NS{}, fmt.Errorf("return to original netns: %w", err)
	}
	return NS{h: h}, nil
}

// FD is the namespace's file descriptor (for nfqueue.Config.NetNS, nft.Dial, ...).
func (n NS) FD() int { return int(n.h) }

// Inode identifies the namespace like fault.Target.NetnsInode.
func (n NS) Inode() uint64 {
	var st unix.Stat_t
	if err := unix.Fstat(int(n.h), &st); err != nil {
		return 0
	}
	return st.Ino
}

// Path opens the namespace from another process (valid while n is open).
func (n NS) Path() string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(n.h)) }

// Close releases the handle; the namespace goes when nothing else holds it.
func (n NS) Close() error { return n.h.Close() }

// Do runs fn on a locked thread inside n. Sockets fn opens stay in n.
func (n NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(n.h); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: the runtime discards it when the goroutine ends.
		return fmt.Errorf("return from netns: %w (after %v)", err, ferr)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Handle is a rtnetlink handle bound to n (NETLINK_ROUTE only: minimal kernels refuse
// the XFRM family that NewHandleAt opens by default).
func (n NS) Handle() (*netlink.Handle, error) {
	return netlink.NewHandleAt(n.h, unix.NETLINK_ROUTE)
}

// Topo is a target and a client namespace joined by a veth pair.
type Topo struct {
	Target, Client       NS
	TargetIf, ClientIf   string
	TargetIP4, ClientIP4 net.IP
	TargetIP6, ClientIP6 net.IP
}

// New builds a topology; t.Cleanup removes it.
func New(t testing.TB) *Topo {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	topo, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(topo.Close)
	return topo
}

// Build builds a topology; the caller closes it.
func Build() (*Topo, error) {
	tg, err := NewNS()
	if err != nil {
		return nil, err
	}
	cl, err := NewNS()
	if err != nil {
		tg.Close()
		return nil, err
	}
	topo := &Topo{
		Target: tg, Client: cl, TargetIf: "tgt0", ClientIf: "cli0",
		TargetIP4: net.ParseIP("10.213.0.2").To4(), ClientIP4: net.ParseIP("10.213.0.1").To4(),
		TargetIP6: net.ParseIP("fd00:213::2"), ClientIP6: net.ParseIP("fd00:213::1"),
	}
	if err := topo.setup(); err != nil {
		topo.Close()
		return nil, err
	}
	return topo, nil
}

func (t *Topo) setup() error {
	ch, err := t.Client.Handle()
	if err != nil {
		return fmt.Errorf("rtnetlink handle in client netns: %w", err)
	}
	defer ch.Close()
	th, err := t.Target.Handle()
	if err != nil {
		return fmt.Errorf("rtnetlink handle in target netns: %w", err)
	}
	defer th.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: t.ClientIf},
		PeerName:      t.TargetIf,
		PeerNamespace: netlink.NsFd(t.Target.FD()),
	}
	if err := ch.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s/%s: %w", t.ClientIf, t.TargetIf, err)
	}
	for _, side := range []struct {
		h        *netlink.Handle
		ifname   string
		ip4, ip6 net.IP
	}{{ch, t.ClientIf, t.ClientIP4, t.ClientIP6}, {th, t.TargetIf, t.TargetIP4, t.TargetIP6}} {
		lo, err := side.h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if err := side.h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		l, err := side.h.LinkByName(side.ifname)
		if err != nil {
			return fmt.Errorf("find %s: %w", side.ifname, err)
		}
		a4 := &netlink.Addr{IPNet: &net.IPNet{IP: side.ip4, Mask: net.CIDRMask(24, 32)}}
		a6 := &netlink.Addr{IPNet: &net.IPNet{IP: side.ip6, Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
		for _, a := range []*netlink.Addr{a4, a6} {
			if err := side.h.AddrAdd(l, a); err != nil {
				return fmt.Errorf("add address %s to %s: %w", a.IPNet, side.ifname, err)
			}
		}
		if err := side.h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", side.ifname, err)
		}
	}
	// Until the kernel's link watcher sees the carrier (up to a second after "up"),
	// the veth's qdisc holds packets: wait, so no probe measures that.
	deadline := time.Now().Add(5 * time.Second)
	for _, side := range []struct {
		h      *netlink.Handle
		ifname string
	}{{ch, t.ClientIf}, {th, t.TargetIf}} {
		for {
			l, err := side.h.LinkByName(side.ifname)
			if err != nil {
				return fmt.Errorf("find %s: %w", side.ifname, err)
			}
			if l.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not come up (operstate %s)", side.ifname, l.Attrs().OperState)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// Close removes the topology (the veth pair goes with its namespaces).
func (t *Topo) Close() {
	t.Client.Close()
	t.Target.Close()
}
