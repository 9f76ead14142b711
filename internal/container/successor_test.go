package container

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestPickSuccessor(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	tgt := plan.Target{Namespace: "ns", Pod: "web-1", PodUID: "uid-1", Container: "app",
		ContainerID: "containerd://" + strings.Repeat("0", 64)}
	id := tgt.RuntimeID()
	hex := func(c byte) string { return strings.Repeat(string(c), 64) }
	labels := func(uid, ns, pod, name string) map[string]string {
		return map[string]string{LabelPodUID: uid, LabelPodNamespace: ns, LabelPodName: pod, LabelContainerName: name, LabelKind: "container"}
	}
	own := labels("uid-1", "ns", "web-1", "app")
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	known := planned{known: true, labels: own, created: t0}
	for _, tc := range []struct {
		name      string
		tgt       plan.Target
		p         planned
		notBefore time.Time
		cands     []candidate
		want      string // the successor's ID, or "" for an error containing wantErr
		wantErr   string
		waitable  bool // the error is errNoSuccessor (the resolver may wait for one)
	}{
		{name: "one successor", p: known, cands: []candidate{
			{ID: id, Labels: own, Created: t0},
			{ID: hex('a'), Labels: own, Created: at(5), PID: 42},
		}, want: hex('a')},
		{name: "same pod, other container", p: known, cands: []candidate{
			{ID: hex('a'), Labels: labels("uid-1", "ns", "web-1", "sidecar"), Created: at(5), PID: 42},
		}, wantErr: "no running container of ns/web-1/app", waitable: true},
		{name: "other pod, same container name", p: known, cands: []candidate{
			{ID: hex('a'), Labels: labels("uid-2", "ns", "web-2", "app"), Created: at(5), PID: 42},
		}, wantErr: "no running container", waitable: true},
		{name: "other pod UID under the same pod name (a recreated pod)", p: known, cands: []candidate{
			{ID: hex('a'), Labels: labels("uid-2", "ns", "web-1", "app"), Created: at(5), PID: 42},
		}, wantErr: "no running container", waitable: true},
		{name: "the pod's sandbox", p: known, cands: []candidate{
			{ID: hex('a'), Labels: map[string]string{LabelPodUID: "uid-1", LabelPodNamespace: "ns", LabelPodName: "web-1", LabelContainerName: "app", LabelKind: "sandbox"}, Created: at(5), PID: 42},
		}, wantErr: "no running container", waitable: true},
		{name: "older container", p: known, cands: []candidate{
			{ID: hex('a'), Labels: own, Created: at(-60), PID: 42},
		}, wantErr: "(older: aaaaaaaaaaaa)", waitable: true},
		{name: "created at the same instant", p: known, cands: []candidate{
			{ID: hex('a'), Labels: own, Created: t0, PID: 42},
		}, wantErr: "(older: aaaaaaaaaaaa)", waitable: true},
		{name: "not running (crash-loop back-off)", p: known, cands: []candidate{
			{ID: hex('a'), Labels: own, Created: at(5)},
		}, wantErr: "(aaaaaaaaaaaa not running: crash-loop back-off?)", waitable: true},
		{name: "several successors: the newest", p: known, cands: []candidate{
			{ID: hex('a'), Labels: own, Created: at(5), PID: 41},
			{ID: hex('c'), Labels: own, Created: at(30), PID: 43},
			{ID: hex('b'), Labels: own, Created: at(20), PID: 42},
		}, want: hex('c')},
		{name: "several: the newest running one", p: known, cands: []candidate{
			{ID: hex('a'), Labels: own, Created: at(5), PID: 41},
			{ID: hex('b'), Labels: own, Created: at(20)},
		}, want: hex('a')},
		{name: "no candidates", p: known, wantErr: "no running container", waitable: true},
		{name: "not a container ID", p: known, cands: []candidate{
			{ID: "../../etc", Labels: own, Created: at(5), PID: 42},
		}, wantErr: "no running container", waitable: true},
		{name: "planned container of another pod (forged plan)", p: planned{known: true, labels: labels("uid-2", "ns", "web-2", "app"), created: t0},
			cands:   []candidate{{ID: hex('a'), Labels: own, Created: at(5), PID: 42}},
			wantErr: "refusing to follow container 000000000000: it is not ns/web-1/app's (label io.kubernetes.pod.uid is \"uid-2\""},
		{name: "planned container gone: the plan's time bounds", notBefore: at(10), cands: []candidate{
			{ID: hex('a'), Labels: own, Created: at(5), PID: 41},
			{ID: hex('b'), Labels: own, Created: at(20), PID: 42},
		}, want: hex('b')},
		{name: "planned container gone, no plan time", cands: []candidate{
			{ID: hex('a'), Labels: own, Created: at(5), PID: 41},
		}, wantErr: "no creation time"},
		{name: "plan without pod UID (older CLI)", tgt: plan.Target{Namespace: "ns", Pod: "web-1", Container: "app", ContainerID: tgt.ContainerID}, p: known,
			cands: []candidate{{ID: hex('a'), Labels: own, Created: at(5), PID: 42}}, wantErr: "names no pod UID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := tgt
			if tc.tgt.Pod != "" {
				target = tc.tgt
			}
			got, err := pickSuccessor(target, id, tc.p, tc.notBefore, tc.cands)
			if tc.want != "" {
				if err != nil || got.ID != tc.want {
					t.Fatalf("picked %q, %v; want %q", got.ID, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("picked %q, %v; want an error containing %q", got.ID, err, tc.wantErr)
			}
			var none errNoSuccessor
			if errors.As(err, &none) != tc.waitable {
				t.Fatalf("error %q: waitable %v, want %v", err, !tc.waitable, tc.waitable)
			}
		})
	}
}

func TestSuccessorFilterQuotes(t *testing.T) {
	f := successorFilter(plan.Target{PodUID: "0f-1", Container: `a"b`})
	if want := `labels."io.kubernetes.pod.uid"=="0f-1",labels."io.kubernetes.container.name"=="a\"b"`; f != want {
		t.Fatalf("filter %s, want %s", f, want)
	}
}
