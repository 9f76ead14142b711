package app

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
)

// A scenario's fault steps on warm helpers (kubectl chaos run FILE): a step uses its
// owner's warm helpers on their nodes instead of the run's helpers (no helper pod is
// created for it); `warm: false` on a step, or run --warm=false, keeps the step on the
// run's helpers; the dry run says which node would use which warm helper; a bad value
// is refused naming the field.
func TestWarmScenarioSteps(t *testing.T) {
	w := newWarmWorld(t)
	warm := w.warm(t, "10m")
	both := writeScenario(t, `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata: {name: warmrun}
spec:
  duration: 5m
  steps:
  - fault: {verb: noop, targets: deploy/web, duration: 1s}
  - fault: {verb: noop, targets: deploy/web, duration: 1s, warm: false}
`)
	created := func(s string) int { return strings.Count(s, "creating helper pod") }
	r := w.start(t, nil, "run", both, "--yes")
	if err := r.wait(t, 60*time.Second); err != nil {
		t.Fatalf("run: exit %d (%v)\n%s", exit.Code(err), err, r.errOut.String())
	}
	out := r.errOut.String()
	first, second, ok := strings.Cut(out, "step spec.steps[1]")
	if !ok {
		t.Fatalf("no second step in the output:\n%s", out)
	}
	if n := strings.Count(first, "using warm helper"); n != 2 || created(first) != 0 {
		t.Errorf("step 0 (warm by default): %d nodes on warm helpers, %d helper pods created; want 2 and 0:\n%s", n, created(first), first)
	}
	if n := strings.Count(second, "using warm helper"); n != 0 || created(second) != 2 {
		t.Errorf("step 1 (warm: false): %d nodes on warm helpers, %d helper pods created; want 0 and the run's 2:\n%s", n, created(second), second)
	}
	if open, _ := w.att.counts(warm); open != 0 {
		t.Errorf("%d attaches to the warm helpers open after the run", open)
	}
	for _, name := range warm {
		if n := w.k.Stops(name + "#0"); n != 0 {
			t.Errorf("%d stop lines reached warm helper %s (the run must not stop it)", n, name)
		}
	}

	// run --warm=false: the warm-by-default step runs on the run's helpers.
	r = w.start(t, nil, "run", both, "--yes", "--warm=false")
	if err := r.wait(t, 60*time.Second); err != nil {
		t.Fatalf("run --warm=false: exit %d (%v)\n%s", exit.Code(err), err, r.errOut.String())
	}
	if out := r.errOut.String(); strings.Contains(out, "using warm helper") || created(out) != 2 {
		t.Errorf("run --warm=false used a warm helper or did not create the run's 2 helpers:\n%s", out)
	}
	if ws, _ := w.lsWarm(t); !ws.Idle() {
		t.Errorf("after the runs the warm helpers are not idle: %+v", ws)
	}

	// The dry run: which node would use which warm helper.
	r = w.start(t, nil, "run", both, "--dry-run")
	if err := r.wait(t, 30*time.Second); err != nil {
		t.Fatalf("run --dry-run: %v\n%s", err, r.errOut.String())
	}
	plan := r.out.String()
	for _, name := range warm {
		if !strings.Contains(plan, "would use warm helper kubectl-chaos/"+name) || !strings.Contains(plan, "warm helper kubectl-chaos/"+name+" (until ") {
			t.Errorf("the dry run does not say that a node would use %s:\n%s", name, plan)
		}
	}
	if !strings.Contains(plan, "serves spec.steps[0] noop") || !strings.Contains(plan, "serves spec.steps[1] noop\n") {
		t.Errorf("the dry run does not place step 0 on the warm helpers and step 1 on the run's:\n%s", plan)
	}
	r = w.start(t, nil, "run", both, "--dry-run", "--warm=false")
	if err := r.wait(t, 30*time.Second); err != nil {
		t.Fatalf("run --dry-run --warm=false: %v\n%s", err, r.errOut.String())
	}
	if strings.Contains(r.out.String(), "warm helper") {
		t.Errorf("run --dry-run --warm=false names a warm helper:\n%s", r.out.String())
	}

	bad := writeScenario(t, `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata: {name: badwarm}
spec:
  steps:
  - fault: {verb: noop, targets: deploy/web, duration: 1s, warm: sometimes}
`)
	r = w.start(t, nil, "run", bad, "--yes")
	err := r.wait(t, 30*time.Second)
	if exit.Code(err) != exit.Usage || err == nil || !strings.Contains(err.Error()+r.errOut.String(), "spec.steps[0].fault.warm") {
		t.Errorf("warm: sometimes: exit %d (%v), want a usage error naming spec.steps[0].fault.warm\n%s", exit.Code(err), err, r.errOut.String())
	}
}
