package network

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables/expr"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

const lossPackets = 2000

func assertNear(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s: measured %.2f, asked %.2f (tolerance ±%.2f)", what, got, want, tol)
	} else {
		t.Logf("%s: asked %.2f, measured %.2f", what, want, got)
	}
}

func assertNoSendErrors(t *testing.T, what string, r udpResult) {
	t.Helper()
	if len(r.sendErrs) > 0 {
		t.Errorf("%s: the sender saw errors %v: the drop is not silent", what, r.sendErrs)
	}
}

func TestLossNFT(t *testing.T) {
	tp := newTopo(t)
	for _, c := range []struct {
		name           string
		pct            float64
		src, dst, port string
	}{
		{"ipv4", 20, tgt4, cli4, "v4"},
		{"ipv6", 30, tgt6, cli6, "v6"},
	} {
		t.Run(c.name, func(t *testing.T) {
			act, rec := apply(t, tp, plan.Network{Loss: &plan.Percent{Percent: c.pct}, LossBackend: BackendNFT})
			if len(rec.entries) != 1 || rec.entries[0].Type != EntryNFTTable {
				t.Fatalf("journal: %+v, want one nft-table entry", rec.entries)
			}
			r := udpOneWay(t, tp.target, c.src, tp.client, c.dst, 7001, lossPackets)
			assertNear(t, "egress loss % ("+c.name+")", r.lossPct(), c.pct, 3)
			assertNoSendErrors(t, "loss", r)
			back := udpOneWay(t, tp.client, c.dst, tp.target, c.src, 7002, 500)
			if back.recv != back.sent {
				t.Errorf("ingress (not asked) lost %d of %d", back.sent-back.recv, back.sent)
			}
			recoverClean(t, tp, act)
			after := udpOneWay(t, tp.target, c.src, tp.client, c.dst, 7003, 500)
			if after.recv != after.sent {
				t.Errorf("after recover: lost %d of %d", after.sent-after.recv, after.sent)
			}
		})
	}
}

func TestLossNFTIngressWithPortFilter(t *testing.T) {
	tp := newTopo(t)
	act, _ := apply(t, tp, plan.Network{Loss: &plan.Percent{Percent: 50}, LossBackend: BackendNFT,
		Filter: plan.Filter{Direction: "ingress", Ports: []uint16{7100}, Protocol: "udp"}})
	hit := udpOneWay(t, tp.client, cli4, tp.target, tgt4, 7100, lossPackets)
	assertNear(t, "ingress loss % on the filtered port", hit.lossPct(), 50, 3)
	assertNoSendErrors(t, "loss", hit)
	miss := udpOneWay(t, tp.client, cli4, tp.target, tgt4, 7101, 500)
	if miss.recv != miss.sent {
		t.Errorf("other port lost %d of %d", miss.sent-miss.recv, miss.sent)
	}
	recoverClean(t, tp, act)
}

func TestLossAutoWithoutNetemFallsBackToNFT(t *testing.T) {
	tp := newTopo(t)
	if netemOK(t, tp) {
		t.Skip("this kernel has sch_netem: auto picks netem (TestNetemLoss)")
	}
	act, _ := apply(t, tp, plan.Network{Loss: &plan.Percent{Percent: 10}})
	notes := act.(fault.Notes).Notes()
	if len(notes) == 0 || !strings.Contains(notes[0], "sch_netem is missing") {
		t.Errorf("notes %q do not say that netem is missing", notes)
	}
	r := udpOneWay(t, tp.target, tgt4, tp.client, cli4, 7200, lossPackets)
	assertNear(t, "auto loss % without netem", r.lossPct(), 10, 3)
	recoverClean(t, tp, act)
}

func netemOK(t *testing.T, tp *topo) bool {
	t.Helper()
	inj := &Injector{N: plan.Network{Duplicate: &plan.Percent{Percent: 1}, DuplicateBackend: BackendNetem}}
	act, err := inj.Apply(context.Background(), tp.faultTarget(), &memRecorder{})
	if err != nil {
		if strings.Contains(err.Error(), "modprobe sch_netem") {
			return false
		}
		t.Fatalf("probing netem: %v", err)
	}
	recoverClean(t, tp, act)
	return true
}

