package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Test addresses: a private range, only inside the namespaces the tests create.
const (
	tgt4  = "10.250.7.1"
	cli4  = "10.250.7.2"
	cli4b = "10.250.7.3" // a second client address, for CIDR filters
	tgt6  = "fd42:c4a0:5::1"
	cli6  = "fd42:c4a0:5::2"
)

// topo is a "target" netns (standing in for a pod sandbox) and a "client" netns, joined by
// a veth pair: eth0 in the target, peer0 in the client.
type topo struct {
	t              testing.TB
	tName, cName   string
	target, client netns.NsHandle
	th, ch         *netlink.Handle
	ino            uint64
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veth pairs, qdiscs and nft tables")
	}
}

// newTopo builds the two namespaces as named netns (bind mounts under /run/netns, so the
// journal recoverers can find them by inode) and removes them at cleanup.
func newTopo(t testing.TB) *topo { return newTopoNamed(t, "h5") }

// newTopoNamed is newTopo with tag in the namespace names (kc-TAG-tgt-…), so tests of
// parallel branches are told apart in the residue.
func newTopoNamed(t testing.TB, tag string) *topo {
	t.Helper()
	needRoot(t)
	var rb [3]byte
	_, _ = rand.Read(rb[:])
	suf := hex.EncodeToString(rb[:])
	tp := &topo{t: t, tName: "kc-" + tag + "-tgt-" + suf, cName: "kc-" + tag + "-cli-" + suf}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	mk := func(name string) netns.NsHandle {
		h, err := netns.NewNamed(name)
		if err != nil {
			_ = netns.Set(orig)
			runtime.UnlockOSThread()
			t.Fatalf("creating netns %s: %v", name, err)
		}
		return h
	}
	tp.target = mk(tp.tName)
	tp.client = mk(tp.cName)
	if err := netns.Set(orig); err != nil {
		panic("cannot switch the test thread back to its netns: " + err.Error())
	}
	orig.Close()
	runtime.UnlockOSThread()
	t.Cleanup(tp.close)

	if tp.th, err = netlink.NewHandleAt(tp.target, unix.NETLINK_ROUTE); err != nil {
		t.Fatal(err)
	}
	if tp.ch, err = netlink.NewHandleAt(tp.client, unix.NETLINK_ROUTE); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(tp.target), &st); err != nil {
		t.Fatal(err)
	}
	tp.ino = st.Ino

	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0", TxQLen: 1000}, PeerName: "peer0", PeerNamespace: netlink.NsFd(tp.client)}
	if err := tp.th.LinkAdd(veth); err != nil {
		t.Fatalf("creating veth: %v", err)
	}
	linkUp(t, tp.th, "lo")
	linkUp(t, tp.ch, "lo")
	linkUp(t, tp.th, "eth0", tgt4+"/24", tgt6+"/64")
	linkUp(t, tp.ch, "peer0", cli4+"/24", cli4b+"/24", cli6+"/64")
	// Static neighbours: no ARP/ND on the wire, so a fault that drops or delays ARP
	// (netem and nft loss hit every frame, as on a real link) cannot skew a measurement.
	staticNeigh(t, tp.th, "eth0", tp.ch, "peer0", cli4, cli4b, cli6)
	staticNeigh(t, tp.ch, "peer0", tp.th, "eth0", tgt4, tgt6)
	// Wait until the link is up on both sides (carrier).
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		l, _ := tp.th.LinkByName("eth0")
		if l != nil && l.Attrs().OperState == netlink.OperUp {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return tp
}

