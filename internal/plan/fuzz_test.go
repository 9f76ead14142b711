package plan

import (
	"strings"
	"testing"
	"time"
)

// FuzzDecode feeds the plan decoder (the agent's first step on a plan it is given)
// arbitrary text: never a panic, and a plan that decodes and encodes again is stable
// (decode → encode → decode → encode gives the same JSON), so what the CLI sends is
// what the agent reads. The kind-specific checks are FuzzPlan's (internal/cmd/agent);
// this target is here because this package's test binary has no Kubernetes client
// and so builds instrumented in seconds (make fuzz).
func FuzzDecode(f *testing.F) {
	p := &Plan{Version: Version, Experiment: "chaos-abcdefgh", Node: "n1", CreatedAt: time.Unix(1e9, 0), Deadline: time.Unix(1e9+300, 0),
		Fault: Fault{Kind: KindNetwork, Action: "delay", Network: &Network{Delay: &Delay{Latency: Duration(100 * time.Millisecond)},
			Filter: Filter{Interfaces: []string{"eth0"}, Ports: []uint16{80}, Protocol: "tcp", CIDRs: []string{"10.0.0.0/8"}}}},
		Targets: []Target{{Namespace: "ns", Pod: "p", Container: "c", ContainerID: "containerd://" + strings.Repeat("a", 64)}}}
	valid, err := p.Encode()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{valid,
		`{"version":1,"experiment":"../../etc","deadline":"2030-01-01T00:00:00Z","fault":{"kind":"network","network":{"delay":{"latency":"1h"}}}}`,
		`{"version":1,"fault":{"kind":"network","network":{"delay":{"latency":-9223372036854775808}}}}`,
		`{"version":1,"fault":{"kind":"stress","stress":{"memory":{"bytes":18446744073709551615,"workers":-1}}}}`,
		`{"version":1,"serve":true,"stepKey":"00"}`, `{"deadline":"10000-01-01T00:00:00Z"}`,
		`null`, `{}`, `[]`, `{"fault":{"kind":"network","network":null}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Decode(s)
		if err != nil {
			return
		}
		_ = p.Fault.Summary()
		for _, tg := range p.Targets {
			_ = tg.String()
		}
		_ = p.Validate()
		enc, err := p.Encode()
		if err != nil {
			return // e.g. a year beyond 9999: the CLI never sends one
		}
		q, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%q) → Encode = %q, which does not decode: %v", s, enc, err)
		}
		if again, err := q.Encode(); err != nil || again != enc {
			t.Errorf("plan not stable through encode/decode:\n first %s\nsecond %s (%v)", enc, again, err)
		}
	})
}
