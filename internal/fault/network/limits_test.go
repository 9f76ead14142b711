package network

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// TestLimits walks every limit of a network fault: the value at the limit is accepted,
// the value just past it is refused with an error that names the flag and the accepted
// range. These are the only checks: the verbs parse, the agent runs the same Validate.
func TestLimits(t *testing.T) {
	d := func(v time.Duration) plan.Duration { return plan.Duration(v) }
	delay := func(lat, jit time.Duration, corr float64) plan.Network {
		return plan.Network{Delay: &plan.Delay{Latency: d(lat), Jitter: d(jit), Correlation: corr}}
	}
	loss := func(p, corr float64) plan.Network {
		return plan.Network{Loss: &plan.Percent{Percent: p, Correlation: corr}}
	}
	filtered := func(f plan.Filter) plan.Network { f2 := loss(1, 0); f2.Filter = f; return f2 }
	ports := func(n int) []uint16 {
		out := make([]uint16, n)
		for i := range out {
			out[i] = uint16(1000 + i)
		}
		return out
	}
	reorder := func(p, corr float64, gap uint32) plan.Network {
		return plan.Network{Delay: &plan.Delay{Latency: d(10 * time.Millisecond)}, Reorder: &plan.Reorder{Percent: p, Correlation: corr, Gap: gap}}
	}
	const (
		latRange  = "--latency must be in (0, 1m]"
		jitRange  = "--jitter must be in [0, --latency"
		corrRange = "--correlation must be in [0, 100]"
		pctRange  = "--percent must be in (0, 100]"
		rateRange = "--rate must be in [8bit, 100gbit]"
		ifName    = "is not an interface name"
	)
	tests := []struct {
		name string
		n    plan.Network
		want string // "" = accepted
	}{
		{"latency at MaxLatency", delay(MaxLatency, 0, 0), ""},
		{"latency past MaxLatency", delay(MaxLatency+time.Nanosecond, 0, 0), latRange},
		{"latency 0", delay(0, 0, 0), latRange},
		{"latency negative", delay(-time.Millisecond, 0, 0), latRange},
		{"jitter = latency", delay(100*time.Millisecond, 100*time.Millisecond, 0), ""},
		{"jitter past latency", delay(100*time.Millisecond, 100*time.Millisecond+1, 0), jitRange + " (100ms)], got 100.000001ms"},
		{"jitter negative", delay(100*time.Millisecond, -1, 0), jitRange},
		{"delay correlation 100", delay(time.Millisecond, time.Millisecond, MaxCorrelation), ""},
		{"delay correlation past 100", delay(time.Millisecond, time.Millisecond, 100.01), corrRange + ", got 100.01"},
		{"delay correlation negative", delay(time.Millisecond, 0, -0.01), corrRange},
		{"delay correlation NaN", delay(time.Millisecond, 0, math.NaN()), corrRange},
		{"percent 100", loss(MaxPercent, 0), ""},
		{"percent 0.01", loss(0.01, 0), ""},
		{"percent past 100", loss(100.5, 0), pctRange + ", got 100.5"},
		{"percent 0", loss(0, 0), pctRange},
		{"percent NaN", loss(math.NaN(), 0), pctRange},
		{"duplicate percent past 100", plan.Network{Duplicate: &plan.Percent{Percent: 101}}, pctRange},
		{"corrupt percent 0", plan.Network{Corrupt: &plan.Percent{}}, pctRange},
		{"loss correlation 100", loss(1, 100), ""},
		{"loss correlation past 100", loss(1, 101), corrRange},
		{"corrupt correlation negative", plan.Network{Corrupt: &plan.Percent{Percent: 1, Correlation: -1}}, corrRange},
		{"reorder percent past 100", reorder(101, 0, 0), pctRange},
		{"reorder correlation past 100", reorder(10, 101, 0), corrRange},
		{"gap at MaxGap", reorder(10, 0, MaxGap), ""},
		{"gap past MaxGap", reorder(10, 0, MaxGap+1), "--gap must be in [0, 1000000], got 1000001"},
		{"rate at MinRate", plan.Network{Bandwidth: &plan.Bandwidth{Rate: MinRate}}, ""},
		{"rate below MinRate", plan.Network{Bandwidth: &plan.Bandwidth{Rate: MinRate - 1}}, rateRange + ", got 7bit"},
		{"rate at MaxRate", plan.Network{Bandwidth: &plan.Bandwidth{Rate: MaxRate}}, ""},
		{"rate past MaxRate", plan.Network{Bandwidth: &plan.Bandwidth{Rate: MaxRate + 1}}, rateRange},
		{"port 1", filtered(plan.Filter{Ports: []uint16{MinPort}}), ""},
		{"port 65535", filtered(plan.Filter{Ports: []uint16{MaxPort}}), ""},
		{"port 0", filtered(plan.Filter{Ports: []uint16{0}}), "--port must be in [1, 65535], got 0"},
		{"interface of 15 characters", filtered(plan.Filter{Interfaces: []string{strings.Repeat("e", MaxIfName)}}), ""},
		{"interface of 16 characters", filtered(plan.Filter{Interfaces: []string{strings.Repeat("e", MaxIfName+1)}}), ifName + ": longer than 15 characters (1-15 characters"},
		{"VLAN interface eth0.100", filtered(plan.Filter{Interfaces: []string{"eth0.100"}}), ""},
		{"interface eth0:1", filtered(plan.Filter{Interfaces: []string{"eth0:1"}}), `--interface "eth0:1" ` + ifName + ": ':' marks an address label"},
		{"interface with /", filtered(plan.Filter{Interfaces: []string{"a/b"}}), ifName + ": '/'"},
		{"interface with a space", filtered(plan.Filter{Interfaces: []string{"a b"}}), ifName + ": white space"},
		{"interface with a tab", filtered(plan.Filter{Interfaces: []string{"a\tb"}}), ifName + ": white space"},
		{"interface empty", filtered(plan.Filter{Interfaces: []string{""}}), ifName + ": empty"},
		{"interface ..", filtered(plan.Filter{Interfaces: []string{".."}}), ifName},
		{"filter expanding to MaxMatchRules", filtered(plan.Filter{CIDRs: []string{"10.0.0.0/8", "fd00::/8"}, Protocol: "tcp", Ports: ports(128)}), ""},
		{"filter expanding past MaxMatchRules", filtered(plan.Filter{CIDRs: []string{"10.0.0.0/8", "fd00::/8"}, Protocol: "tcp", Ports: ports(129)}), "expand to 516 tc filters or nft rules, more than 512"},
		{"interfaces multiply the rules", filtered(plan.Filter{Interfaces: []string{"eth0", "eth1"}, Protocol: "udp", Ports: ports(65)}), "expand to 520"},
		{"partition of 512 peers", plan.Network{Partition: &plan.Partition{Direction: "both", Peers: peers(512)}}, ""},
		{"partition of 513 peers", plan.Network{Partition: &plan.Partition{Direction: "both", Peers: peers(513)}}, "more than 512"},
		{"cidr without a mask", filtered(plan.Filter{CIDRs: []string{"10.0.0.1"}}), `--cidr "10.0.0.1" needs a mask`},
		{"cidr not a CIDR", filtered(plan.Filter{CIDRs: []string{"10.0.0.300/8"}}), "--cidr must be an IPv4 or IPv6 CIDR"},
		{"protocol sctp", filtered(plan.Filter{Protocol: "sctp"}), `--protocol must be tcp, udp or icmp, got "sctp"`},
		{"port with icmp", filtered(plan.Filter{Protocol: "icmp", Ports: []uint16{7}}), "--port needs --protocol tcp or udp"},
		{"direction sideways", filtered(plan.Filter{Direction: "sideways"}), "--direction must be to, from or both"},
		{"partition direction up", plan.Network{Partition: &plan.Partition{Direction: "up", Peers: peers(1)}}, "--direction must be to, from or both"},
		{"partition --to empty", plan.Network{Partition: &plan.Partition{Direction: "both", To: []string{" "}}}, "--to: empty peer"},
		{"delay backend ebpf", plan.Network{Delay: &plan.Delay{Latency: d(time.Millisecond)}, DelayBackend: "ebpf"}, "--delay-backend must be auto, netem or nfqueue"},
		{"loss backend iptables", plan.Network{Loss: &plan.Percent{Percent: 1}, LossBackend: "iptables"}, "--loss-backend must be auto, netem or nft"},
	}
	for _, tt := range tests {
		err := Validate(&tt.n)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	// --port values the spec cannot hold are refused by the verbs with the same check.
	if err := CheckPort(MaxPort + 1); err == nil || !strings.Contains(err.Error(), "--port must be in [1, 65535], got 65536") {
		t.Errorf("CheckPort(65536) = %v", err)
	}
}

func peers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.1.%d.%d/32", i/256, i%256)
	}
	return out
}