func TestPartition(t *testing.T) {
	tp := newTopo(t)
	type flow struct {
		name        string
		srcNS       netns.NsHandle
		src, dst    string
		dstNS       netns.NsHandle
		port        int
		wantDropped bool
	}
	out := func(dst string, port int, drop bool) flow {
		return flow{"target→" + dst, tp.target, srcFor(dst), dst, tp.client, port, drop}
	}
	in := func(src string, port int, drop bool) flow {
		return flow{src + "→target", tp.client, src, dstFor(src), tp.target, port, drop}
	}
	cases := []struct {
		name  string
		n     plan.Network
		flows []flow
	}{
		{"to", plan.Network{Partition: &plan.Partition{Direction: "to", Peers: []string{cli4 + "/32"}}},
			[]flow{out(cli4, 7301, true), in(cli4, 7302, false), out(cli4b, 7303, false)}},
		{"from", plan.Network{Partition: &plan.Partition{Direction: "from", Peers: []string{cli4 + "/32"}}},
			[]flow{in(cli4, 7311, true), out(cli4, 7312, false), in(cli4b, 7313, false)}},
		{"both-ipv6", plan.Network{Partition: &plan.Partition{Direction: "both", Peers: []string{"fd42:c4a0:5::2/128"}}},
			[]flow{out(cli6, 7321, true), in(cli6, 7322, true), out(cli4, 7323, false), in(cli4, 7324, false)}},
		{"port-only", plan.Network{Partition: &plan.Partition{Direction: "both"}, Filter: plan.Filter{Ports: []uint16{7331}}},
			[]flow{out(cli4, 7331, true), in(cli6, 7331, true), out(cli4, 7332, false), in(cli4, 7333, false)}},
		{"cidr-and-port", plan.Network{Partition: &plan.Partition{Direction: "to", Peers: []string{"10.250.7.0/24"}}, Filter: plan.Filter{Ports: []uint16{7341}, Protocol: "udp"}},
			[]flow{out(cli4, 7341, true), out(cli4b, 7341, true), out(cli4, 7342, false), out(cli6, 7341, false)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			act, _ := apply(t, tp, c.n)
			for _, f := range c.flows {
				r := udpOneWay(t, f.srcNS, f.src, f.dstNS, f.dst, f.port, 1000)
				want := 0.0
				if f.wantDropped {
					want = 100
				}
				if r.lossPct() != want {
					t.Errorf("%s port %d: %.1f%% dropped, want %.0f%%", f.name, f.port, r.lossPct(), want)
				} else {
					t.Logf("%s port %d: %.0f%% dropped as asked", f.name, f.port, r.lossPct())
				}
				assertNoSendErrors(t, f.name, r)
			}
			recoverClean(t, tp, act)
			for _, f := range c.flows {
				// Another port: packets held in the neighbour queue during the partition may
				// still arrive on the old one, as after a real partition.
				if r := udpOneWay(t, f.srcNS, f.src, f.dstNS, f.dst, f.port+1000, 200); r.recv != r.sent {
					t.Errorf("after recover %s: lost %d of %d", f.name, r.sent-r.recv, r.sent)
				}
			}
		})
	}
}

func srcFor(dst string) string {
	if strings.Contains(dst, ":") {
		return tgt6
	}
	return tgt4
}

func dstFor(src string) string { return srcFor(src) }

// TestOutputHookDropIsNotSilent measures why partition/loss do not drop at the inet
// output hook: the sending socket gets EPERM there, unlike real loss.
func TestOutputHookDropIsNotSilent(t *testing.T) {
	tp := newTopo(t)
	c, err := nft.Dial(int(tp.target))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tbl := nft.Table{Family: nft.FamilyINet, Name: nft.TableName("outputprobe"), Owner: true}
	ch := nft.Chain{Table: tbl, Name: "out", Hook: &nft.Hook{Hooknum: nft.HookOutput}}
	var b nft.Batch
	b.AddTable(tbl)
	b.AddChain(ch)
	b.AddRule(ch, []expr.Any{nft.Drop()})
	if err := c.Send(&b); err != nil {
		t.Fatal(err)
	}
	r := udpOneWay(t, tp.target, tgt4, tp.client, cli4, 7400, 100)
	if r.recv != 0 || r.sendErrs["EPERM"] == 0 {
		t.Fatalf("output-hook drop: recv %d, send errors %v; expected all dropped with EPERM", r.recv, r.sendErrs)
	}
	t.Logf("inet output hook drop: %d of %d sends failed with EPERM (netdev egress: 0, see TestPartition)", r.sendErrs["EPERM"], r.sent)
}

