package app

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/podevents"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// chaosEvents are the Events of kubectl-chaos in cs, as "REASON POD" sorted; read from
// the tracker, so the test's own read is not taken for a command's (checkRBAC).
func chaosEvents(t *testing.T, cs *fake.Clientset) ([]string, []corev1.Event) {
	t.Helper()
	obj, err := cs.Tracker().List(schema.GroupVersionResource{Version: "v1", Resource: "events"},
		schema.GroupVersionKind{Version: "v1", Kind: "Event"}, metav1.NamespaceAll)
	if err != nil {
		t.Fatal(err)
	}
	l := obj.(*corev1.EventList)
	var out []string
	for _, ev := range l.Items {
		if ev.Source.Component == podevents.Component {
			out = append(out, ev.Reason+" "+ev.InvolvedObject.Name)
		}
	}
	sort.Strings(out)
	return out, l.Items
}

const wantWebEvents = "ChaosInjected web-1,ChaosInjected web-2,ChaosInjected web-3,ChaosRecovered web-1,ChaosRecovered web-2,ChaosRecovered web-3"

// Every target pod gets an injected and a recovered Event, on the pod (its UID, so
// kubectl describe pod finds them), naming the experiment, the fault and the owner.
func TestEventsOnTargets(t *testing.T) {
	r := startLive(t, "noop", "deploy/web", "--duration", "1s", "--yes")
	if err := r.wait(t, 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, r.errOut.String())
	}
	got, evs := chaosEvents(t, r.cs)
	if strings.Join(got, ",") != wantWebEvents {
		t.Fatalf("events %v, want %s", got, wantWebEvents)
	}
	for _, ev := range evs {
		id := ev.Labels[podevents.LabelExperiment]
		if ev.InvolvedObject.UID != "uid-name" || ev.InvolvedObject.Kind != "Pod" || ev.Namespace != "default" || !strings.HasPrefix(id, "chaos-") ||
			!strings.Contains(ev.Message, id) || !strings.Contains(ev.Message, "noop noop") || !strings.Contains(ev.Message, "owner tester@fake") ||
			ev.FirstTimestamp.IsZero() {
			t.Errorf("event %s: %+v", ev.Name, ev)
		}
	}
	if strings.Contains(r.errOut.String(), "not written") {
		t.Errorf("warning on stderr:\n%s", r.errOut.String())
	}
}

// --events=false writes none, and says so on the helper pods so ls and gc do not either.
func TestEventsOff(t *testing.T) {
	r := startLive(t, "noop", "deploy/web", "--duration", "1s", "--yes", "--events=false")
	if err := r.wait(t, 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, r.errOut.String())
	}
	if got, _ := chaosEvents(t, r.cs); len(got) != 0 {
		t.Errorf("--events=false wrote %v", got)
	}
	helpers := 0
	for _, a := range r.cs.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetResource().Resource == "pods" {
			p := c.GetObject().(*corev1.Pod)
			helpers++
			if p.Annotations[podevents.AnnotationEvents] != podevents.EventsOff {
				t.Errorf("helper %s annotations %v", p.Name, p.Annotations)
			}
		}
	}
	if helpers != 2 {
		t.Errorf("%d helper pods created, want 2", helpers)
	}
}

