package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

const testStepKey = "the-run-key"

// servePlan is a serving helper's plan (a kubectl chaos run's) on node-1.
func servePlan(d time.Duration) *plan.Plan {
	sum := sha256.Sum256([]byte(testStepKey))
	return &plan.Plan{Version: plan.Version, Experiment: "run-test", Node: "node-1",
		CreatedAt: time.Now(), Deadline: time.Now().Add(d), Serve: true, StepKey: hex.EncodeToString(sum[:])}
}

// stepPlan is a noop step of id with its own deadline d from now.
func stepPlan(id string, d time.Duration) *plan.Plan {
	p := testPlan(2, plan.Noop{})
	p.Experiment = id
	p.Deadline = time.Now().Add(d)
	for i := range p.Targets {
		p.Targets[i].PodUID = fmt.Sprintf("%s-uid-%d", id, i)
	}
	return p
}

func sendPlan(t *testing.T, w io.Writer, key string, p *plan.Plan) {
	t.Helper()
	enc, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, plan.StdinPlan+" "+key+" "+enc+"\n"); err != nil {
		t.Fatal(err)
	}
}

// stepEvents are the events of one step, in order.
func stepEvents(t *testing.T, r *run, step string) []plan.Event {
	var out []plan.Event
	for _, ev := range r.ev.list(t) {
		if ev.Step == step {
			out = append(out, ev)
		}
	}
	return out
}

// waitStepEnd waits for the step's exit event and returns it.
func waitStepEnd(t *testing.T, r *run, step string) plan.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		for _, ev := range stepEvents(t, r, step) {
			if ev.Type == plan.EventExit {
				return ev
			}
		}
		select {
		case <-r.ev.ch:
		case <-timeout:
			t.Fatalf("step %s: no exit event; events %s", step, types(r.ev.list(t)))
		}
	}
}

// TestServeSteps: a serving agent takes one step after the other over stdin, each
// applied and recovered at its own deadline (the agent's timer), a third stopped by
// "stop STEP" while the agent serves on, and stdin EOF ends the agent.
func TestServeSteps(t *testing.T) {
	r := start(t, servePlan(2*time.Minute), nil)
	r.ev.waitFor(t, plan.EventHeartbeat, 1) // "serving": the CLI sends plans after it
	for _, id := range []string{"step-a", "step-b"} {
		sent := time.Now()
		p := stepPlan(id, 300*time.Millisecond)
		sendPlan(t, r.stdin, testStepKey, p)
		end := waitStepEnd(t, r, id)
		if end.Reason != plan.ReasonDeadline || end.Error != "" {
			t.Fatalf("step %s ended %q (%s), want at its deadline", id, end.Reason, end.Error)
		}
		if late := end.Time.Sub(p.Deadline); late < 0 || late > 2*time.Second {
			t.Errorf("step %s ended %s after its deadline", id, late)
		}
		var inj, rec int
		for _, ev := range stepEvents(t, r, id) {
			switch ev.Type {
			case plan.EventInjected:
				inj++
			case plan.EventRecovered:
				rec++
			}
		}
		if inj != 2 || rec != 2 {
			t.Fatalf("step %s: %d injected, %d recovered events, want 2 each", id, inj, rec)
		}
		t.Logf("step %s: sent → ended %s (deadline 300ms)", id, end.Time.Sub(sent).Round(time.Millisecond))
	}
	sendPlan(t, r.stdin, testStepKey, stepPlan("step-c", time.Minute))
	r.ev.waitFor(t, plan.EventInjected, 6)
	io.WriteString(r.stdin, plan.StdinStop+" step-c\n")
	if end := waitStepEnd(t, r, "step-c"); end.Reason != plan.ReasonStopped {
		t.Fatalf("step-c ended %q, want stopped", end.Reason)
	}
	select {
	case <-r.done:
		t.Fatal("the agent ended with its step")
	case <-time.After(100 * time.Millisecond):
	}
	r.stdin.Close()
	r.wait(t)
	if r.res.Reason != plan.ReasonEOF || r.err != nil {
		t.Fatalf("agent ended %q, %v; want operator-gone", r.res.Reason, r.err)
	}
	if len(r.res.Targets) != 6 {
		t.Errorf("result has %d targets, want the 3 steps' 6", len(r.res.Targets))
	}
	// Each target says its step and pod UID: ls/gc write the Events from them when the
	// CLI could not.
	steps := map[string]int{}
	for _, tr := range r.res.Targets {
		steps[tr.Step]++
		if want := podUIDOf(stepPlan(tr.Step, time.Second), tr.Target); tr.PodUID != want {
			t.Errorf("target %s of %s: pod UID %q, want %q", tr.Target, tr.Step, tr.PodUID, want)
		}
	}
	if steps["step-a"] != 2 || steps["step-b"] != 2 || steps["step-c"] != 2 {
		t.Errorf("targets per step %v, want 2 each", steps)
	}
	r.checkJournalEmpty(t)
}

func podUIDOf(p *plan.Plan, target string) string {
	for _, t := range p.Targets {
		if t.String() == target {
			return t.PodUID
		}
	}
	return "no such target"
}

