package listing

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// A pod changed by an API-only fault is not restored by anything in the cluster once
// its deadline has passed: ls says to run gc; a helper past its deadline ends by itself.
func TestExpiredChangedPodsSayRunGC(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	pod := session.ChangedPod{Namespace: "ns", Pod: "web-1", Kind: "pod", Deadline: now.Add(-2 * time.Minute)}
	exps := []session.Experiment{
		{ID: "chaos-aaaaaaaa", Deadline: now.Add(-2 * time.Minute), Pods: []session.ChangedPod{pod}},
		{ID: "chaos-bbbbbbbb", Deadline: now.Add(-2 * time.Minute), Helpers: []session.HelperState{{Node: "n"}}},
		{ID: "chaos-cccccccc", Deadline: now.Add(3 * time.Minute), Pods: []session.ChangedPod{pod}},
	}
	var b bytes.Buffer
	st := ui.NewStyles(&b, false)
	if err := ExperimentTable(&b, st, now, exps); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	for _, c := range []struct {
		id, want string
		gc       bool
	}{{"chaos-aaaaaaaa", "expired 2m0s ago, run gc", true}, {"chaos-bbbbbbbb", "expired 2m0s ago", false}, {"chaos-cccccccc", "3m0s", false}} {
		for _, l := range lines {
			if strings.Contains(l, c.id) && (!strings.Contains(l, c.want) || strings.Contains(l, "run gc") != c.gc) {
				t.Errorf("%s: want %q (run gc: %v) in %q", c.id, c.want, c.gc, l)
			}
		}
	}
	b.Reset()
	restored := pod
	restored.Restored = true
	if err := ChangedPodTable(&b, st, now, []session.ChangedPod{pod, restored}); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "expired, run gc to restore it") || !strings.Contains(out, "restored") {
		t.Errorf("changed pods table:\n%s", out)
	}
}

// A warm experiment's FAULT cell: until when it stays warm, idle or the steps it serves
// (whose, which, where, until when), and a record whose CLI went silent.
func TestWarmText(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	w := &session.WarmState{Until: now.Add(30 * time.Minute), Steps: []session.WarmStep{}}
	if got, want := WarmText(now, w), "warm until 12:30:00Z: idle"; got != want {
		t.Errorf("idle: %q, want %q", got, want)
	}
	w.Steps = []session.WarmStep{{Step: "chaos-aaaaaaaa", Node: "n1", WarmStepRecord: session.WarmStepRecord{Owner: "alice", Fault: "network loss 100%", Until: now.Add(5 * time.Minute)}}}
	w.Stale = []session.WarmStep{{Step: "chaos-bbbbbbbb", Node: "n2", WarmStepRecord: session.WarmStepRecord{Seen: now.Add(-2 * time.Minute)}}}
	got := WarmText(now, w)
	want := "warm until 12:30:00Z: serving chaos-aaaaaaaa (alice: network loss 100%) on n1 until 12:05:00Z; step chaos-bbbbbbbb on n2: its CLI went silent at 11:58:00Z (the agent recovered it)"
	if got != want {
		t.Errorf("serving:\n got %q\nwant %q", got, want)
	}
	var b bytes.Buffer
	if err := ExperimentTable(&b, ui.NewStyles(&b, false), now, []session.Experiment{{ID: "chaos-cccccccc", Fault: "warm: steps of fault commands", Warm: w, Deadline: w.Until, State: session.StateActive}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "serving chaos-aaaaaaaa") {
		t.Errorf("table:\n%s", b.String())
	}
}
