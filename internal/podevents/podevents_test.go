package podevents

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

var (
	exp = Experiment{ID: "chaos-abcdefgh", Owner: "alice@dev", Fault: "network delay 100ms"}
	web = Target{Namespace: "default", Pod: "web-1", UID: "uid-1", Container: "app"}
)

func events(t *testing.T, cs *fake.Clientset) []corev1.Event {
	t.Helper()
	l, err := cs.CoreV1().Events(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func TestBuild(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ev := Build(ReasonInjected, exp, web, at, "")
	if ev.Namespace != "default" || ev.InvolvedObject.Name != "web-1" || ev.InvolvedObject.UID != "uid-1" ||
		ev.InvolvedObject.Kind != "Pod" || ev.InvolvedObject.FieldPath != "spec.containers{app}" {
		t.Errorf("involved object %+v", ev.InvolvedObject)
	}
	if ev.Type != corev1.EventTypeNormal || ev.Source.Component != Component || ev.ReportingController != Component ||
		ev.Labels[LabelExperiment] != exp.ID || !ev.FirstTimestamp.Time.Equal(at) || ev.Count != 1 || ev.Action != "Injected" {
		t.Errorf("event %+v", ev)
	}
	for _, want := range []string{exp.ID, "injected", exp.Fault, "container app", "owner alice@dev"} {
		if !strings.Contains(ev.Message, want) {
			t.Errorf("message %q lacks %q", ev.Message, want)
		}
	}
	if f := Build(ReasonFailed, exp, web, at, "boom\nagain"); f.Type != corev1.EventTypeWarning || !strings.HasSuffix(f.Message, ": boom again") {
		t.Errorf("failed event %s %q", f.Type, f.Message)
	}
	// Names: one per reason and container, valid even for the longest pod name.
	long := Target{Namespace: "default", Pod: strings.Repeat("a", 250), Container: "c"}
	names := map[string]bool{}
	for _, tg := range []Target{web, {Namespace: "default", Pod: "web-1", Container: "sidecar"}, {Namespace: "default", Pod: "web-1"}, long} {
		for _, r := range []string{ReasonInjected, ReasonRecovered, ReasonFailed} {
			n := Name(r, exp.ID, tg)
			if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
				t.Errorf("name %q: %v", n, errs)
			}
			if names[n] {
				t.Errorf("name %q twice", n)
			}
			names[n] = true
		}
	}
}

func TestRecorderWritesOnceEach(t *testing.T) {
	cs := fake.NewSimpleClientset()
	r := New(cs, Options{})
	r.Record(ReasonInjected, exp, web, time.Time{}, "")
	r.Record(ReasonInjected, exp, web, time.Time{}, "") // the same Event: not queued again
	r.Record(ReasonRecovered, exp, web, time.Time{}, "")
	r.Record(ReasonInjected, exp, Target{Namespace: "default", Pod: "web-2", Container: "app"}, time.Time{}, "")
	st := r.Close(5 * time.Second)
	if st.Queued != 3 || st.Written != 3 || st.Dropped != 0 || st.Failed != 0 || st.Warning() != "" {
		t.Errorf("stats %+v", st)
	}
	got := map[string]int{}
	for _, ev := range events(t, cs) {
		got[ev.Reason+" "+ev.InvolvedObject.Name]++
	}
	if len(got) != 3 || got["ChaosInjected web-1"] != 1 || got["ChaosRecovered web-1"] != 1 || got["ChaosInjected web-2"] != 1 {
		t.Errorf("events %v", got)
	}
	r.Record(ReasonFailed, exp, web, time.Time{}, "after close") // no-op, no panic
	// Someone else wrote it first: AlreadyExists is written.
	r2 := New(cs, Options{})
	r2.Record(ReasonInjected, exp, web, time.Time{}, "")
	if st := r2.Close(5 * time.Second); st.Written != 1 || st.Failed != 0 || !r2.Written(ReasonInjected, exp, web) {
		t.Errorf("second writer: %+v", st)
	}
	var nilRec *Recorder
	nilRec.Record(ReasonInjected, exp, web, time.Time{}, "")
	if st := nilRec.Close(time.Second); st != (Stats{}) {
		t.Errorf("nil recorder %+v", st)
	}
}

// A stuck Events API: Record never blocks (a full queue drops and counts), and Close
// gives up after its flush bound, counting what was not written.
func TestRecorderStuckAPI(t *testing.T) {
	cs := fake.NewSimpleClientset()
	release := make(chan struct{})
	defer close(release)
	cs.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-release
		return true, nil, errors.New("late")
	})
	r := New(cs, Options{Queue: 4})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			r.Record(ReasonInjected, exp, Target{Namespace: "default", Pod: "p", Container: string(rune('a' + i))}, time.Time{}, "")
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked on a stuck Events API")
	}
	start := time.Now()
	st := r.Close(200 * time.Millisecond)
	took := time.Since(start)
	// One in flight, four queued, the rest dropped at Record: nothing written.
	if st.Written != 0 || st.Dropped+st.Failed != 20 || st.Dropped < 15 {
		t.Errorf("stats %+v", st)
	}
	if took > 5*time.Second {
		t.Errorf("Close took %s with a flush bound of 200ms", took)
	}
	if w := st.Warning(); !strings.Contains(w, "20 Kubernetes Event(s)") || !strings.Contains(w, "dropped") {
		t.Errorf("warning %q", w)
	}
}

