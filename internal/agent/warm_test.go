package agent

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// warmPlan is a warm helper's plan: a serving plan whose steps are bound to their own
// heartbeat lines.
func warmPlan(d time.Duration) *plan.Plan {
	p := servePlan(d)
	p.Warm = true
	return p
}

// TestWarmStepDeadMan: on a warm helper a step whose "heartbeat STEP" lines stop is
// recovered after the step timeout, while a step whose heartbeats go on stays active
// and the helper serves on (its stdin outlives every attach, so EOF cannot tell).
func TestWarmStepDeadMan(t *testing.T) {
	const timeout = 400 * time.Millisecond
	r := start(t, warmPlan(2*time.Minute), func(o *Options) { o.StepTimeout = timeout })
	r.ev.waitFor(t, plan.EventHeartbeat, 1)
	beating, silent := stepPlan("beating", time.Minute), stepPlan("silent", time.Minute)
	sent := time.Now() // the agent starts a step's clock when it reads its plan line
	sendPlan(t, r.stdin, testStepKey, beating)
	sendPlan(t, r.stdin, testStepKey, silent)
	r.ev.waitFor(t, plan.EventInjected, 4)
	stopBeats := make(chan struct{})
	beatsDone := make(chan struct{})
	go func() {
		defer close(beatsDone)
		tk := time.NewTicker(timeout / 8)
		defer tk.Stop()
		for {
			select {
			case <-stopBeats:
				return
			case <-tk.C:
				io.WriteString(r.stdin, plan.StdinHeartbeat+" beating\n")
			}
		}
	}()
	end := waitStepEnd(t, r, "silent")
	if end.Reason != plan.ReasonEOF {
		t.Fatalf("silent step ended %q (%s), want operator gone", end.Reason, end.Error)
	}
	took := end.Time.Sub(sent)
	t.Logf("silent step ended %s after its plan line (step timeout %s)", took.Round(time.Millisecond), timeout)
	if took < timeout {
		t.Errorf("silent step recovered after %s, before its timeout %s", took, timeout)
	}
	// Three more timeouts with heartbeats: the beating step is still active.
	time.Sleep(3 * timeout)
	for _, ev := range stepEvents(t, r, "beating") {
		if ev.Type == plan.EventExit || ev.Type == plan.EventRecovered {
			t.Fatalf("a step with heartbeats ended: %+v", ev)
		}
	}
	close(stopBeats)
	<-beatsDone
	if end := waitStepEnd(t, r, "beating"); end.Reason != plan.ReasonEOF {
		t.Fatalf("beating step ended %q once its heartbeats stopped, want operator gone", end.Reason)
	}
	select {
	case <-r.done:
		t.Fatalf("the warm helper ended with its steps: %q", r.res.Reason)
	case <-time.After(50 * time.Millisecond):
	}
	if n := r.ev.count(t, plan.EventRecovered); n != 4 {
		t.Fatalf("%d recovered events, want 4", n)
	}
	io.WriteString(r.stdin, plan.StdinStop+"\n")
	r.wait(t)
	r.checkJournalEmpty(t)
}

// TestWarmCorruptLines: lines of two attaches merged into one (a plan line cut by
// another attach's heartbeat) are refused whole, never half-applied; the helper serves
// on and takes the next good line.
func TestWarmCorruptLines(t *testing.T) {
	r := start(t, warmPlan(2*time.Minute), func(o *Options) { o.StepTimeout = time.Minute })
	r.ev.waitFor(t, plan.EventHeartbeat, 1)
	enc, err := stepPlan("cut", time.Minute).Encode()
	if err != nil {
		t.Fatal(err)
	}
	half := len(enc) / 2
	lines := []string{
		plan.StdinPlan + " " + testStepKey + " " + enc[:half] + plan.StdinHeartbeat + " other\n",
		enc[half:] + "\n",
		plan.StdinPlan + " " + testStepKey[:5] + plan.StdinHeartbeat + "\n",
	}
	for _, l := range lines {
		io.WriteString(r.stdin, l)
	}
	r.ev.waitFor(t, plan.EventError, 2)
	for _, ev := range r.ev.list(t) {
		if ev.Type == plan.EventInjected || ev.Type == plan.EventStarted && strings.Contains(ev.Message, "step cut") {
			t.Fatalf("a corrupt line was applied: %+v", ev)
		}
	}
	sendPlan(t, r.stdin, testStepKey, stepPlan("good", 200*time.Millisecond))
	if end := waitStepEnd(t, r, "good"); end.Reason != plan.ReasonDeadline {
		t.Fatalf("good step after corrupt lines ended %q", end.Reason)
	}
	io.WriteString(r.stdin, plan.StdinStop+"\n")
	r.wait(t)
	r.checkJournalEmpty(t)
}