func TestBandwidth(t *testing.T) {
	tp := newTopo(t)
	const rate = 20_000_000
	act, rec := apply(t, tp, plan.Network{Bandwidth: &plan.Bandwidth{Rate: rate}})
	if len(rec.entries) != 1 || rec.entries[0].Type != EntryQdisc {
		t.Fatalf("journal: %+v, want one tc-qdisc entry", rec.entries)
	}
	got := tcpTransfer(t, tp.target, tp.client, cli4, 7500, 5_000_000)
	assertNear(t, "tbf goodput Mbit/s", got/1e6, rate/1e6, rate/1e6*0.10)
	recoverClean(t, tp, act)
	after := tcpTransfer(t, tp.target, tp.client, cli4, 7501, 5_000_000)
	if after < 5*rate {
		t.Errorf("after recover: %.1f Mbit/s, want far above the %d Mbit/s limit", after/1e6, rate/1_000_000)
	}
	t.Logf("after recover: %.0f Mbit/s", after/1e6)
}

func TestBandwidthFiltered(t *testing.T) {
	tp := newTopo(t)
	const rate = 10_000_000
	for _, c := range []struct {
		name        string
		f           plan.Filter
		hit, miss   string
		hitP, missP int
	}{
		{"port", plan.Filter{Ports: []uint16{7600}, Protocol: "tcp"}, cli4, cli4, 7600, 7601},
		{"cidr-ipv6", plan.Filter{CIDRs: []string{cli6 + "/128"}}, cli6, cli4, 7610, 7611},
		{"cidr-ipv4", plan.Filter{CIDRs: []string{cli4b + "/32"}}, cli4b, cli4, 7620, 7621},
	} {
		t.Run(c.name, func(t *testing.T) {
			act, _ := apply(t, tp, plan.Network{Bandwidth: &plan.Bandwidth{Rate: rate}, Filter: c.f})
			hit := tcpTransfer(t, tp.target, tp.client, c.hit, c.hitP, 2_500_000)
			assertNear(t, "filtered tbf goodput Mbit/s (matching)", hit/1e6, rate/1e6, rate/1e6*0.10)
			miss := tcpTransfer(t, tp.target, tp.client, c.miss, c.missP, 5_000_000)
			if miss < 5*rate {
				t.Errorf("non-matching traffic: %.1f Mbit/s, want far above %d Mbit/s", miss/1e6, rate/1_000_000)
			}
			t.Logf("non-matching: %.0f Mbit/s", miss/1e6)
			recoverClean(t, tp, act)
		})
	}
}

func TestBadInputCreatesNothing(t *testing.T) {
	tp := newTopo(t)
	before := tp.ourObjects()
	for _, c := range []struct {
		name string
		n    plan.Network
		want string
	}{
		{"unknown interface", plan.Network{Loss: &plan.Percent{Percent: 10}, Filter: plan.Filter{Interfaces: []string{"eth0", "nope0"}}}, "--interface nope0: no such interface"},
		{"unknown interface tc", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 1_000_000}, Filter: plan.Filter{Interfaces: []string{"nope0"}}}, "no such interface"},
		{"cidr without mask", plan.Network{Partition: &plan.Partition{Direction: "to", Peers: []string{cli4}}}, "needs a mask"},
		{"percent 101", plan.Network{Loss: &plan.Percent{Percent: 101}}, "--percent must be in (0, 100]"},
		{"rate 0", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 0}}, "--rate must be in"},
		{"partition without peer", plan.Network{Partition: &plan.Partition{Direction: "both"}}, "partition needs at least one peer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			inj := &Injector{N: c.n}
			rec := &memRecorder{}
			_, err := inj.Apply(context.Background(), tp.faultTarget(), rec)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if len(rec.entries) > 0 {
				t.Errorf("journaled %d entries for refused input", len(rec.entries))
			}
			if after := tp.ourObjects(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("objects changed: before %v, after %v", before, after)
			}
			// The registry's factory refuses it too (except what needs the node).
			if _, ferr := fault.New(plan.Fault{Kind: plan.KindNetwork, Network: &c.n}); ferr == nil && !strings.Contains(c.name, "interface") {
				t.Errorf("fault.New accepted %s", c.name)
			}
		})
	}
}