// A slow Events API (each create takes 2 s) does not slow the session: the fault's
// timeline is the same as without Events, and the command waits at most the flush
// bound for them. A blocking writer would add ≥12 s (6 Events).
func TestEventsSlowAPIDoesNotDelay(t *testing.T) {
	type timing struct{ session, inject, wall time.Duration }
	measure := func(events kubernetes.Interface, extra ...string) (timing, string) {
		mod := func(f *factory.Factory) {
			if events != nil {
				f.EventClient = func() (kubernetes.Interface, error) { return events, nil }
			}
		}
		start := time.Now()
		r := startLiveOn(t, webCluster(), mod, append([]string{"noop", "deploy/web", "--duration", "1s", "--yes", "-o", "json"}, extra...)...)
		if err := r.wait(t, 60*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, r.errOut.String())
		}
		wall := time.Since(start)
		var rep session.Report
		if err := json.Unmarshal([]byte(r.out.String()), &rep); err != nil {
			t.Fatalf("report: %v\n%s", err, r.out.String())
		}
		tm := timing{session: rep.EndedAt.Sub(rep.StartedAt), wall: wall}
		for _, n := range rep.Nodes {
			tm.inject = max(tm.inject, n.InjectLatency.D())
		}
		return tm, r.errOut.String()
	}
	slow := fake.NewClientset()
	slow.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		time.Sleep(2 * time.Second)
		return false, nil, nil
	})
	base, _ := measure(nil, "--events=false")
	got, errOut := measure(slow)
	t.Logf("without Events: session %s, inject %s, command %s; Events API taking 2s a create: session %s, inject %s, command %s",
		base.session.Round(time.Millisecond), base.inject.Round(time.Millisecond), base.wall.Round(time.Millisecond),
		got.session.Round(time.Millisecond), got.inject.Round(time.Millisecond), got.wall.Round(time.Millisecond))
	if got.session > base.session+1500*time.Millisecond {
		t.Errorf("the session took %s with a slow Events API, %s without", got.session, base.session)
	}
	if got.inject > base.inject+1500*time.Millisecond {
		t.Errorf("inject latency %s with a slow Events API, %s without", got.inject, base.inject)
	}
	if got.wall > base.wall+podevents.DefaultFlush+2*time.Second {
		t.Errorf("the command took %s with a slow Events API, %s without (flush bound %s)", got.wall, base.wall, podevents.DefaultFlush)
	}
	if !strings.Contains(errOut, "Kubernetes Event(s) on the target pods not written") || !strings.Contains(errOut, "the fault itself was not affected") {
		t.Errorf("no counted warning for the Events not written:\n%s", errOut)
	}
}

// An Events API that refuses (RBAC) costs a warning, not the run.
func TestEventsForbidden(t *testing.T) {
	denied := fake.NewClientset()
	denied.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", errors.New("no"))
	})
	r := startLiveOn(t, webCluster(), func(f *factory.Factory) {
		f.EventClient = func() (kubernetes.Interface, error) { return denied, nil }
	}, "noop", "deploy/web", "--duration", "1s", "--yes")
	if err := r.wait(t, 30*time.Second); exit.Code(err) != exit.OK {
		t.Fatalf("exit %d (%v)\n%s", exit.Code(err), err, r.errOut.String())
	}
	if !strings.Contains(r.errOut.String(), "may not create events") {
		t.Errorf("no RBAC warning:\n%s", r.errOut.String())
	}
}

// A detached run's CLI is gone when its helpers end: the next ls reads their results
// and writes the Events, once (it notes it on the helper pods). With --events=false it
// writes none.
func TestLsWritesEventsOfEndedHelpers(t *testing.T) {
	for _, off := range []bool{false, true} {
		args := []string{"noop", "deploy/web", "--duration", "1s", "--detach", "--yes"}
		if off {
			args = append(args, "--events=false")
		}
		r := startLive(t, args...)
		if err := r.wait(t, 30*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, r.errOut.String())
		}
		if got, _ := chaosEvents(t, r.cs); len(got) != 0 {
			t.Errorf("a detached CLI wrote %v", got)
		}
		waitHelpersEnded(t, r.cs)
		before := len(r.cs.Actions())
		ls := run(t, r.cs, "ls")
		if ls.err != nil {
			t.Fatalf("ls: %v\n%s", ls.err, ls.errOut)
		}
		got, _ := chaosEvents(t, r.cs)
		want := wantWebEvents
		if off {
			want = ""
		}
		if strings.Join(got, ",") != want {
			t.Errorf("events=%v: after ls %v, want %s", !off, got, want)
		}
		creates := func(from int) int {
			n := 0
			for _, a := range r.cs.Actions()[from:] {
				if a.GetVerb() == "create" && a.GetResource().Resource == "events" {
					n++
				}
			}
			return n
		}
		mid := len(r.cs.Actions())
		_ = run(t, r.cs, "ls")
		if n := creates(mid); n != 0 {
			t.Errorf("the second ls made %d Event creates, want 0 (first: %d)", n, creates(before))
		}
	}
}

