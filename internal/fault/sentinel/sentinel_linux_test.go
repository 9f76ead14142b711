package sentinel

import (
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/dns"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/http"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/network"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// sentinelCase is one fault: what the agent is asked and how its effect on the target
// is measured (before and during it, in the same run) and judged.
type sentinelCase struct {
	name    string
	fault   plan.Fault
	measure func(t *testing.T, p *rtest.Pair) float64
	unit    string
	// check judges the measure with the fault against the baseline ("" = as asked).
	check func(base, with float64) string
}

// rateAsked is low enough that the veth's goodput stays well above it on this loaded
// machine (26 Mbit/s at the least, at load 37; ≈200 at load 20).
const rateAsked = 2_000_000

// rateCheck: at most 1.5 times the rate asked, from a baseline at least twice that.
func rateCheck(base, with float64) string {
	if lim := 1.5 * rateAsked / 1e6; with > lim || base < 2*lim {
		return fmt.Sprintf("want ≤ %.1f Mbit/s (%.0f asked) from a baseline ≥ %.1f", lim, rateAsked/1e6, 2*lim)
	}
	return ""
}

func ms(n int) plan.Duration { return plan.Duration(time.Duration(n) * time.Millisecond) }

func netFault(action string, n plan.Network) plan.Fault {
	return plan.Fault{Kind: plan.KindNetwork, Action: action, Network: &n}
}

// within says whether with lies in [lo, hi] and the baseline at most baseMax.
func within(lo, hi, baseMax float64) func(base, with float64) string {
	return func(base, with float64) string {
		if base > baseMax || with < lo || with > hi {
			return fmt.Sprintf("want the baseline ≤ %.0f and the fault's in [%.0f, %.0f]", baseMax, lo, hi)
		}
		return ""
	}
}

// cases: every network backend this kernel has (no sch_netem here: its faults are the
// nft and NFQUEUE fallbacks; tbf and htb are tc), partition, and the DNS and HTTP
// redirects, whose listeners, upstream dials and conntrack lookups are the agent's own
// sockets. Traffic goes from the target ("pod") to its peer unless said otherwise.
// Tolerances: binomial at n = 400 (σ ≤ 2.5 points) gives ±20 points 8σ of room.
func cases() []sentinelCase {
	udp := func(port int, v6 bool) func(t *testing.T, p *rtest.Pair) float64 {
		return func(t *testing.T, p *rtest.Pair) float64 { return udpSeq(t, p, port, v6).lossPct() }
	}
	return []sentinelCase{
		{"nft loss", netFault("loss", plan.Network{Loss: &plan.Percent{Percent: 50}, LossBackend: "nft"}),
			udp(7601, false), "% lost", within(30, 70, 2)},
		{"nft duplicate", netFault("duplicate", plan.Network{Duplicate: &plan.Percent{Percent: 50}, DuplicateBackend: "nft"}),
			func(t *testing.T, p *rtest.Pair) float64 { return udpSeq(t, p, 7602, false).extraPct() },
			"% extra datagrams", within(30, 70, 2)},
		{"nfqueue delay", netFault("delay", plan.Network{Delay: &plan.Delay{Latency: ms(60)}, DelayBackend: "nfqueue"}),
			udpRTT, "ms RTT p10", func(base, with float64) string {
				if with-base < 45 || with-base > 90 {
					return "want 60 ms added (45…90)"
				}
				return ""
			}},
		{"nfqueue corrupt", netFault("corrupt", plan.Network{Corrupt: &plan.Percent{Percent: 50}, CorruptBackend: "nfqueue",
			Filter: plan.Filter{Protocol: "udp"}}),
			func(t *testing.T, p *rtest.Pair) float64 { return udpSeq(t, p, 7604, true).notIntactPct() },
			"% not intact (IPv6: the checksum drops a flipped datagram)", within(30, 70, 2)},
		{"nfqueue reorder", netFault("reorder", plan.Network{Delay: &plan.Delay{Latency: ms(100)}, Reorder: &plan.Reorder{Percent: 50},
			ReorderBackend: "nfqueue", Filter: plan.Filter{Protocol: "udp", Ports: []uint16{7605}}}),
			func(t *testing.T, p *rtest.Pair) float64 { return udpSeq(t, p, 7605, false).latePct() },
			"% arriving after a later one", within(25, 75, 2)},
		{"tbf bandwidth", netFault("bandwidth", plan.Network{Bandwidth: &plan.Bandwidth{Rate: rateAsked}}),
			tcpMbit, "Mbit/s", rateCheck},
		{"htb bandwidth filtered", netFault("bandwidth", plan.Network{Bandwidth: &plan.Bandwidth{Rate: rateAsked},
			Filter: plan.Filter{CIDRs: []string{"10.231.0.2/32"}}}),
			tcpMbit, "Mbit/s", rateCheck},
		{"partition", netFault("partition", plan.Network{Partition: &plan.Partition{Direction: "both", Peers: []string{"10.231.0.2/32"}}}),
			udp(7608, false), "% lost", within(99, 100, 2)},
		{"dns redirect", plan.Fault{Kind: plan.KindDNS, DNS: &plan.DNS{Patterns: []string{"fail.sentinel.test"}, Error: "NXDOMAIN"}},
			dnsScore, "of 2 names answered as asked (matching: NXDOMAIN, other: forwarded)", func(base, with float64) string {
				if base != 1 || with != 2 {
					return "want 1 before (the other name) and 2 with the fault"
				}
				return ""
			}},
		{"http redirect", plan.Fault{Kind: plan.KindHTTP, HTTP: &plan.HTTP{Action: plan.HTTPAbort, Port: 8080, Path: "/fail", Code: 503}},
			httpScore, "of 2 requests answered as asked (/fail: 503, /pass: the app's 200)", func(base, with float64) string {
				if base != 1 || with != 2 {
					return "want 1 before (/pass) and 2 with the fault"
				}
				return ""
			}},
	}
}

// TestAgentInSentinelNetns is the proof behind the helper pod's hostNetwork (issue 17):
// the agent, a whole process started in a sentinel namespace standing in for the
// node's, applies each fault to a target namespace; the fault's effect is measured
// there against a baseline of the same run, and the sentinel — links, addresses, routes,
// rules, neighbours, qdiscs, classes, filters, the nft ruleset, sockets and conntrack
// entries — is the same, byte for byte, during the fault and after the agent recovered
// and exited. Every thread of the agent is in the sentinel or the target's namespace.
func TestAgentInSentinelNetns(t *testing.T) {
	nstest.RequireRoot(t)
	s := newSentinel(t)
	p := rtest.NewPair(t)
	servers(t, p)
	before := s.snapshot(t)
	for i, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			base := c.measure(t, p)
			pl := &plan.Plan{Version: plan.Version, Experiment: fmt.Sprintf("hostnet-sentinel-%02d", i), Node: "sentinel-node",
				CreatedAt: time.Now(), Deadline: time.Now().Add(5 * time.Minute), Fault: c.fault,
				Targets: []plan.Target{{Namespace: "default", Pod: p.Pod, Container: "app", ContainerID: "containerd://" + p.Pod}}}
			a := startAgent(t, s, pl, tgt{p.PodNetns, p.PodInode, p.PodPID})
			ev := a.injected(t)
			with := c.measure(t, p)
			a.threadsIn(t, s.ino, p.PodInode)
			during := s.snapshot(t)
			t.Logf("%s: %.1f before, %.1f with the fault (%s); %d objects in the target", c.name, base, with, c.unit, len(ev.Objects))
			if msg := c.check(base, with); msg != "" {
				t.Errorf("%s: %.1f before, %.1f with the fault (%s): %s", c.name, base, with, c.unit, msg)
			}
			if during != before {
				t.Errorf("the sentinel changed during the fault:\n%s", diff(before, during))
			}
			a.stop(t)
			if after := s.snapshot(t); after != before {
				t.Errorf("the sentinel changed after recovery:\n%s", diff(before, after))
			}
			if got := rtest.Residue(t, "hostnet-sentinel"); got != "" {
				t.Errorf("left behind:\n%s", got)
			}
		})
	}
	controls(t, s, before)
}