// TestRecoverFromJournal is the crash path: the agent's socket dies (the kernel drops
// the owned table), and recovery runs from the journal entries alone.
func TestRecoverFromJournal(t *testing.T) {
	tp := newTopo(t)
	act, rec := apply(t, tp, plan.Network{Loss: &plan.Percent{Percent: 50}, LossBackend: BackendNFT, Bandwidth: &plan.Bandwidth{Rate: 50_000_000}})
	if len(rec.entries) != 2 {
		t.Fatalf("journal has %d entries, want 2 (qdisc, table)", len(rec.entries))
	}
	a := act.(*Active)
	// While the agent lives, its owned table cannot be removed by another socket.
	for _, e := range rec.entries {
		if e.Type == EntryNFTTable {
			if err := journal.RecoverEntry(context.Background(), e); err == nil || !errors.Is(err, unix.EPERM) {
				t.Fatalf("recovering a live owned table: %v, want EPERM", err)
			}
		}
	}
	// "kill -9": the socket closes.
	a.conn.Close()
	a.conn = nil
	left := tp.ourObjects()
	if len(left) != 1 || !strings.HasPrefix(left[0], "qdisc tbf 4b43:") {
		t.Fatalf("after the socket closed: %v, want only our tbf (the kernel drops owned tables)", left)
	}
	for round := 0; round < 2; round++ { // idempotent
		for i := len(rec.entries) - 1; i >= 0; i-- {
			if err := journal.RecoverEntry(context.Background(), rec.entries[i]); err != nil {
				t.Fatalf("round %d: recover %s: %v", round, rec.entries[i].Type, err)
			}
		}
	}
	if left := tp.ourObjects(); len(left) > 0 {
		t.Fatalf("after journal recovery: %v", left)
	}
	if _, err := act.Recover(context.Background()); err != nil {
		t.Fatalf("Active.Recover after journal recovery: %v", err)
	}
	r := udpOneWay(t, tp.target, tgt4, tp.client, cli4, 7700, 300)
	if r.recv != r.sent {
		t.Errorf("after recovery lost %d of %d", r.sent-r.recv, r.sent)
	}
}

// TestRecoverLeavesForeignQdisc: a root qdisc that is not ours is never deleted.
func TestRecoverLeavesForeignQdisc(t *testing.T) {
	tp := newTopo(t)
	act, rec := apply(t, tp, plan.Network{Bandwidth: &plan.Bandwidth{Rate: 1_000_000}})
	if _, err := act.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Someone else puts a tbf with another handle on eth0.
	inj := &Injector{N: plan.Network{Bandwidth: &plan.Bandwidth{Rate: 2_000_000}}}
	l, _ := tp.th.LinkByName("eth0")
	setup, err := buildTC(l, &inj.N, netemWant{})
	if err != nil {
		t.Fatal(err)
	}
	q := setup.steps[0].qdisc
	q.Attrs().Handle = 0x10000
	if err := tp.th.QdiscAdd(q); err != nil {
		t.Fatal(err)
	}
	defer tp.th.QdiscDel(q)
	if err := journal.RecoverEntry(context.Background(), rec.entries[0]); err != nil {
		t.Fatal(err)
	}
	qs, _ := tp.th.QdiscList(l)
	found := false
	for _, x := range qs {
		found = found || x.Attrs().Handle == 0x10000
	}
	if !found {
		t.Fatal("recovery deleted a root qdisc that kubectl-chaos does not own")
	}
}

// TestDelayWithoutNetemUsesNFQueue: without sch_netem the delay is held in userspace
// (NFQUEUE); the median RTT grows by the delay over the median measured just before in
// the same run, within -5 % … +25 % (the agent's own wake-up on this loaded machine
// comes on top of the timer, never below it).
func TestDelayWithoutNetemUsesNFQueue(t *testing.T) {
	tp := newTopo(t)
	if netemOK(t, tp) {
		t.Skip("this kernel has sch_netem: auto delay uses netem (TestNetemDelay)")
	}
	const delay = 40 * time.Millisecond
	base := udpRTT(t, tp, cli4, tgt4, 7800, 30)
	act, _ := apply(t, tp, plan.Network{Delay: &plan.Delay{Latency: plan.Duration(delay)}})
	notes := strings.Join(act.(fault.Notes).Notes(), "; ")
	if !strings.Contains(notes, "NFQUEUE") {
		t.Errorf("notes %q do not name the NFQUEUE fallback", notes)
	}
	rtt := udpRTT(t, tp, cli4, tgt4, 7800, 30)
	b50, p50 := base[len(base)/2], rtt[len(rtt)/2]
	added := p50 - b50
	t.Logf("nfqueue delay %v: RTT p50 %v, baseline p50 %v: added %v (fault p10…p90 %v…%v)", delay, p50, b50, added, rtt[len(rtt)/10], rtt[len(rtt)*9/10])
	if added < delay*95/100 || added > delay*125/100 {
		t.Errorf("added %v to the RTT's median, want %v -5 %% … +25 %%", added, delay)
	}
	recoverClean(t, tp, act)
}

