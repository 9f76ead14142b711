package netobj

import (
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestRender(t *testing.T) {
	tc := TC{Interface: "eth0", Root: 0x4b43}
	tbl := Table{Family: "netdev", Name: "kubectl_chaos_x"}
	owned := Table{Family: "inet", Name: "kubectl_chaos_y", Owner: true}
	for _, c := range []struct {
		got  plan.Object
		want plan.Object
	}{
		{tc.Qdisc("netem delay 100ms", 0x4b43, ""), plan.Object{Kind: KindQdisc, Interface: "eth0",
			Spec:   "netem delay 100ms handle 4b43: root",
			Remove: "tc qdisc del dev eth0 root handle 4b43: (only while the root qdisc has that handle and type)"}},
		{tc.Qdisc("netem loss 1%", 0x4b44, Handle(0x4b43, 1)), plan.Object{Kind: KindQdisc, Interface: "eth0",
			Spec: "netem loss 1% handle 4b44: parent 4b43:1", Remove: "removed with the root qdisc 4b43: of eth0"}},
		{tc.Class(2, "rate 100gbit"), plan.Object{Kind: KindClass, Interface: "eth0",
			Spec: "htb classid 4b43:2 rate 100gbit", Remove: "removed with the root qdisc 4b43: of eth0"}},
		{tc.Filter(Match{Remote: []string{"10.0.0.0/8"}, Protocol: "tcp"}, 1, 1), plan.Object{Kind: KindFilter, Interface: "eth0",
			Spec:   "u32 ip/ip6 daddr { 10.0.0.0/8 } meta l4proto tcp flowid 4b43:1 (1 filters; ports assume no IP options or extension headers)",
			Remove: "removed with the root qdisc 4b43: of eth0"}},
		{tbl.Object(""), plan.Object{Kind: KindTable, Spec: "table netdev kubectl_chaos_x",
			Remove: "nft delete table netdev kubectl_chaos_x (by the agent, or from the journal after a crash: this kernel has no owned tables)"}},
		{owned.Object("agent flushes"), plan.Object{Kind: KindTable, Spec: "table inet kubectl_chaos_y { flags owner; }",
			Remove: "agent flushes; the kernel deletes it when the agent's netlink socket closes (agent killed)"}},
		{tbl.Chain("ingress_eth0", Hook{Name: "ingress", Device: "eth0", Priority: -500}, "drop"), plan.Object{Kind: KindChain, Interface: "eth0",
			Spec:   "chain ingress_eth0 { type filter hook ingress device eth0 priority -500; policy accept; } drop",
			Remove: "deleted with table netdev kubectl_chaos_x"}},
		{owned.Rule("delay_in", "queue num 1", "flushed first"), plan.Object{Kind: KindRule,
			Spec: "chain delay_in: queue num 1", Remove: "flushed first, then deleted with table inet kubectl_chaos_y"}},
	} {
		if c.got != c.want {
			t.Errorf("got  %+v\nwant %+v", c.got, c.want)
		}
	}
	for m, want := range map[*Match]string{
		{}:                                     "",
		{Ingress: true, SkipLoopback: true}:    `iifname != "lo"`,
		{Interfaces: []string{"eth0", "eth1"}}: "oifname { eth0, eth1 }",
		{NotTCP: true, Protocol: "udp"}:        "meta l4proto != tcp",
		{Ingress: true, Remote: []string{"fd00::/64"}, Ports: []uint16{53, 5353}}: "ip/ip6 saddr { fd00::/64 } th sport/dport { 53, 5353 }",
	} {
		if got := m.String(); got != want {
			t.Errorf("%+v: %q, want %q", *m, got, want)
		}
	}
	for p, want := range map[float64]uint32{100: 10000, 30: 3000, 0.005: 1, 0.004: 0, 12.345: 1235} {
		if got := LossThreshold(p); got != want {
			t.Errorf("LossThreshold(%g) = %d, want %d", p, got, want)
		}
	}
}
