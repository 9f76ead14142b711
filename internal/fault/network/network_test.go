package network

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func ms(n int) plan.Duration { return plan.Duration(time.Duration(n) * time.Millisecond) }

func TestValidate(t *testing.T) {
	ok := []plan.Network{
		{Delay: &plan.Delay{Latency: ms(100), Jitter: ms(10), Correlation: 25}},
		{Loss: &plan.Percent{Percent: 100}},
		{Loss: &plan.Percent{Percent: 0.5}, LossBackend: "nft", Filter: plan.Filter{Direction: "both"}},
		{Bandwidth: &plan.Bandwidth{Rate: 8}},
		{Bandwidth: &plan.Bandwidth{Rate: MaxRate}, Filter: plan.Filter{CIDRs: []string{"fd00::/64"}, Ports: []uint16{443}, Protocol: "tcp"}},
		{Reorder: &plan.Reorder{Percent: 25, Gap: 5}, Delay: &plan.Delay{Latency: ms(10)}},
		{Partition: &plan.Partition{Direction: "to", Peers: []string{"10.0.0.1/32"}}},
		{Partition: &plan.Partition{}, Filter: plan.Filter{Ports: []uint16{53}}},
	}
	for i, n := range ok {
		if err := Validate(&n); err != nil {
			t.Errorf("ok[%d] %s: %v", i, n.Summary(), err)
		}
	}
	bad := []struct {
		n    plan.Network
		want string
	}{
		{plan.Network{}, "nothing to do"},
		{plan.Network{Delay: &plan.Delay{}}, "--latency"},
		{plan.Network{Delay: &plan.Delay{Latency: plan.Duration(2 * time.Hour)}}, "--latency must be in (0, 1m]"},
		{plan.Network{Delay: &plan.Delay{Latency: ms(1), Jitter: ms(-1)}}, "--jitter"},
		{plan.Network{Delay: &plan.Delay{Latency: ms(1), Correlation: 101}}, "--correlation must be in [0, 100]"},
		{plan.Network{Loss: &plan.Percent{Percent: 101}}, "--percent must be in (0, 100]"},
		{plan.Network{Loss: &plan.Percent{Percent: 0}}, "--percent"},
		{plan.Network{Duplicate: &plan.Percent{Percent: -1}}, "--percent"},
		{plan.Network{Bandwidth: &plan.Bandwidth{Rate: 0}}, "--rate must be in [8bit, 100gbit]"},
		{plan.Network{Bandwidth: &plan.Bandwidth{Rate: 200_000_000_000}}, "--rate"},
		{plan.Network{Reorder: &plan.Reorder{Percent: 10}}, "reorder needs --latency"},
		{plan.Network{Partition: &plan.Partition{Direction: "to"}}, "partition needs at least one peer"},
		{plan.Network{Partition: &plan.Partition{Direction: "up", Peers: []string{"10.0.0.0/8"}}}, "--direction must be to, from or both"},
		{plan.Network{Partition: &plan.Partition{Peers: []string{"10.0.0.1"}}}, "needs a mask"},
		{plan.Network{Loss: &plan.Percent{Percent: 1}, Filter: plan.Filter{CIDRs: []string{"10.0.0.1"}}}, "--cidr \"10.0.0.1\" needs a mask"},
		{plan.Network{Loss: &plan.Percent{Percent: 1}, Filter: plan.Filter{CIDRs: []string{"10.0.0.300/8"}}}, "--cidr"},
		{plan.Network{Loss: &plan.Percent{Percent: 1}, Filter: plan.Filter{Ports: []uint16{0}}}, "--port must be in [1, 65535]"},
		{plan.Network{Loss: &plan.Percent{Percent: 1}, Filter: plan.Filter{Protocol: "sctp"}}, "--protocol must be tcp, udp or icmp"},
		{plan.Network{Loss: &plan.Percent{Percent: 1}, Filter: plan.Filter{Protocol: "icmp", Ports: []uint16{1}}}, "--port needs"},
		{plan.Network{Loss: &plan.Percent{Percent: 1}, Filter: plan.Filter{Interfaces: []string{"a/b"}}}, "--interface"},
		{plan.Network{Loss: &plan.Percent{Percent: 1}, Filter: plan.Filter{Direction: "sideways"}}, "--direction must be to, from or both"},
		{plan.Network{Delay: &plan.Delay{Latency: ms(1)}, Filter: plan.Filter{Direction: "ingress"}}, "loss and partition only"},
		{plan.Network{Loss: &plan.Percent{Percent: 1}, LossBackend: "netem", Filter: plan.Filter{Direction: "ingress"}}, "--loss-backend nft"},
		{plan.Network{Loss: &plan.Percent{Percent: 1}, LossBackend: "iptables"}, "--loss-backend must be auto, netem or nft"},
		{plan.Network{Delay: &plan.Delay{Latency: ms(1)}, DelayBackend: "ebpf"}, "--delay-backend must be auto, netem or nfqueue"},
		{plan.Network{Loss: &plan.Percent{Percent: 1}, Partition: &plan.Partition{Peers: []string{"10.0.0.0/8"}}}, "cannot be combined"},
		{plan.Network{Duplicate: &plan.Percent{Percent: 1}, DuplicateBackend: "nfqueue"}, "--duplicate-backend must be auto, netem or nft"},
		{plan.Network{Duplicate: &plan.Percent{Percent: 1, Correlation: 5}, DuplicateBackend: "nft"}, "--correlation is not supported with --duplicate-backend nft"},
		{plan.Network{Duplicate: &plan.Percent{Percent: 1}, Filter: plan.Filter{Direction: "ingress"}}, "only outgoing packets can be duplicated"},
		{plan.Network{Corrupt: &plan.Percent{Percent: 1}, CorruptBackend: "nft"}, "--corrupt-backend must be auto, netem or nfqueue"},
		{plan.Network{Corrupt: &plan.Percent{Percent: 1, Correlation: 5}, CorruptBackend: "nfqueue"}, "--correlation is not supported with --corrupt-backend nfqueue"},
		{plan.Network{Reorder: &plan.Reorder{Percent: 1}, Delay: &plan.Delay{Latency: ms(1)}, ReorderBackend: "nft"}, "--reorder-backend must be auto, netem or nfqueue"},
		{plan.Network{Reorder: &plan.Reorder{Percent: 1}, Delay: &plan.Delay{Latency: ms(1)}, ReorderBackend: "nfqueue", DelayBackend: "netem"}, "use one backend"},
	}
	for _, c := range bad {
		err := Validate(&c.n)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.n.Summary(), err, c.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	kinds := func(os []plan.Object, cond string) string {
		var s []string
		for _, o := range os {
			if o.Condition == cond {
				s = append(s, o.Kind)
			}
		}
		return strings.Join(s, ",")
	}
	cases := []struct {
		name      string
		n         plan.Network
		netem     string // kinds with condNetem
		noNetem   string // kinds with condNoNet
		uncondit  string // kinds without condition
		specMatch string
	}{
		{"loss", plan.Network{Loss: &plan.Percent{Percent: 30}}, "qdisc", "nft-table,nft-chain", "", "numgen random mod 10000 < 3000 drop"},
		{"loss nft", plan.Network{Loss: &plan.Percent{Percent: 30}, LossBackend: "nft"}, "", "", "nft-table,nft-chain", "hook egress"},
		{"delay", plan.Network{Delay: &plan.Delay{Latency: ms(100)}}, "qdisc", "nfqueue", "", "netem delay 100ms handle 4b43: root"},
		{"duplicate", plan.Network{Duplicate: &plan.Percent{Percent: 1}}, "qdisc", "nft-table,nft-chain", "", "numgen random mod 10000 < 100 meta mark set 0x4b43 dup to <if>"},
		{"duplicate netem", plan.Network{Duplicate: &plan.Percent{Percent: 1}, DuplicateBackend: "netem"}, "qdisc", "error", "", "modprobe sch_netem"},
		{"duplicate nft", plan.Network{Duplicate: &plan.Percent{Percent: 1}, DuplicateBackend: "nft"}, "", "", "nft-table,nft-chain", "hook egress device <if> priority -499"},
		{"corrupt", plan.Network{Corrupt: &plan.Percent{Percent: 5}}, "qdisc", "nft-table,nft-chain,nft-rule,nfqueue", "", "numgen random mod 10000 < 500 queue num 19269 bypass"},
		{"corrupt nfqueue", plan.Network{Corrupt: &plan.Percent{Percent: 5}, CorruptBackend: "nfqueue"}, "", "", "nft-table,nft-chain,nft-rule,nfqueue", "flips one random bit"},
		{"reorder", plan.Network{Delay: &plan.Delay{Latency: ms(10)}, Reorder: &plan.Reorder{Percent: 25, Gap: 5}}, "qdisc", "nft-table,nft-chain,nft-rule,nft-chain,nft-rule,nfqueue", "", "every 5-th packet, with probability 25%"},
		{"reorder netem", plan.Network{Delay: &plan.Delay{Latency: ms(10)}, Reorder: &plan.Reorder{Percent: 25}, ReorderBackend: "netem"}, "qdisc", "error", "", "reorder with --reorder-backend netem"},
		{"bandwidth", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 1_000_000}}, "", "", "qdisc", "tbf rate 1mbit"},
		{"delay+bw", plan.Network{Delay: &plan.Delay{Latency: ms(5)}, Bandwidth: &plan.Bandwidth{Rate: 1_000_000}}, "qdisc,qdisc", "qdisc,nfqueue", "", "parent 4b43:1"},
		{"filtered", plan.Network{Delay: &plan.Delay{Latency: ms(5)}, Filter: plan.Filter{Ports: []uint16{80}}}, "qdisc,tc-class,tc-class,qdisc,tc-filter", "nfqueue", "", "u32 th sport/dport { 80 } flowid 4b43:1 (8 filters"},
		{"partition", plan.Network{Partition: &plan.Partition{Direction: "both", Peers: []string{"10.0.0.0/8"}}}, "", "", "nft-table,nft-chain,nft-chain", "no EPERM"},
	}
	for _, c := range cases {
		objs := Describe(&c.n)
		if got := kinds(objs, condNetem); got != c.netem {
			t.Errorf("%s: with netem %q, want %q", c.name, got, c.netem)
		}
		// nfqdelay (another package) decides its own objects; it ends with "nfqueue".
		if got := kinds(objs, condNoNet); got != c.noNetem && !(strings.HasSuffix(c.noNetem, "nfqueue") && strings.HasSuffix(got, "nfqueue") && strings.HasPrefix(got, strings.TrimSuffix(c.noNetem, "nfqueue"))) {
			t.Errorf("%s: without netem %q, want %q", c.name, got, c.noNetem)
		}
		if got := kinds(objs, ""); got != c.uncondit {
			t.Errorf("%s: unconditional %q, want %q", c.name, got, c.uncondit)
		}
		var all []string
		for _, o := range objs {
			all = append(all, o.Spec+" / "+o.Remove)
			if o.Remove == "" {
				t.Errorf("%s: object %q says nothing about removal", c.name, o.Spec)
			}
		}
		if !strings.Contains(strings.Join(all, "\n"), c.specMatch) {
			t.Errorf("%s: no object mentions %q:\n%s", c.name, c.specMatch, strings.Join(all, "\n"))
		}
	}
}
