package scenario

import (
	"context"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// A failed probe step marks the hypothesis failed and the run goes on; a failed
// command stops it (the steps after it do not run); the exit code is 4.
func TestRunnerProbeStepFailsCommandStops(t *testing.T) {
	io, _, _, _ := ui.Test()
	s := &Scenario{Name: "t", Duration: time.Minute, Steps: []*Step{
		{Pos: Pos{Field: "spec.steps[0]"}, Probe: &Probe{Timeout: 5 * time.Second, Command: &Command{Shell: "exit 1"}}},
		{Pos: Pos{Field: "spec.steps[1]"}, Wait: 10 * time.Millisecond},
		{Pos: Pos{Field: "spec.steps[2]"}, Command: &Command{Shell: "exit 2", Timeout: 5 * time.Second}},
		{Pos: Pos{Field: "spec.steps[3]"}, Wait: time.Hour},
	}}
	r := &Runner{IO: io, Checker: &Checker{}}
	start := time.Now()
	res, err := r.Run(context.Background(), s)
	if exit.Code(err) != exit.Hypothesis {
		t.Fatalf("exit %d (%v)", exit.Code(err), err)
	}
	if time.Since(start) > 30*time.Second || len(res.Steps) != 3 || res.Outcome != Aborted {
		t.Fatalf("result = %+v", res)
	}
	if res.Steps[0].Status != "failed" || res.Steps[0].Probe == nil || res.Steps[1].Status != "ok" || res.Steps[2].Status != "failed" {
		t.Errorf("steps = %+v", res.Steps)
	}
}

// A before probe that fails runs nothing.
func TestRunnerSteadyStateFirst(t *testing.T) {
	io, _, _, _ := ui.Test()
	s := &Scenario{Name: "t", Duration: time.Minute,
		Probes: []*Probe{{When: []string{"before"}, Timeout: 5 * time.Second, Command: &Command{Shell: "exit 1"}}},
		Steps:  []*Step{{Pos: Pos{Field: "spec.steps[0]"}, Wait: time.Hour}}}
	res, err := (&Runner{IO: io, Checker: &Checker{}}).Run(context.Background(), s)
	if exit.Code(err) != exit.Hypothesis || len(res.Steps) != 0 || res.Outcome != Failed {
		t.Fatalf("exit %d, result %+v", exit.Code(err), res)
	}
}
