package network

import (
	"context"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// BenchmarkApplyRecover times the agent's inject (Apply) and recover (Recover) of each
// fault in a fresh target netns with one veth. The journal is in memory here; the real
// journal adds one fsync per entry. Run: go test -run '^$' -bench ApplyRecover ./internal/fault/network
func BenchmarkApplyRecover(b *testing.B) {
	cases := []struct {
		name string
		n    plan.Network
	}{
		{"tbf", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 10_000_000}}},
		{"tbf-filtered-htb-u32", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 10_000_000}, Filter: plan.Filter{CIDRs: []string{"10.0.0.0/8", "fd00::/8"}, Ports: []uint16{80}}}},
		{"nft-loss", plan.Network{Loss: &plan.Percent{Percent: 20}, LossBackend: BackendNFT}},
		{"partition-both", plan.Network{Partition: &plan.Partition{Direction: "both", Peers: []string{"10.250.7.2/32", "fd42:c4a0:5::2/128"}}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tp := newTopo(b)
			inj, err := fault.New(plan.Fault{Kind: plan.KindNetwork, Network: &c.n})
			if err != nil {
				b.Fatal(err)
			}
			var inject, recov time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				act, err := inj.Apply(context.Background(), tp.faultTarget(), &memRecorder{})
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := act.Recover(context.Background()); err != nil {
					b.Fatal(err)
				}
				inject += t1.Sub(t0)
				recov += time.Since(t1)
			}
			b.StopTimer()
			b.ReportMetric(float64(inject.Microseconds())/float64(b.N), "inject-µs")
			b.ReportMetric(float64(recov.Microseconds())/float64(b.N), "recover-µs")
			if left := tp.ourObjects(); len(left) > 0 {
				b.Fatalf("left behind: %v", left)
			}
		})
	}
}