// The recover Events of a many-target experiment are queued together at its end, just
// before Close: they are written in full within the flush bound. Before, the writer kept
// its 20/s (bursts of 40) to the end, so of 120 Events queued at Close only ≈80 were
// written in a 2 s bound and the rest were dropped.
func TestRecorderCloseWritesTheRestAtOnce(t *testing.T) {
	cs := fake.NewSimpleClientset()
	cs.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		time.Sleep(5 * time.Millisecond) // an API round trip
		return false, nil, nil
	})
	r := New(cs, Options{})
	const n = 120
	for i := 0; i < n; i++ {
		r.Record(ReasonRecovered, exp, Target{Namespace: "default", Pod: fmt.Sprintf("p%d", i), Container: "c"}, time.Time{}, "")
	}
	start := time.Now()
	st := r.Close(2 * time.Second)
	t.Logf("%d Events written in %s after Close", st.Written, time.Since(start))
	if st.Written != n || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("stats %+v, want all %d written", st, n)
	}
	evs, err := cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(evs.Items) != n {
		t.Fatalf("%d Events in the API (%v), want %d", len(evs.Items), err, n)
	}
}

func TestRecorderForbidden(t *testing.T) {
	cs := fake.NewSimpleClientset()
	cs.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", errors.New("RBAC says no"))
	})
	r := New(cs, Options{})
	r.Record(ReasonInjected, exp, web, time.Time{}, "")
	st := r.Close(5 * time.Second)
	if st.Failed != 1 || !st.Forbidden || !strings.Contains(st.Warning(), "may not create events") || !strings.Contains(st.Warning(), "--events=false") {
		t.Errorf("stats %+v warning %q", st, st.Warning())
	}
}

func helperWith(phase, annotation string, res *plan.Result) session.HelperState {
	h := session.HelperState{Namespace: "kubectl-chaos", Pod: "helper-n1", Node: "n1", Phase: phase, Terminated: true, Result: res,
		Plan: &plan.Plan{Experiment: exp.ID, Owner: exp.Owner, Fault: plan.Fault{Kind: plan.KindNoop, Action: "noop", Noop: &plan.Noop{}},
			Targets: []plan.Target{{Namespace: "default", Pod: "web-1", PodUID: "uid-1", Container: "app"}, {Namespace: "default", Pod: "web-2", PodUID: "uid-2", Container: "app"}}},
		Annotations: map[string]string{}}
	if annotation != "" {
		h.Annotations[AnnotationEvents] = annotation
	}
	return h
}

func TestFromHelpers(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	res := &plan.Result{Experiment: exp.ID, Node: "n1", Reason: plan.ReasonEOF, Targets: []plan.TargetResult{
		{Target: "default/web-1/app", Injected: true, Recovered: true, InjectedAt: at, RecoveredAt: at.Add(time.Minute)},
		{Target: "default/web-2/app", Injected: true, Error: "tc: no such device"},
	}}
	got := FromHelpers([]session.HelperState{
		helperWith("Succeeded", "", res),
		helperWith("Succeeded", EventsOff, res),     // --events=false
		helperWith("Succeeded", EventsWritten, res), // ls wrote them already
		helperWith("Running", "", res),              // the agent may be restarted: not final
		helperWith("Failed", "", nil),               // no result: nothing to say
	})
	if len(got) != 1 {
		t.Fatalf("pending %d, want 1: %+v", len(got), got)
	}
	var evs []string
	for _, ev := range got[0].Events {
		evs = append(evs, ev.Reason+" "+ev.Target.Pod+" "+ev.Target.UID)
	}
	want := "ChaosInjected web-1 uid-1,ChaosRecovered web-1 uid-1,ChaosInjected web-2 uid-2,ChaosFailed web-2 uid-2"
	if strings.Join(evs, ",") != want {
		t.Errorf("events %v, want %s", evs, want)
	}
	if d := got[0].Events[3].Detail; !strings.Contains(d, "not recovered: tc: no such device") {
		t.Errorf("failed detail %q", d)
	}
	if !got[0].Events[1].At.Equal(at.Add(time.Minute)) {
		t.Errorf("recovered at %s", got[0].Events[1].At)
	}
	// One-shot (a kill): nothing to recover, no recovered Event.
	if evs := ResultEvents(plan.TargetResult{Injected: true, Recovered: true}, true); len(evs) != 1 || evs[0].Reason != ReasonInjected {
		t.Errorf("one-shot %+v", evs)
	}
}