// udpRTT pings an echo server in the target from the client; sorted round trip times.
func udpRTT(t *testing.T, tp *topo, cli, tgt string, port, n int) []time.Duration {
	t.Helper()
	return udpRTTIn(t, tp.client, cli, tp.target, tgt, port, n)
}

// udpRTTIn pings an echo server at tgt in tgtNS from cli in cliNS; sorted round trip
// times.
func udpRTTIn(t *testing.T, cliNS netns.NsHandle, cli string, tgtNS netns.NsHandle, tgt string, port, n int) []time.Duration {
	t.Helper()
	var srv *net.UDPConn
	if err := inNS(t, tgtNS, func() error {
		var err error
		srv, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(tgt), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 256)
		for {
			k, from, err := srv.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteToUDP(buf[:k], from)
		}
	}()
	var c *net.UDPConn
	if err := inNS(t, cliNS, func() error {
		var err error
		c, err = net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(cli)}, &net.UDPAddr{IP: net.ParseIP(tgt), Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []time.Duration
	buf := make([]byte, 256)
	for i := 0; i < n; i++ {
		msg := []byte(fmt.Sprintf("ping %d", i))
		start := time.Now()
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			k, err := c.Read(buf)
			if err != nil {
				t.Fatalf("ping %d: %v", i, err)
			}
			if string(buf[:k]) == string(msg) {
				break
			}
		}
		out = append(out, time.Since(start))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// TestNFTFallbacksForOlderKernels runs the paths for kernels without the netdev egress
// hook (< 5.16) and without owned tables (< 5.12), forced on this kernel.
func TestNFTFallbacksForOlderKernels(t *testing.T) {
	tp := newTopo(t)
	defer func() { forceNoEgressHook, forceNoOwnerFlag = false, false }()

	forceNoEgressHook = true
	act, rec := apply(t, tp, plan.Network{Partition: &plan.Partition{Direction: "both", Peers: []string{cli4 + "/32"}}})
	if len(rec.entries) != 2 {
		t.Fatalf("journal has %d entries, want 2 (netdev ingress table, inet postrouting table)", len(rec.entries))
	}
	if notes := strings.Join(act.(fault.Notes).Notes(), "; "); !strings.Contains(notes, "EPERM") {
		t.Errorf("notes %q do not warn that the sender sees EPERM", notes)
	}
	out := udpOneWay(t, tp.target, tgt4, tp.client, cli4, 7801, 300)
	in := udpOneWay(t, tp.client, cli4, tp.target, tgt4, 7802, 300)
	if out.recv != 0 || in.recv != 0 || out.sendErrs["EPERM"] == 0 {
		t.Errorf("inet-egress fallback: out recv %d (errs %v), in recv %d; want 0, EPERM, 0", out.recv, out.sendErrs, in.recv)
	}
	recoverClean(t, tp, act)

	forceNoEgressHook, forceNoOwnerFlag = false, true
	act, rec = apply(t, tp, plan.Network{Loss: &plan.Percent{Percent: 100}, LossBackend: BackendNFT})
	c, err := nft.Dial(int(tp.target))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ts, _ := c.Tables(unix.NFPROTO_UNSPEC)
	if len(ts) != 1 || ts[0].Flags&nft.TableFlagOwner != 0 {
		t.Fatalf("tables %+v, want one table without the owner flag", ts)
	}
	if r := udpOneWay(t, tp.target, tgt4, tp.client, cli4, 7803, 200); r.recv != 0 {
		t.Errorf("100%% loss let %d through", r.recv)
	}
	// Agent killed: a plain table outlives the socket; the journal removes it.
	a := act.(*Active)
	a.conn.Close()
	a.conn = nil
	if left := tp.ourObjects(); len(left) != 1 {
		t.Fatalf("after the socket closed: %v, want the plain table still there", left)
	}
	if err := journal.RecoverEntry(context.Background(), rec.entries[0]); err != nil {
		t.Fatal(err)
	}
	if left := tp.ourObjects(); len(left) > 0 {
		t.Fatalf("after journal recovery: %v", left)
	}
	if _, err := act.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
}
