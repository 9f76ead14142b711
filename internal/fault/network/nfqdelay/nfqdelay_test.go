package nfqdelay

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestLayout(t *testing.T) {
	type r = hookRule
	tests := []struct {
		name string
		f    plan.Filter
		want []hookRule
	}{
		{"egress default", plan.Filter{}, []hookRule{
			{Hook: "output", NotTCP: true, Factor: 1},
			{Hook: "prerouting", Ingress: true, Protocol: "tcp", Factor: 1},
		}},
		{"egress udp", plan.Filter{Protocol: "udp", Direction: "egress"}, []hookRule{
			{Hook: "output", Protocol: "udp", Factor: 1},
		}},
		{"egress tcp", plan.Filter{Protocol: "tcp"}, []hookRule{
			{Hook: "prerouting", Ingress: true, Protocol: "tcp", Factor: 1},
		}},
		{"egress ports", plan.Filter{Ports: []uint16{53}}, []hookRule{
			{Hook: "output", Protocol: "udp", Factor: 1},
			{Hook: "prerouting", Ingress: true, Protocol: "tcp", Factor: 1},
		}},
		{"ingress", plan.Filter{Direction: "ingress"}, []hookRule{
			{Hook: "prerouting", Ingress: true, NotTCP: true, Factor: 1},
			{Hook: "prerouting", Ingress: true, Protocol: "tcp", Factor: 1},
		}},
		{"both", plan.Filter{Direction: "both"}, []hookRule{
			{Hook: "prerouting", Ingress: true, NotTCP: true, Factor: 1},
			{Hook: "output", NotTCP: true, Factor: 1},
			{Hook: "prerouting", Ingress: true, Protocol: "tcp", Factor: 2},
		}},
		{"both icmp", plan.Filter{Direction: "both", Protocol: "icmp"}, []hookRule{
			{Hook: "prerouting", Ingress: true, Protocol: "icmp", Factor: 1},
			{Hook: "output", Protocol: "icmp", Factor: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, layout(tt.f)); d != "" {
				t.Errorf("layout(%+v) (-want +got):\n%s", tt.f, d)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	d := plan.Delay{Latency: plan.Duration(100 * time.Millisecond), Jitter: plan.Duration(10 * time.Millisecond)}
	objs := Describe(d, plan.Filter{CIDRs: []string{"10.0.0.0/8"}})
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.Kind)
		if o.Remove == "" {
			t.Errorf("object %+v says nothing about its removal", o)
		}
	}
	want := []string{"nft-table", "nft-chain", "nft-rule", "nft-chain", "nft-rule", "nfqueue"}
	if d := cmp.Diff(want, kinds); d != "" {
		t.Fatalf("kinds (-want +got):\n%s", d)
	}
	all := ""
	for _, o := range objs {
		all += o.Spec + "\n"
	}
	for _, s := range []string{"flags owner", "hook output", "hook prerouting", "ip/ip6 daddr { 10.0.0.0/8 }",
		"ip/ip6 saddr { 10.0.0.0/8 }", "meta l4proto != tcp", "bypass", "100ms±10ms"} {
		if !strings.Contains(all, s) {
			t.Errorf("Describe misses %q in:\n%s", s, all)
		}
	}
	if n := Note(plan.Filter{}); !strings.Contains(n, "TCP small queues") || !strings.Contains(n, "prerouting") {
		t.Errorf("Note does not explain the TCP hook: %s", n)
	}
}

func TestSamplerOrderFreeStats(t *testing.T) {
	d := plan.Delay{Latency: plan.Duration(50 * time.Millisecond), Jitter: plan.Duration(10 * time.Millisecond)}
	for _, corr := range []float64{0, 75} {
		d.Correlation = corr
		s := newSampler(d, 1, 1)
		var sum, min, max time.Duration
		min = time.Hour
		var steps time.Duration
		prev := s.next()
		const n = 20000
		for i := 0; i < n; i++ {
			v := s.next()
			sum += v
			min, max = minD(min, v), maxD(max, v)
			steps += absD(v - prev)
			prev = v
		}
		mean := sum / n
		if mean < 49*time.Millisecond || mean > 51*time.Millisecond || min < 40*time.Millisecond || max > 60*time.Millisecond {
			t.Errorf("correlation %g: mean %s min %s max %s, want 50ms±10ms", corr, mean, min, max)
		}
		t.Logf("correlation %g: mean %s, mean step %s", corr, mean, steps/n)
		if corr > 0 && steps/n > 4*time.Millisecond {
			t.Errorf("correlation %g: successive delays differ by %s on average: not correlated", corr, steps/n)
		}
		if corr == 0 && steps/n < 5*time.Millisecond {
			t.Errorf("no correlation: successive delays differ by only %s on average", steps/n)
		}
	}
}

func minD(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

func maxD(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

func absD(a time.Duration) time.Duration {
	if a < 0 {
		return -a
	}
	return a
}