// Write writes the Events and notes it on the helper pod; a second pass writes nothing.
func TestWriteMarksHelper(t *testing.T) {
	helper := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kubectl-chaos", Name: "helper-n1"}}
	cs := fake.NewSimpleClientset(helper)
	res := &plan.Result{Reason: plan.ReasonEOF, Targets: []plan.TargetResult{{Target: "default/web-1/app", Injected: true, Recovered: true}}}
	st := Write(context.Background(), cs, cs, FromHelpers([]session.HelperState{helperWith("Succeeded", "", res)}), 5*time.Second)
	if st.Written != 2 || st.Warning() != "" {
		t.Errorf("stats %+v", st)
	}
	p, err := cs.CoreV1().Pods("kubectl-chaos").Get(context.Background(), "helper-n1", metav1.GetOptions{})
	if err != nil || p.Annotations[AnnotationEvents] != EventsWritten {
		t.Fatalf("helper annotations %v (%v)", p.Annotations, err)
	}
	if n := len(events(t, cs)); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
}

// BenchmarkRecord is what one Event costs the fault's goroutine: building it and a
// non-blocking put, here on a stuck Events API (the queue fills, then each put is a
// counted drop).
func BenchmarkRecord(b *testing.B) {
	cs := fake.NewSimpleClientset()
	release := make(chan struct{})
	cs.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-release
		return true, nil, nil
	})
	r := New(cs, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Record(ReasonInjected, exp, Target{Namespace: "default", Pod: "web", Container: fmt.Sprint(i)}, time.Time{}, "")
	}
	b.StopTimer()
	close(release)
	st := r.Close(time.Second)
	b.ReportMetric(float64(st.Dropped), "dropped")
}

// The helper of a kubectl chaos run (a serving plan: no targets of its own) ended with
// the targets of two steps, each tagged with its step: ls/gc write each step's Events
// under the step's experiment ID, as the CLI does, so the one the dying CLI wrote is not
// written twice; the helper is noted once all are written.
func TestFromServingHelpers(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	helper := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kubectl-chaos", Name: "run-n1"}}
	res := &plan.Result{Experiment: "chaos-run", Node: "n1", Reason: plan.ReasonEOF, Targets: []plan.TargetResult{
		{Target: "default/web-1/app", Step: "chaos-step1", PodUID: "uid-1", Injected: true, Recovered: true, InjectedAt: at, RecoveredAt: at.Add(time.Second)},
		{Target: "default/web-1/app", Step: "chaos-step2", PodUID: "uid-1", Injected: true, Recovered: true, InjectedAt: at.Add(5 * time.Second), RecoveredAt: at.Add(9 * time.Second)},
		{Target: "default/web-2/app", Step: "chaos-step2", PodUID: "uid-2", Injected: true, Error: "nft: table busy"},
		{Target: "not-a-target", Step: "chaos-step2", Injected: true}, // unreadable: skipped
	}}
	h := session.HelperState{Namespace: "kubectl-chaos", Pod: "run-n1", Node: "n1", Phase: "Succeeded", Result: res,
		Plan: &plan.Plan{Experiment: "chaos-run", Owner: "alice@dev", Serve: true}, Annotations: map[string]string{}}
	pending := FromHelpers([]session.HelperState{h})
	var got []string
	for _, p := range pending {
		for _, ev := range p.Events {
			got = append(got, p.Exp.ID+" "+ev.Reason+" "+ev.Target.Pod+" "+ev.Target.UID)
		}
	}
	want := "chaos-step1 ChaosInjected web-1 uid-1,chaos-step1 ChaosRecovered web-1 uid-1," +
		"chaos-step2 ChaosInjected web-1 uid-1,chaos-step2 ChaosRecovered web-1 uid-1,chaos-step2 ChaosInjected web-2 uid-2,chaos-step2 ChaosFailed web-2 uid-2"
	if strings.Join(got, ",") != want {
		t.Fatalf("pending events\n%s\nwant\n%s", strings.Join(got, ","), want)
	}
	// The CLI wrote step 2's injected Event on web-1 before it died.
	cli := Build(ReasonInjected, Experiment{ID: "chaos-step2", Owner: "alice@dev", Fault: "network loss 100%"},
		Target{Namespace: "default", Pod: "web-1", UID: "uid-1", Container: "app"}, at.Add(5*time.Second), "")
	cs := fake.NewSimpleClientset(helper, cli)
	st := Write(context.Background(), cs, cs, pending, 5*time.Second)
	if st.Written != 6 || st.Warning() != "" {
		t.Errorf("stats %+v, want 6 written (one already there)", st)
	}
	evs := events(t, cs)
	if len(evs) != 6 {
		t.Errorf("%d events, want 6 (none twice)", len(evs))
	}
	for _, e := range evs {
		if e.Name == cli.Name && e.Message != cli.Message {
			t.Errorf("the CLI's Event was replaced: %q", e.Message)
		}
		if e.Labels[LabelExperiment] == "chaos-run" {
			t.Errorf("event %s under the run's ID, want its step's", e.Name)
		}
	}
	p, err := cs.CoreV1().Pods("kubectl-chaos").Get(context.Background(), "run-n1", metav1.GetOptions{})
	if err != nil || p.Annotations[AnnotationEvents] != EventsWritten {
		t.Fatalf("helper annotations %v (%v)", p.Annotations, err)
	}
}
