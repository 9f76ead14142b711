package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// planSeeds are one valid plan per kind the agent knows, and a few forged ones.
func planSeeds() []string {
	mk := func(f plan.Fault) string {
		p := &plan.Plan{Version: plan.Version, Experiment: "chaos-abcdefgh", Node: "n1", CreatedAt: time.Unix(1e9, 0),
			Deadline: time.Unix(1e9+300, 0), Fault: f,
			Targets: []plan.Target{{Namespace: "ns", Pod: "p", Container: "c", ContainerID: "containerd://" + strings.Repeat("a", 64)}}}
		s, _ := p.Encode()
		return s
	}
	ms := func(n int) plan.Duration { return plan.Duration(time.Duration(n) * time.Millisecond) }
	return []string{
		mk(plan.Fault{Kind: plan.KindNetwork, Action: "delay", Network: &plan.Network{Delay: &plan.Delay{Latency: ms(100), Jitter: ms(10)},
			Filter: plan.Filter{Interfaces: []string{"eth0"}, Ports: []uint16{80}, Protocol: "tcp", CIDRs: []string{"10.0.0.0/8", "fd00::/64"}}}}),
		mk(plan.Fault{Kind: plan.KindNetwork, Action: "partition", Network: &plan.Network{Partition: &plan.Partition{Direction: "both", Peers: []string{"10.1.0.0/16"}}}}),
		mk(plan.Fault{Kind: plan.KindNetwork, Action: "bandwidth", Network: &plan.Network{Bandwidth: &plan.Bandwidth{Rate: 1e6, Limit: 65536}}}),
		mk(plan.Fault{Kind: plan.KindStress, Action: "cpu", Stress: &plan.Stress{CPU: &plan.CPUStress{Workers: 2, Load: 50}}}),
		mk(plan.Fault{Kind: plan.KindStress, Action: "memory", Stress: &plan.Stress{Memory: &plan.MemoryStress{Percent: 50}}}),
		mk(plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{}}),
		`{"version":1,"experiment":"../../etc","deadline":"2030-01-01T00:00:00Z","fault":{"kind":"network","network":{"delay":{"latency":"1h"}}}}`,
		`{"version":1,"experiment":"chaos-abcdefgh","deadline":"2030-01-01T00:00:00Z","fault":{"kind":"rootkit"}}`,
		`{"version":1,"fault":{"kind":"network","network":{"delay":{"latency":-9223372036854775808}}}}`,
		`{"version":1,"fault":{"kind":"network","network":{"filter":{"cidrs":["1.2.3.4/99"],"ports":[0]}}}}`,
		`{"version":1,"fault":{"kind":"stress","stress":{"memory":{"bytes":18446744073709551615,"workers":-1}}}}`,
		`{"version":1,"fault":{"kind":"network","network":{"loss":{"percent":1e308},"bandwidth":{"rate":0}}}}`,
		`null`, `{}`, `[]`, `{"fault":{"kind":"network","network":null}}`,
	}
}

// FuzzPlan feeds the agent's plan decoder and its checks (the CLI's validation run
// again, the journal name, the injector factory) arbitrary plans: a forged or broken
// plan is refused, never a panic. A plan that passes must name a known kind.
func FuzzPlan(f *testing.F) {
	for _, s := range planSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := plan.Decode(s)
		if err != nil {
			return
		}
		_ = p.Fault.Summary()
		for _, tg := range p.Targets {
			_ = tg.String()
		}
		if p.Validate() != nil || journal.ValidName(p.Experiment) != nil {
			return
		}
		e, err := catalog.For(p.Fault)
		if err != nil {
			return
		}
		if err := e.Validate(p.Fault); err != nil {
			return
		}
		_ = e.Describe(p.Fault)
		_ = e.Details(p.Fault)
		if _, err := fault.New(p.Fault); err != nil && !strings.Contains(err.Error(), "not supported") {
			known := false
			for _, k := range catalog.Kinds() {
				known = known || k == p.Fault.Kind
			}
			if !known {
				t.Errorf("plan of unknown kind %q passed validation", p.Fault.Kind)
			}
		}
	})
}