// waitHelpersEnded waits (≤20 s) until every helper pod has ended.
func waitHelpersEnded(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		l, err := cs.CoreV1().Pods(helperpod.DefaultNamespace).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ended := 0
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				ended++
			}
		}
		if ended == len(l.Items) && ended > 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("helpers did not end: %d of %d", ended, len(l.Items))
		}
	}
}

// Each fault run goes to the local history, which kubectl chaos history prints.
func TestHistoryOfRuns(t *testing.T) {
	dir := t.TempDir()
	withState := func(f *factory.Factory) { f.StateDir = func() string { return dir } }
	r := startLiveOn(t, webCluster(), withState, "noop", "deploy/web", "--duration", "1s", "--yes")
	if err := r.wait(t, 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, r.errOut.String())
	}
	r = startLiveOn(t, webCluster(), withState, "noop", "deploy/web", "--fail-apply", "--duration", "1m", "--yes")
	if err := r.wait(t, 30*time.Second); exit.Code(err) != exit.Fault {
		t.Fatalf("exit %d (%v)", exit.Code(err), err)
	}
	// A dry run is not a run.
	r = startLiveOn(t, webCluster(), withState, "noop", "deploy/web", "--dry-run")
	if err := r.wait(t, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	hist := func(args ...string) result {
		io, _, out, errOut := ui.Test()
		f := factory.NewFake(io, nil, testNow, nil)
		withState(f)
		root := NewRootCmd(f)
		root.SetArgs(append([]string{"history"}, args...))
		err := executeRoot(context.Background(), root)
		return result{out: out.String(), errOut: errOut.String(), err: err}
	}
	h := hist("-o", "json")
	var entries []struct {
		ID, Kind, Command, Result string
		ExitCode                  int
		Targets                   []string
		StartedAt, EndedAt        time.Time
	}
	if err := json.Unmarshal([]byte(h.out), &entries); err != nil || h.err != nil {
		t.Fatalf("history -o json: %v %v\n%s", err, h.err, h.out)
	}
	if len(entries) != 2 {
		t.Fatalf("%d entries, want 2 (no dry run):\n%s", len(entries), h.out)
	}
	ok, failed := entries[0], entries[1]
	if !strings.HasPrefix(ok.ID, "chaos-") || ok.Kind != "fault" || ok.Result != "completed" || ok.ExitCode != 0 || len(ok.Targets) != 3 ||
		ok.Command != "kubectl chaos noop deploy/web --duration=1s --yes" || !ok.EndedAt.After(ok.StartedAt) {
		t.Errorf("first entry %+v", ok)
	}
	if failed.Result != "failed" || failed.ExitCode != exit.Fault || !strings.Contains(failed.Command, "--fail-apply") {
		t.Errorf("second entry %+v", failed)
	}
	h = hist("--limit", "1")
	if h.err != nil || !strings.Contains(h.out, "RESULT") || !strings.Contains(h.out, failed.ID) || strings.Contains(h.out, ok.ID) ||
		!strings.Contains(h.out, "failed (exit 3)") {
		t.Errorf("history --limit 1: %v\n%s", h.err, h.out)
	}
	if h = hist("--limit", "-1"); exit.Code(h.err) != exit.Usage || !strings.Contains(h.err.Error(), "--limit must be 0 (all) or more") {
		t.Errorf("--limit -1: %v", h.err)
	}
}
