package network

import (
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// FuzzValidate: CIDRs, ports, interfaces, percentages, latencies, rates and
// directions as a forged plan or a user could give them. Validate refuses or accepts;
// an accepted spec renders its dry-run objects. Never a panic.
func FuzzValidate(f *testing.F) {
	f.Add("10.0.0.0/8", "eth0", uint16(80), "tcp", 10.0, int64(100e6), int64(10e6), uint64(1e6), "both", "10.1.0.0/16")
	f.Add("fd00::1/64", "eth0:1", uint16(0), "sctp", 101.0, int64(-1), int64(2e9), uint64(0), "sideways", "::/0")
	f.Add("1.2.3.4", "", uint16(65535), "icmp", 0.0001, int64(60e9), int64(60e9), uint64(100e9), "to", "0.0.0.0/0")
	f.Add("10.0.0.300/8", "abcdefghijklmnop", uint16(1), "udp", -0.0, int64(0), int64(0), uint64(7), "from", "not-a-cidr")
	f.Fuzz(func(t *testing.T, cidr, iface string, port uint16, proto string, pct float64, lat, jit int64, rate uint64, dir, peer string) {
		filter := plan.Filter{CIDRs: []string{cidr}, Interfaces: []string{iface}, Ports: []uint16{port}, Protocol: proto}
		specs := []plan.Fault{
			{Kind: plan.KindNetwork, Action: "delay", Network: &plan.Network{Delay: &plan.Delay{Latency: plan.Duration(lat), Jitter: plan.Duration(jit), Correlation: pct}, Filter: filter}},
			{Kind: plan.KindNetwork, Action: "loss", Network: &plan.Network{Loss: &plan.Percent{Percent: pct}, Filter: filter}},
			{Kind: plan.KindNetwork, Action: "reorder", Network: &plan.Network{Reorder: &plan.Reorder{Percent: pct, Gap: uint32(port)},
				Delay: &plan.Delay{Latency: plan.Duration(time.Duration(lat))}, Filter: filter}},
			{Kind: plan.KindNetwork, Action: "bandwidth", Network: &plan.Network{Bandwidth: &plan.Bandwidth{Rate: rate, Limit: uint32(jit), Buffer: uint32(lat)}, Filter: filter}},
			{Kind: plan.KindNetwork, Action: "partition", Network: &plan.Network{Partition: &plan.Partition{Direction: dir, Peers: []string{peer}}, Filter: filter}},
		}
		for _, f := range specs {
			e, err := catalog.For(f)
			if err != nil {
				t.Fatal(err)
			}
			if e.Validate(f) != nil {
				continue
			}
			_ = e.Describe(f)
		}
	})
}