// controls: the snapshot sees what a leak would leave. The agent is pointed at the
// sentinel itself (as a leaking call would act on the agent's own namespace): a tc
// qdisc, an nft table and the DNS resolver's listening sockets must show in it, and be
// gone after recovery.
func controls(t *testing.T, s *sentinel, before string) {
	for i, c := range []struct {
		name  string
		fault plan.Fault
		want  []string
	}{
		{"tbf bandwidth", netFault("bandwidth", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 8_000_000}}), []string{"+ qdisc tbf 4b43:"}},
		{"nft loss", netFault("loss", plan.Network{Loss: &plan.Percent{Percent: 50}, LossBackend: "nft"}), []string{"+ table netdev kubectl_chaos_"}},
		{"dns redirect", plan.Fault{Kind: plan.KindDNS, DNS: &plan.DNS{Patterns: []string{"fail.sentinel.test"}, Error: "NXDOMAIN"}},
			[]string{"+ table inet kubectl_chaos_", ": 0100007F:"}}, // a socket on 127.0.0.1
	} {
		t.Run("control: "+c.name+" on the sentinel itself", func(t *testing.T) {
			pl := &plan.Plan{Version: plan.Version, Experiment: fmt.Sprintf("hostnet-sentinel-c%d", i), Node: "sentinel-node",
				CreatedAt: time.Now(), Deadline: time.Now().Add(5 * time.Minute), Fault: c.fault,
				Targets: []plan.Target{{Namespace: "default", Pod: s.name, Container: "app", ContainerID: "containerd://" + s.name}}}
			a := startAgent(t, s, pl, tgt{fmt.Sprintf("/proc/%d/ns/net", s.sleep), s.ino, s.sleep})
			a.injected(t)
			d := diff(before, s.snapshot(t))
			for _, w := range c.want {
				if !strings.Contains(d, w) {
					t.Errorf("the snapshot did not see %q of a fault in the sentinel; its change:\n%s", w, d)
				}
			}
			a.stop(t)
			if after := s.snapshot(t); after != before {
				t.Errorf("the sentinel changed after recovery:\n%s", diff(before, after))
			}
		})
	}
}
