package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Peer B's addresses: a second peer netns behind the target's eth1. Peer A is the topo's
// client (cli4, cli6 behind eth0).
const (
	tgtB4  = "10.250.11.1"
	peerB4 = "10.250.11.2"
	tgtB6  = "fd42:c4a0:6::1"
	peerB6 = "fd42:c4a0:6::2"
)

// peersTopo is a target netns with two peers, each in its own netns: A (the topo's
// client, on eth0) and B (on eth1).
type peersTopo struct {
	*topo
	b     netns.NsHandle
	bName string
}

func newPeersTopo(t *testing.T) *peersTopo {
	t.Helper()
	tp := newTopoNamed(t, "peers")
	var rb [3]byte
	_, _ = rand.Read(rb[:])
	pt := &peersTopo{topo: tp, bName: "kc-peers-b-" + hex.EncodeToString(rb[:])}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	pt.b, err = netns.NewNamed(pt.bName)
	if serr := netns.Set(orig); serr != nil {
		panic("cannot switch the test thread back to its netns: " + serr.Error())
	}
	orig.Close()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("creating netns %s: %v", pt.bName, err)
	}
	t.Cleanup(func() {
		pt.b.Close()
		_ = netns.DeleteNamed(pt.bName)
	})
	bh, err := netlink.NewHandleAt(pt.b, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer bh.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1", TxQLen: 1000}, PeerName: "peerb0", PeerNamespace: netlink.NsFd(pt.b)}
	if err := tp.th.LinkAdd(veth); err != nil {
		t.Fatalf("creating veth: %v", err)
	}
	linkUp(t, bh, "lo")
	linkUp(t, tp.th, "eth1", tgtB4+"/24", tgtB6+"/64")
	linkUp(t, bh, "peerb0", peerB4+"/24", peerB6+"/64")
	staticNeigh(t, tp.th, "eth1", bh, "peerb0", peerB4, peerB6)
	staticNeigh(t, bh, "peerb0", tp.th, "eth1", tgtB4, tgtB6)
	return pt
}

// withPeerA is n with peer A as its peer, resolved by the CLI's own completion step
// (--external with A's IPv4 and IPv6 addresses: no API needed).
func withPeerA(t *testing.T, n plan.Network) plan.Network {
	t.Helper()
	n.Filter.External = []string{cli4, cli6}
	if err := resolvePeers(context.Background(), nil, "", &n); err != nil {
		t.Fatal(err)
	}
	if len(n.Filter.CIDRs) != 2 || len(n.Filter.External) != 0 {
		t.Fatalf("peer A resolved to %v (left %v), want its two addresses", n.Filter.CIDRs, n.Filter.External)
	}
	return n
}

// quantile of sorted durations.
func quantile(d []time.Duration, q float64) time.Duration { return d[int(q*float64(len(d)-1))] }