// linkUp adds addrs (without duplicate address detection) to the link and sets it up.
func linkUp(t testing.TB, h *netlink.Handle, name string, addrs ...string) {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ad, err := netlink.ParseAddr(a)
		if err != nil {
			t.Fatal(err)
		}
		ad.Flags = unix.IFA_F_NODAD
		if err := h.AddrAdd(l, ad); err != nil {
			t.Fatalf("adding %s to %s: %v", a, name, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
}

// staticNeigh makes ips reachable on dev without ARP/ND, at macDev's address.
func staticNeigh(t testing.TB, h *netlink.Handle, dev string, macOf *netlink.Handle, macDev string, ips ...string) {
	t.Helper()
	l, err := h.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := macOf.LinkByName(macDev)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips {
		fam := netlink.FAMILY_V4
		if strings.Contains(ip, ":") {
			fam = netlink.FAMILY_V6
		}
		n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, State: netlink.NUD_PERMANENT, IP: net.ParseIP(ip), HardwareAddr: peer.Attrs().HardwareAddr}
		if err := h.NeighSet(n); err != nil {
			t.Fatalf("static neighbour %s on %s: %v", ip, dev, err)
		}
	}
}

func (tp *topo) close() {
	if tp.th != nil {
		tp.th.Close()
	}
	if tp.ch != nil {
		tp.ch.Close()
	}
	tp.target.Close()
	tp.client.Close()
	_ = netns.DeleteNamed(tp.tName)
	_ = netns.DeleteNamed(tp.cName)
}

// faultTarget is what the agent would resolve for the target netns.
func (tp *topo) faultTarget() fault.Target {
	return fault.Target{
		Target:     plan.Target{Namespace: "test", Pod: "h5", Container: "c", Node: "testnode"},
		NetnsPath:  "/run/netns/" + tp.tName,
		NetnsInode: tp.ino,
	}
}

// inNS runs fn on a locked thread switched into ns, and switches back.
func inNS(t testing.TB, ns netns.NsHandle, fn func() error) error {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		panic("cannot switch the test thread back: " + err.Error())
	}
	return ferr
}

// memRecorder is a journal in memory.
type memRecorder struct {
	mu      sync.Mutex
	entries []journal.Entry
}

func (r *memRecorder) Record(e journal.Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
	return nil
}

// udpResult of one one-way UDP run.
type udpResult struct {
	sent, recv int
	sendErrs   map[string]int
}

func (r udpResult) lossPct() float64 { return 100 * float64(r.sent-r.recv) / float64(r.sent) }

// udpOneWay sends count datagrams from srcNS (bound to srcIP) to dstIP:port in dstNS and
// counts what arrives. Send errors are counted by errno (a silent drop has none).
func udpOneWay(t testing.TB, srcNS netns.NsHandle, srcIP string, dstNS netns.NsHandle, dstIP string, port, count int) udpResult {
	t.Helper()
	var rc *net.UDPConn
	err := inNS(t, dstNS, func() error {
		var err error
		rc, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(dstIP), Port: port})
		return err
	})
	if err != nil {
		t.Fatalf("listen udp %s:%d: %v", dstIP, port, err)
	}
	defer rc.Close()
	// As root, past rmem_max (≈208 KiB, ≈270 of these datagrams): a receiver starved on a
	// loaded machine must not drop what the fault let through.
	if raw, err := rc.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) })
	}
	var sc *net.UDPConn
	err = inNS(t, srcNS, func() error {
		var err error
		sc, err = net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(srcIP)}, &net.UDPAddr{IP: net.ParseIP(dstIP), Port: port})
		return err
	})
	if err != nil {
		t.Fatalf("dial udp %s→%s:%d: %v", srcIP, dstIP, port, err)
	}
	defer sc.Close()
	recvDone := make(chan int)
	var sent atomic.Bool
	go func() {
		n := 0
		buf := make([]byte, 2048)
		for {
			// Until 300 ms of silence after the last datagram was sent: a sender stalled
			// that long on a loaded machine is not a loss.
			_ = rc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := rc.Read(buf); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && !sent.Load() {
					continue
				}
				break
			}
			n++
		}
		recvDone <- n
	}()
	res := udpResult{sent: count, sendErrs: map[string]int{}}
	payload := make([]byte, 64)
	for i := 0; i < count; i++ {
		if _, err := sc.Write(payload); err != nil {
			var en syscall.Errno
			if errors.As(err, &en) {
				res.sendErrs[unix.ErrnoName(en)]++
			} else {
				res.sendErrs[err.Error()]++
			}
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond) // pace: stay far below the receive buffer
		}
	}
	sent.Store(true)
	res.recv = <-recvDone
	return res
}

