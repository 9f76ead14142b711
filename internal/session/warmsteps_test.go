package session

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func stepRecord(t *testing.T, rec WarmStepRecord) string {
	t.Helper()
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The record of a step on a warm helper: written when the step starts (dropping the
// records that are over: past their step's deadline, stale, unreadable; another CLI's
// live step is kept), renewed, removed at the end; Assess reads live and stale ones.
func TestRecordWarmStep(t *testing.T) {
	now := time.Now().UTC()
	pfx := plan.AnnotationStepPrefix
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kubectl-chaos", Name: "warm-1", Annotations: map[string]string{
		pfx + "chaos-expired": stepRecord(t, WarmStepRecord{Until: now.Add(-time.Second), Seen: now}),
		pfx + "chaos-stale":   stepRecord(t, WarmStepRecord{Until: now.Add(time.Hour), Seen: now.Add(-WarmStepStale - time.Second)}),
		pfx + "chaos-garbled": "{",
		pfx + "chaos-other":   stepRecord(t, WarmStepRecord{Owner: "bob", Until: now.Add(time.Hour), Seen: now}),
		plan.AnnotationOwner:  "alice",
	}}, Spec: corev1.PodSpec{NodeName: "n1"}}
	cs := fake.NewClientset(pod)
	get := func() map[string]string {
		p, err := cs.CoreV1().Pods("kubectl-chaos").Get(context.Background(), "warm-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p.Annotations
	}
	end := RecordWarmStep(context.Background(), cs, []*corev1.Pod{pod}, "chaos-mine", WarmStepRecord{Owner: "alice", Fault: "network loss 100%", Since: now, Until: now.Add(time.Minute)}, 30*time.Millisecond)
	var firstSeen time.Time
	var renewed bool
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !renewed; time.Sleep(10 * time.Millisecond) {
		v, ok := get()[pfx+"chaos-mine"]
		if !ok {
			continue
		}
		var rec WarmStepRecord
		if err := json.Unmarshal([]byte(v), &rec); err != nil {
			t.Fatalf("record %q: %v", v, err)
		}
		if firstSeen.IsZero() {
			firstSeen = rec.Seen
		}
		renewed = rec.Seen.After(firstSeen)
	}
	if firstSeen.IsZero() || !renewed {
		t.Fatalf("record written %v, renewed %v: %v", !firstSeen.IsZero(), renewed, get())
	}
	ann := get()
	for _, k := range []string{"chaos-expired", "chaos-stale", "chaos-garbled"} {
		if _, ok := ann[pfx+k]; ok {
			t.Errorf("record %s is over but was not dropped", k)
		}
	}
	if _, ok := ann[pfx+"chaos-other"]; !ok || ann[plan.AnnotationOwner] != "alice" {
		t.Errorf("another CLI's live step or another annotation was dropped: %v", ann)
	}

	// ls's view of it: mine and bob's live; an old record of a silent CLI is stale.
	ann[pfx+"chaos-silent"] = stepRecord(t, WarmStepRecord{Until: now.Add(time.Hour), Seen: now.Add(-2 * WarmStepStale)})
	e := Experiment{ID: "chaos-warm", Deadline: now.Add(10 * time.Minute), Helpers: []HelperState{{
		Namespace: "kubectl-chaos", Pod: "warm-1", Node: "n1", Phase: "Running",
		Plan: &plan.Plan{Serve: true, Warm: true}, Annotations: ann,
	}}}
	Assess(&e, time.Now())
	if e.Warm == nil || len(e.Warm.Steps) != 2 || len(e.Warm.Stale) != 1 || e.Warm.Stale[0].Step != "chaos-silent" || !e.Warm.Until.Equal(e.Deadline) {
		t.Errorf("Assess: %+v", e.Warm)
	}

	end()
	if _, ok := get()[pfx+"chaos-mine"]; ok {
		t.Errorf("record still there after the end: %v", get())
	}
	if _, ok := get()[pfx+"chaos-other"]; !ok {
		t.Errorf("the end removed another CLI's record: %v", get())
	}
	// A helper that is not warm has no WarmState; a deleted warm one serves nothing.
	e.Helpers[0].Plan.Warm = false
	if Assess(&e, time.Now()); e.Warm != nil {
		t.Errorf("not warm, but Warm = %+v", e.Warm)
	}
	e.Helpers[0].Plan.Warm, e.Helpers[0].Deleting = true, true
	if Assess(&e, time.Now()); e.Warm == nil || !e.Warm.Idle() {
		t.Errorf("deleting warm helper: %+v, want idle", e.Warm)
	}
}