// TestServeStepsStoppedWithTheAgent: a step still active when the agent is stopped is
// recovered before the agent exits.
func TestServeStepsStoppedWithTheAgent(t *testing.T) {
	r := start(t, servePlan(2*time.Minute), nil)
	r.ev.waitFor(t, plan.EventHeartbeat, 1)
	sendPlan(t, r.stdin, testStepKey, stepPlan("step-a", time.Minute))
	r.ev.waitFor(t, plan.EventInjected, 2)
	io.WriteString(r.stdin, plan.StdinStop+"\n")
	r.wait(t)
	if r.res.Reason != plan.ReasonStopped {
		t.Fatalf("agent ended %q, want stopped", r.res.Reason)
	}
	if end := waitStepEnd(t, r, "step-a"); end.Reason != plan.ReasonStopped {
		t.Fatalf("step ended %q, want stopped", end.Reason)
	}
	if n := r.ev.count(t, plan.EventRecovered); n != 2 {
		t.Fatalf("%d recovered events, want 2", n)
	}
	r.checkJournalEmpty(t)
}

// TestServeRefusesForgedSteps: each plan line the CLI would not send is refused before
// anything is journaled, and the agent serves on.
func TestServeRefusesForgedSteps(t *testing.T) {
	base := servePlan(2 * time.Minute)
	r := start(t, base, nil)
	r.ev.waitFor(t, plan.EventHeartbeat, 1)
	cases := []struct {
		name, key string
		mod       func(p *plan.Plan)
		want      string
	}{
		{"wrong key", "guessed", nil, "key does not match"},
		{"another node", testStepKey, func(p *plan.Plan) { p.Node = "node-2" }, `node "node-2"`},
		{"past the helper's deadline", testStepKey, func(p *plan.Plan) { p.Deadline = base.Deadline.Add(time.Second) }, "after the helper's"},
		{"deadline passed", testStepKey, func(p *plan.Plan) { p.Deadline = time.Now().Add(-time.Second) }, "has passed"},
		{"serving step", testStepKey, func(p *plan.Plan) { p.Serve = true }, "serve"},
		{"detached step", testStepKey, func(p *plan.Plan) { p.Detached = true }, "detached"},
		{"the run's own ID", testStepKey, func(p *plan.Plan) { p.Experiment = base.Experiment }, "run's own ID"},
		{"another runtime socket", testStepKey, func(p *plan.Plan) { p.Runtime.Endpoint = "/evil.sock" }, "runtime"},
		{"unknown kind", testStepKey, func(p *plan.Plan) { p.Fault = plan.Fault{Kind: "rootkit"} }, "rootkit"},
		{"bad experiment name", testStepKey, func(p *plan.Plan) { p.Experiment = "../escape" }, "escape"},
		{"other plan version", testStepKey, func(p *plan.Plan) { p.Version = 99 }, "version 99"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := stepPlan("forged-"+string(rune('a'+i)), time.Minute)
			if tc.mod != nil {
				tc.mod(p)
			}
			errors := r.ev.count(t, plan.EventError)
			sendPlan(t, r.stdin, tc.key, p)
			r.ev.waitFor(t, plan.EventError, errors+1)
			var refusal plan.Event
			for _, ev := range r.ev.list(t) {
				if ev.Type == plan.EventError {
					refusal = ev
				}
			}
			if !strings.Contains(refusal.Error, tc.want) {
				t.Fatalf("refusal %q does not say %q", refusal.Error, tc.want)
			}
			if tc.key != testStepKey && refusal.Step != "" {
				t.Errorf("a refusal for a wrong key names step %q", refusal.Step)
			}
			if tc.key == testStepKey {
				if end := waitStepEnd(t, r, p.Experiment); end.Reason != plan.ReasonFailed {
					t.Errorf("refused step ended %q, want failed", end.Reason)
				}
			}
			for _, ev := range stepEvents(t, r, p.Experiment) {
				if ev.Type == plan.EventInjected {
					t.Fatalf("forged step injected: %+v", ev)
				}
			}
			if _, err := os.Stat(journal.ExperimentDir(r.dir, p.Experiment)); err == nil && p.Experiment != base.Experiment {
				t.Errorf("a journal directory of the refused step exists")
			}
		})
	}
	// Still serving: a good step goes through.
	sendPlan(t, r.stdin, testStepKey, stepPlan("good", 200*time.Millisecond))
	if end := waitStepEnd(t, r, "good"); end.Reason != plan.ReasonDeadline {
		t.Fatalf("good step after the refusals ended %q", end.Reason)
	}
}

// TestSinglePlanIgnoresStepLines: an agent of one plan (no serve) ignores plan lines
// and step stops, as it ignores every line it does not know.
func TestSinglePlanIgnoresStepLines(t *testing.T) {
	r := start(t, testPlan(1, plan.Noop{}), nil)
	r.ev.waitFor(t, plan.EventInjected, 1)
	sendPlan(t, r.stdin, testStepKey, stepPlan("step-x", time.Minute))
	io.WriteString(r.stdin, plan.StdinStop+" exp-test\n")
	select {
	case <-r.done:
		t.Fatalf("a step line ended an agent of one plan: %q", r.res.Reason)
	case <-time.After(200 * time.Millisecond):
	}
	if n := r.ev.count(t, plan.EventInjected); n != 1 {
		t.Fatalf("%d injected events, want the plan's 1", n)
	}
	io.WriteString(r.stdin, plan.StdinStop+"\n")
	r.wait(t)
	r.checkEnd(t, plan.ReasonStopped)
}
