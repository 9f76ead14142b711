//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
)

// TestNetemlessVerbs: duplicate, corrupt and reorder through the real plugin on this
// cluster's nodes, which have no sch_netem, measured by a client against a baseline of
// the same run: echoes seen twice (duplicate 30 %), echoes lost to the receiver's
// checksum (corrupt 30 %), echoes that came after a later one (reorder 50 %, 50 ms).
// Each run says in its events which fallback it used; Ctrl-C leaves nothing.
func TestNetemlessVerbs(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	probeN := func(n int) probe.UDPReport {
		r, err := probe.UDP(ip+":9000", n, time.Millisecond, 400*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	base := probeN(1000)
	t.Logf("baseline: %+v", base)
	pct := func(k, n int) float64 { return 100 * float64(k) / float64(n) }
	for _, c := range []struct {
		args   []string
		note   string
		active func(probe.UDPReport) bool
		seen   func(probe.UDPReport) float64
		want   float64
	}{
		{[]string{"network", "duplicate", "deploy/web", "--percent", "30"}, "duplicate is done with nftables",
			func(r probe.UDPReport) bool { return r.Dups > 0 }, func(r probe.UDPReport) float64 { return pct(r.Dups, r.Received) - pct(base.Dups, base.Received) }, 30},
		{[]string{"network", "corrupt", "deploy/web", "--percent", "30"}, "corrupt is done in userspace through NFQUEUE",
			func(r probe.UDPReport) bool { return r.Loss >= 10 }, func(r probe.UDPReport) float64 { return r.Loss - base.Loss }, 30},
		{[]string{"network", "reorder", "deploy/web", "--percent", "50", "--latency", "50ms"}, "reorder is done in userspace through NFQUEUE",
			func(r probe.UDPReport) bool { return r.Late > 0 }, func(r probe.UDPReport) float64 { return pct(r.Late, r.Received) - pct(base.Late, base.Received) }, 50},
	} {
		verb := c.args[1]
		runFault(sc, faultRun[probe.UDPReport]{
			Args:    append(c.args, "--duration", "3m"),
			Measure: func() probe.UDPReport { return probeN(100) },
			Active:  c.active,
			During: func(s *session) {
				r := probeN(2000)
				got := c.seen(r)
				t.Logf("%s: asked %.0f%%, seen %.1f%% (%+v)", verb, c.want, got, r)
				if got < c.want-6 || got > c.want+6 {
					t.Errorf("%s: seen %.1f%%, want %.0f%% ± 6", verb, got, c.want)
				}
				if out := s.Output(); !strings.Contains(out, "sch_netem is missing") || !strings.Contains(out, c.note) {
					t.Errorf("%s: the events do not say %q:\n%s", verb, c.note, out)
				}
			},
			Gone: func(r probe.UDPReport) bool { return r.Dups == 0 && r.Loss == 0 && r.Late == 0 },
		})
	}
}
