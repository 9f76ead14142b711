//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
)

// The issue's "200 ms delay between two services": `network delay deploy/web --to svc/db
// --latency 200ms`; a client in web sees +200 ms to db and nothing more to cache, against
// baselines taken in the same run. The cluster has no kube-proxy, so the client talks to
// the pod behind each Service: --to svc/db resolves to the Service's pods (and its cluster
// IP), and those are what the filter matches.
func TestDelayBetweenServices(t *testing.T) {
	sc := newScenario(t)
	const latency = 200.0 // ms
	yIP := sc.Echo("db", 1)[0]
	zIP := sc.Echo("cache", 1)[0]
	sc.Echo("web", 1)
	for _, name := range []string{"db", "cache"} {
		sc.Apply(fmt.Sprintf(`{"apiVersion":"v1","kind":"Service","metadata":{"name":%q},"spec":{"selector":{"app":%q},"ports":[{"name":"udp","protocol":"UDP","port":9000}]}}`, name, name))
	}
	rtt := func(ip string, count int) probe.UDPReport {
		out := execProbe(t, sc.NS, "web", "udp", ip+":9000", "-count", fmt.Sprint(count), "-interval", "5ms", "-timeout", "600ms")
		var r probe.UDPReport
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
			t.Fatalf("udp probe output %q: %v", out, err)
		}
		return r
	}
	baseY, baseZ := rtt(yIP, 60), rtt(zIP, 60)
	t.Logf("before: web->db p50 %.2f ms p99 %.2f, web->cache p50 %.2f ms p99 %.2f", baseY.P50Ms, baseY.P99Ms, baseZ.P50Ms, baseZ.P99Ms)
	// Above the latency, what the baselines themselves scatter by (p99-p50, twice), at
	// least 20 ms; below it, a packet is never released before the latency.
	tol := func(b probe.UDPReport) float64 { return math.Max(20, 2*(b.P99Ms-b.P50Ms)) }
	// The dry run shows the peer as resolved, and says when it is.
	dry := sc.Chaos("network", "delay", "deploy/web", "--to", "svc/db", "--latency", "200ms", "--dry-run")
	if dry.Code != 0 || !strings.Contains(dry.Stdout, "svc/db") || !strings.Contains(dry.Stdout, yIP+"/32") || !strings.Contains(dry.Stdout, "as of the fault's start") {
		t.Errorf("dry run does not show svc/db resolved to %s:\n%s", yIP, dry)
	}
	runFault(sc, faultRun[probe.UDPReport]{
		Args:    []string{"network", "delay", "deploy/web", "--to", "svc/db", "--latency", "200ms", "--duration", "3m"},
		Measure: func() probe.UDPReport { return rtt(yIP, 10) },
		Active:  func(r probe.UDPReport) bool { return r.Received > 0 && r.P50Ms >= latency*0.9 },
		During: func(*session) {
			y, z := rtt(yIP, 60), rtt(zIP, 60)
			t.Logf("during --to svc/db --latency 200ms: web->db p50 %.2f ms p99 %.2f (+%.1f), web->cache p50 %.2f ms p99 %.2f (+%.1f)",
				y.P50Ms, y.P99Ms, y.P50Ms-baseY.P50Ms, z.P50Ms, z.P99Ms, z.P50Ms-baseZ.P50Ms)
			if added := y.P50Ms - baseY.P50Ms; y.Loss > 0 || y.P50Ms < latency || added > latency+tol(baseY) {
				t.Errorf("web->db: p50 %.2f ms (+%.1f over the baseline, loss %.1f%%), want +%.0f ms (tolerance +%.1f) and no loss", y.P50Ms, added, y.Loss, latency, tol(baseY))
			}
			if added := z.P50Ms - baseZ.P50Ms; z.Loss > 0 || added > tol(baseZ) || z.P50Ms > latency/2 {
				t.Errorf("web->cache (not a peer): p50 %.2f ms (+%.1f over the baseline, loss %.1f%%), want the baseline (tolerance %.1f)", z.P50Ms, added, z.Loss, tol(baseZ))
			}
		},
		Gone: func(r probe.UDPReport) bool { return r.Received == r.Sent && r.P50Ms < latency/2 },
	})
}