// TestDelayToOnePeer: a delay with peer A delays the round trip to A by the latency and
// leaves B's at its baseline, both measured in the same run. The NFQUEUE delay (no
// sch_netem here) or netem, whichever the node has.
func TestDelayToOnePeer(t *testing.T) {
	pt := newPeersTopo(t)
	const latency = 100 * time.Millisecond
	const pings = 25
	baseA := udpRTTIn(t, pt.client, cli4, pt.target, tgt4, 7901, pings)
	baseB := udpRTTIn(t, pt.b, peerB4, pt.target, tgtB4, 7902, pings)
	act, _ := apply(t, pt.topo, withPeerA(t, plan.Network{Delay: &plan.Delay{Latency: plan.Duration(latency)}}))
	a := udpRTTIn(t, pt.client, cli4, pt.target, tgt4, 7903, pings)
	a6 := udpRTTIn(t, pt.client, cli6, pt.target, tgt6, 7904, pings)
	b := udpRTTIn(t, pt.b, peerB4, pt.target, tgtB4, 7905, pings)
	recoverClean(t, pt.topo, act)
	after := udpRTTIn(t, pt.client, cli4, pt.target, tgt4, 7906, pings)

	// The tolerance above the latency is what the runs themselves scatter by: the spread
	// (p90-p10) of the baseline and of the delayed run, at least 10 ms; below, a packet
	// is never released before the latency.
	tolA := max(10*time.Millisecond, quantile(baseA, .9)-quantile(baseA, .1)+quantile(a, .9)-quantile(a, .1))
	for _, c := range []struct {
		name string
		got  []time.Duration
	}{{"A ipv4", a}, {"A ipv6", a6}} {
		added := quantile(c.got, .5) - quantile(baseA, .5)
		if c.got[0] < latency || added < latency-2*time.Millisecond || added > latency+tolA {
			t.Errorf("peer %s: RTT min %v p50 %v, baseline p50 %v: added %v, want %v (+%v)", c.name, c.got[0], quantile(c.got, .5), quantile(baseA, .5), added, latency, tolA)
		}
		t.Logf("peer %s: baseline p50 %v (p10-p90 %v-%v), delayed p50 %v (p10-p90 %v-%v): +%v for %v asked",
			c.name, quantile(baseA, .5), quantile(baseA, .1), quantile(baseA, .9), quantile(c.got, .5), quantile(c.got, .1), quantile(c.got, .9), added, latency)
	}
	tolB := max(5*time.Millisecond, 2*(quantile(baseB, .9)-quantile(baseB, .1)))
	if d := quantile(b, .5) - quantile(baseB, .5); d > tolB || quantile(b, .5) > latency/2 {
		t.Errorf("peer B (not a peer of the fault): RTT p50 %v, baseline %v: +%v, more than the spread allows (%v)", quantile(b, .5), quantile(baseB, .5), d, tolB)
	}
	t.Logf("peer B: baseline p50 %v (p10-p90 %v-%v), during the fault p50 %v (p10-p90 %v-%v)",
		quantile(baseB, .5), quantile(baseB, .1), quantile(baseB, .9), quantile(b, .5), quantile(b, .1), quantile(b, .9))
	if quantile(after, .5) > latency/2 {
		t.Errorf("after recovery: RTT to A p50 %v, still delayed", quantile(after, .5))
	}
}

// TestLossToOnePeer: 100 % loss with peer A loses everything sent to A (IPv4 and IPv6)
// and nothing sent to B; with --direction from, what A sends to the target is lost and
// what the target sends to A is not. Each count is taken against a baseline of the same
// run (the links lose nothing without the fault).
func TestLossToOnePeer(t *testing.T) {
	pt := newPeersTopo(t)
	const count = 400
	baseA := udpOneWay(t, pt.target, tgt4, pt.client, cli4, 7911, count)
	baseB := udpOneWay(t, pt.target, tgtB4, pt.b, peerB4, 7912, count)
	if baseA.recv != baseA.sent || baseB.recv != baseB.sent {
		t.Fatalf("baseline: A got %d/%d, B %d/%d: the links lose packets without a fault", baseA.recv, baseA.sent, baseB.recv, baseB.sent)
	}
	for _, c := range []struct {
		name, dir string
	}{{"to", ""}, {"from", "ingress"}} {
		t.Run(c.name, func(t *testing.T) {
			n := withPeerA(t, plan.Network{Loss: &plan.Percent{Percent: 100}})
			n.Filter.Direction = c.dir
			act, _ := apply(t, pt.topo, n)
			toA := udpOneWay(t, pt.target, tgt4, pt.client, cli4, 7913, count)
			toA6 := udpOneWay(t, pt.target, tgt6, pt.client, cli6, 7914, count)
			fromA := udpOneWay(t, pt.client, cli4, pt.target, tgt4, 7915, count)
			toB := udpOneWay(t, pt.target, tgtB4, pt.b, peerB4, 7916, count)
			fromB := udpOneWay(t, pt.b, peerB4, pt.target, tgtB4, 7917, count)
			recoverClean(t, pt.topo, act)
			lostA, keptA := []udpResult{toA, toA6}, fromA
			if c.dir == "ingress" {
				lostA, keptA = []udpResult{fromA}, toA
			}
			for _, r := range lostA {
				if r.recv != 0 {
					t.Errorf("direction %s: %d of %d packets between the target and peer A arrived, want none", c.name, r.recv, r.sent)
				}
			}
			for what, r := range map[string]udpResult{"the other direction to/from A": keptA, "to B": toB, "from B": fromB} {
				if r.recv != r.sent {
					t.Errorf("direction %s: %s lost %d of %d (baseline lost none)", c.name, what, r.sent-r.recv, r.sent)
				}
			}
			t.Logf("direction %s: A lost %.0f%%, the other way %.0f%%, B %.0f%%/%.0f%% (baselines 0%%)", c.name, lostA[0].lossPct(), keptA.lossPct(), toB.lossPct(), fromB.lossPct())
		})
	}
}
