package session

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// result is a termination message: reason, and whether the one target was recovered.
func result(reason string, recovered bool, errMsg string) string {
	r := `{"experiment":"x","node":"n1","reason":"` + reason + `","targets":[{"target":"default/web/app","injected":true,"recovered":`
	if recovered {
		r += "true"
	} else {
		r += "false"
	}
	r += `,"error":"` + errMsg + `"}]}`
	return r
}

// Where an experiment stands is read from its helpers as the cluster shows them: the
// case of issue 15 is a CLI killed with -9, whose agent recovered on stdin EOF and
// exited, leaving its helper Completed — ended, not running.
func TestAssessFromPods(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(4*time.Minute), now.Add(-5*time.Minute)
	deadlineKilled := helperPod("kc", "exp-g", "n1", earlier, corev1.PodFailed, "")
	deadlineKilled.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137}}
	deadlineKilled.Status.Reason = "DeadlineExceeded"
	deleting := helperPod("kc", "exp-h", "n1", later, corev1.PodRunning, "")
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	c := fake.NewSimpleClientset(
		helperPod("kc", "exp-a", "n1", later, corev1.PodRunning, ""),
		helperPod("kc", "exp-b", "n1", later, corev1.PodSucceeded, result("operator-gone", true, "")),
		helperPod("kc", "exp-c", "n1", earlier, corev1.PodSucceeded, result("deadline", true, "")),
		helperPod("kc", "exp-d", "n1", later, corev1.PodSucceeded, result("stopped", true, "")),
		helperPod("kc", "exp-e", "n1", later, corev1.PodSucceeded, result("operator-gone", false, "deleting table: EBUSY")),
		helperPod("kc", "exp-f", "n1", earlier, corev1.PodRunning, ""),
		deadlineKilled,
		deleting,
		helperPod("kc", "exp-i", "n1", later, corev1.PodSucceeded, `{"experiment":"x","node":"n1","reason":"failed","targets":[{"target":"default/web/app"}],"error":"fault could not be applied: no such interface"}`),
		// One node ended, the other still runs: active.
		helperPod("kc", "exp-j", "n1", later, corev1.PodSucceeded, result("stopped", true, "")),
		helperPod("kc", "exp-j", "n2", later, corev1.PodRunning, ""),
	)
	exps, err := List(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"exp-a": {StateActive, ""},
		"exp-b": {StateEnded, "recovered after the operator left"},
		"exp-c": {StateEnded, "deadline reached"},
		"exp-d": {StateEnded, "stopped"},
		"exp-e": {StateNeedsGC, "recovery failed on n1 (default/web/app): deleting table: EBUSY"},
		"exp-f": {StateNeedsGC, "helper on n1 still running 5m0s past the deadline"},
		"exp-g": {StateNeedsGC, "helper on n1 killed at its activeDeadlineSeconds without a result"},
		"exp-h": {StateActive, "stopping"},
		"exp-i": {StateEnded, "failed: fault could not be applied: no such interface"},
		"exp-j": {StateActive, ""},
	}
	if len(exps) != len(want) {
		t.Fatalf("%d experiments, want %d", len(exps), len(want))
	}
	for _, e := range exps {
		Assess(&e, now)
		w := want[e.ID]
		if e.State != w[0] || !strings.HasPrefix(e.How, w[1]) || w[1] == "" && e.How != "" {
			t.Errorf("%s: %q %q, want %q %q…", e.ID, e.State, e.How, w[0], w[1])
		}
	}
}

func TestAssessChangedPods(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		pod   ChangedPod
		state string
	}{
		{ChangedPod{Namespace: "ns", Pod: "p", Deadline: now.Add(time.Minute)}, StateActive},
		{ChangedPod{Namespace: "ns", Pod: "p", Deadline: now.Add(-time.Minute)}, StateNeedsGC},
		{ChangedPod{Namespace: "ns", Pod: "p", Error: "undo record does not parse"}, StateNeedsGC},
		{ChangedPod{Namespace: "ns", Pod: "p", Deadline: now.Add(-time.Minute), Restored: true}, StateEnded},
	} {
		e := Experiment{ID: "x", Pods: []ChangedPod{c.pod}}
		Assess(&e, now)
		if e.State != c.state {
			t.Errorf("%+v: %s (%s), want %s", c.pod, e.State, e.How, c.state)
		}
	}
}
