package dns_test

import (
	"net"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// BenchmarkQuery is the latency a resolver client in the pod sees for a name that does
// not match, over UDP from a fresh source port (as a stub resolver asks) and over one
// TCP connection: straight to the server (no fault), then through the agent's
// resolver (fault active on another name). The difference is the no-fault overhead
// of the DNS path.
func BenchmarkQuery(b *testing.B) {
	p := rtest.NewPair(b)
	upstream(b, p)
	ns4 := net.JoinHostPort(p.PeerIP.String(), "53")
	run := func(b *testing.B, network string) {
		for b.Loop() {
			m, _, err := query(p, network, ns4, "real.example.com", mdns.TypeA, false, nil)
			if err != nil || addrs(m) != "192.0.2.10" {
				b.Fatalf("%v %v", m, err)
			}
		}
	}
	for _, network := range []string{"udp", "tcp"} {
		b.Run("direct/"+network, func(b *testing.B) { run(b, network) })
	}
	_, rec := apply(b, p, plan.DNS{Patterns: []string{"other.example.com"}, Error: "NXDOMAIN"})
	defer rec()
	for _, network := range []string{"udp", "tcp"} {
		b.Run("resolver/"+network, func(b *testing.B) { run(b, network) })
	}
}
