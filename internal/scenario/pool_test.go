package scenario

import (
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/podevents"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// The run's helpers carry the events-off annotation with run --events=false, as a
// verb's helpers do with --events=false, so the Events ls and gc write for a dead CLI
// skip them; without it they carry none.
func TestPoolHelpersEventsOff(t *testing.T) {
	now := time.Now().UTC()
	pl := &plan.Plan{Version: plan.Version, Experiment: "chaos-run", Node: "node-a", Owner: "tester@kind", CreatedAt: now,
		Deadline: now.Add(time.Minute), Serve: true, StepKey: "00", JournalDir: plan.DefaultJournalDir,
		Runtime: plan.Runtime{Endpoint: "/run/containerd/containerd.sock", Namespace: "k8s.io"}}
	hp := helperpod.Options{Image: "kubectl-chaos:test", RuntimeSocket: "/run/containerd/containerd.sock"}
	res := &plan.Result{Experiment: "chaos-step", Node: "node-a", Reason: plan.ReasonDone, Targets: []plan.TargetResult{
		{Target: "default/web/app", Injected: true, Recovered: true, InjectedAt: now, RecoveredAt: now.Add(time.Second)}}}
	for _, off := range []bool{true, false} {
		pod, err := poolBuilder(hp, off)(pl)
		if err != nil {
			t.Fatal(err)
		}
		got := pod.Annotations[podevents.AnnotationEvents]
		if want := map[bool]string{true: podevents.EventsOff, false: ""}[off]; got != want {
			t.Errorf("--events=%v: annotation %s=%q, want %q", !off, podevents.AnnotationEvents, got, want)
		}
		if !off {
			continue
		}
		h := session.HelperState{Namespace: pod.Namespace, Pod: pod.Name, Node: "node-a", Phase: "Succeeded", Terminated: true,
			Result: res, Plan: pl, Annotations: pod.Annotations}
		if p := podevents.FromHelpers([]session.HelperState{h}); len(p) != 0 {
			t.Errorf("ls/gc would write %d Event(s) for a run with --events=false: %+v", len(p), p)
		}
	}
}