// tcpTransfer sends size bytes from srcNS to dstIP:port in dstNS and returns the goodput
// in bit/s measured at the receiver from the first to the last byte.
func tcpTransfer(t testing.TB, srcNS netns.NsHandle, dstNS netns.NsHandle, dstIP string, port, size int) float64 {
	t.Helper()
	var ln net.Listener
	err := inNS(t, dstNS, func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(dstIP, fmt.Sprint(port)))
		return err
	})
	if err != nil {
		t.Fatalf("listen tcp: %v", err)
	}
	defer ln.Close()
	type rr struct {
		n   int64
		dur time.Duration
		err error
	}
	got := make(chan rr, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- rr{err: err}
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		var n int64
		var first time.Time
		for {
			k, err := c.Read(buf)
			if k > 0 && first.IsZero() {
				first = time.Now()
			}
			n += int64(k)
			if err == io.EOF {
				break
			}
			if err != nil {
				got <- rr{err: err}
				return
			}
		}
		got <- rr{n: n, dur: time.Since(first)}
	}()
	var c net.Conn
	err = inNS(t, srcNS, func() error {
		var err error
		c, err = net.DialTimeout("tcp", net.JoinHostPort(dstIP, fmt.Sprint(port)), 5*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("dial tcp: %v", err)
	}
	buf := make([]byte, 64<<10)
	for left := size; left > 0; {
		k := min(left, len(buf))
		if _, err := c.Write(buf[:k]); err != nil {
			t.Fatalf("tcp write: %v", err)
		}
		left -= k
	}
	c.Close()
	r := <-got
	if r.err != nil {
		t.Fatalf("tcp receive: %v", r.err)
	}
	if r.n != int64(size) {
		t.Fatalf("tcp received %d bytes, sent %d", r.n, size)
	}
	return float64(r.n*8) / r.dur.Seconds()
}

// ourObjects lists what of ours is in the target netns: root qdiscs with our handle and
// nft tables with our prefix.
func (tp *topo) ourObjects() []string {
	tp.t.Helper()
	var out []string
	links, err := tp.th.LinkList()
	if err != nil {
		tp.t.Fatal(err)
	}
	for _, l := range links {
		qs, err := tp.th.QdiscList(l)
		if err != nil {
			tp.t.Fatal(err)
		}
		for _, q := range qs {
			if q.Attrs().Handle>>16 == RootHandleMajor || q.Attrs().Handle>>16 == ChildHandleMajor {
				out = append(out, fmt.Sprintf("qdisc %s %s on %s", q.Type(), netlink.HandleStr(q.Attrs().Handle), l.Attrs().Name))
			}
		}
	}
	c, err := nft.Dial(int(tp.target))
	if err != nil {
		tp.t.Fatal(err)
	}
	defer c.Close()
	ts, err := c.Tables(unix.NFPROTO_UNSPEC)
	if err != nil {
		tp.t.Fatal(err)
	}
	for _, ti := range ts {
		out = append(out, "nft table "+nft.FamilyName(ti.Family)+" "+ti.Name)
	}
	return out
}

func apply(t testing.TB, tp *topo, n plan.Network) (fault.Active, *memRecorder) {
	t.Helper()
	inj, err := fault.New(plan.Fault{Kind: plan.KindNetwork, Network: &n})
	if err != nil {
		t.Fatal(err)
	}
	rec := &memRecorder{}
	act, err := inj.Apply(context.Background(), tp.faultTarget(), rec)
	if err != nil {
		t.Fatalf("apply %s: %v", n.Summary(), err)
	}
	return act, rec
}

func recoverClean(t testing.TB, tp *topo, act fault.Active) []plan.Object {
	t.Helper()
	removed, err := act.Recover(context.Background())
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	if left := tp.ourObjects(); len(left) > 0 {
		t.Fatalf("left behind after recover: %v", left)
	}
	return removed
}

// netemAvailable probes sch_netem once in a throwaway namespace.
var netemProbe struct {
	once sync.Once
	ok   bool
	err  error
}

func requireNetem(t *testing.T) {
	t.Helper()
	if !netemAvailable(t) {
		t.Skip("sch_netem not available on this kernel: covered by make test-netem")
	}
}

// netemAvailable says whether this kernel has sch_netem (needs root).
func netemAvailable(t *testing.T) bool {
	t.Helper()
	needRoot(t)
	netemProbe.once.Do(func() {
		tp := newTopo(t)
		l, err := tp.th.LinkByName("eth0")
		if err != nil {
			netemProbe.err = err
			return
		}
		q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)}, netlink.NetemQdiscAttrs{Latency: 1000})
		err = tp.th.QdiscAdd(q)
		netemProbe.ok = err == nil
		if err != nil && !errors.Is(err, unix.ENOENT) {
			netemProbe.err = err
		}
	})
	if netemProbe.err != nil {
		t.Fatalf("probing sch_netem: %v", netemProbe.err)
	}
	return netemProbe.ok
}
