package app

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session/sessiontest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The live tests run whole experiments through the CLI in-process: the command tree,
// the experiment engine and the real session against a fake API server, with
// sessiontest's fake kubelet running the real agent (noop fault) for each helper pod
// and its attacher joining the session to the agent's stdin/stdout with pipes.

type liveRun struct {
	out, errOut *sessiontest.Buffer
	cs          *fake.Clientset
	done        chan error
	cancel      context.CancelFunc
}

func startLive(t *testing.T, args ...string) *liveRun {
	t.Helper()
	return startLiveOn(t, webCluster(), nil, args...)
}

// startLiveOn is startLive on cs, with mod changing the factory first (nil: none).
func startLiveOn(t *testing.T, cs *fake.Clientset, mod func(*factory.Factory), args ...string) *liveRun {
	t.Helper()
	isolate(t)
	k := sessiontest.New(t, cs)
	io, _, _, _ := ui.Test()
	out, errOut := &sessiontest.Buffer{}, &sessiontest.Buffer{}
	io.Out, io.ErrOut = out, errOut
	f := factory.NewFake(io, cs, time.Now(), nil)
	f.Now = time.Now
	f.Attacher = func() (session.Attacher, error) { return recordingAttacher{k, t}, nil }
	if mod != nil {
		mod(f)
	}
	from := len(cs.Actions())
	t.Cleanup(func() { checkRBAC(t, cs, from) })
	root := NewRootCmd(f)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	r := &liveRun{out: out, errOut: errOut, cs: cs, done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(cancel)
	return r
}

func (r *liveRun) wait(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(limit):
		t.Fatalf("the experiment did not end within %s\nstderr:\n%s", limit, r.errOut.String())
		return nil
	}
}

func (r *liveRun) helpers(t *testing.T) int {
	t.Helper()
	l, err := r.cs.CoreV1().Pods(helperpod.DefaultNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

// helpersLeft waits (up to 5 s) for the helper pods to go and returns how many are
// left: the command returns once their deletion is accepted, and a fake kubelet may
// still be finishing them then (issue 17).
func (r *liveRun) helpersLeft(t *testing.T) int {
	t.Helper()
	n := r.helpers(t)
	for end := time.Now().Add(5 * time.Second); n != 0 && time.Now().Before(end); n = r.helpers(t) {
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

func TestLiveRunCompletes(t *testing.T) {
	start := time.Now()
	r := startLive(t, "noop", "deploy/web", "--duration", "1s", "--yes")
	err := r.wait(t, 30*time.Second)
	if err != nil || exit.Code(err) != exit.OK {
		t.Fatalf("exit %d (%v)\nstderr:\n%s", exit.Code(err), err, r.errOut.String())
	}
	t.Logf("1s experiment on 3 targets / 2 nodes took %s end to end", time.Since(start).Round(time.Millisecond))
	ns, err := r.cs.CoreV1().Namespaces().Get(context.Background(), helperpod.DefaultNamespace, metav1.GetOptions{})
	if err != nil || ns.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
		t.Errorf("helper namespace: %v %v", err, ns)
	}
	errs := r.errOut.String()
	// Events an agent writes before the attach is up are not streamed (as with a real
	// pods/attach); the recoveries come after it.
	for _, want := range []string{"experiment chaos-", "attached", "recovered default/web-1/app", "recovered default/web-2/app", "recovered default/web-3/app"} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress on stderr lacks %q:\n%s", want, errs)
		}
	}
	out := r.out.String()
	for _, want := range []string{": completed (noop noop)", "NODE", "INJECTED", "RECOVERED"} {
		if !strings.Contains(out, want) {
			t.Errorf("final report on stdout lacks %q:\n%s", want, out)
		}
	}
	for _, row := range []string{`node-a\s+default/web-1/app\s+yes\s+yes`, `node-a\s+default/web-2/app\s+yes\s+yes`, `node-b\s+default/web-3/app\s+yes\s+yes`} {
		if !regexp.MustCompile(row).MatchString(out) {
			t.Errorf("final report lacks a row matching %s:\n%s", row, out)
		}
	}
	if n := r.helpersLeft(t); n != 0 {
		t.Errorf("%d helper pods left after the experiment", n)
	}
}

func TestLiveRunFaultFailureExits3(t *testing.T) {
	r := startLive(t, "noop", "deploy/web", "--fail-apply", "--duration", "1m", "--yes", "-o", "json")
	err := r.wait(t, 30*time.Second)
	if exit.Code(err) != exit.Fault {
		t.Fatalf("exit %d (%v), want %d\nstderr:\n%s", exit.Code(err), err, exit.Fault, r.errOut.String())
	}
	var rep session.Report
	if jerr := json.Unmarshal([]byte(r.out.String()), &rep); jerr != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", jerr, r.out.String())
	}
	if rep.Reason != session.ReasonFailed || len(rep.Nodes) != 2 || !strings.HasPrefix(rep.Experiment, "chaos-") {
		t.Errorf("report = %+v", rep)
	}
	if n := r.helpersLeft(t); n != 0 {
		t.Errorf("%d helper pods left", n)
	}
}

func TestLiveRunInterruptedExits130(t *testing.T) {
	r := startLive(t, "noop", "deploy/web", "--duration", "1m", "--yes")
	deadline := time.Now().Add(20 * time.Second)
	// Wait until both helpers are attached and the agents have had time to inject.
	for strings.Count(r.errOut.String(), "attached") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not injected on all 3 targets in time:\n%s", r.errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	stopAt := time.Now()
	r.cancel() // Ctrl-C
	err := r.wait(t, 30*time.Second)
	if exit.Code(err) != exit.Interrupted {
		t.Fatalf("exit %d (%v), want 130\nstderr:\n%s", exit.Code(err), err, r.errOut.String())
	}
	t.Logf("Ctrl-C to exit with every target recovered and every helper deleted: %s", time.Since(stopAt).Round(time.Millisecond))
	if c := strings.Count(r.errOut.String(), " recovered "); c < 3 {
		t.Errorf("%d recovered events, want 3:\n%s", c, r.errOut.String())
	}
	if !strings.Contains(r.out.String(), ": interrupted") {
		t.Errorf("report:\n%s", r.out.String())
	}
	if n := r.helpersLeft(t); n != 0 {
		t.Errorf("%d helper pods left after Ctrl-C", n)
	}
}

func TestLiveRunDetach(t *testing.T) {
	r := startLive(t, "noop", "deploy/web", "--duration", "1m", "--detach", "--yes")
	err := r.wait(t, 30*time.Second)
	if err != nil {
		t.Fatalf("detach: %v\nstderr:\n%s", err, r.errOut.String())
	}
	out := r.out.String()
	if !strings.Contains(out, ": detached") || !strings.Contains(out, "kubectl chaos stop chaos-") {
		t.Errorf("detach output:\n%s", out)
	}
	if n := r.helpers(t); n != 2 {
		t.Errorf("%d helper pods after --detach, want 2 left running", n)
	}
}

func TestConfirmationPrompt(t *testing.T) {
	for _, tt := range []struct {
		answer string
		code   int
	}{{"n\n", exit.Usage}, {"\n", exit.Usage}, {"yes\n", exit.OK}} {
		isolate(t)
		cs := webCluster()
		k := sessiontest.New(t, cs)
		io, in, out, errOut := ui.Test()
		io.SetTTY(true, false, true)
		in.WriteString(tt.answer)
		f := factory.NewFake(io, cs, time.Now(), nil)
		f.Now = time.Now
		f.Attacher = func() (session.Attacher, error) { return k, nil }
		root := NewRootCmd(f)
		root.SetArgs([]string{"noop", "deploy/web", "--duration", "1s"})
		err := root.ExecuteContext(context.Background())
		if exit.Code(err) != tt.code {
			t.Errorf("answer %q: exit %d (%v), want %d\n%s%s", tt.answer, exit.Code(err), err, tt.code, out, errOut)
		}
		if !strings.Contains(errOut.String(), "Inject noop noop into 3 container(s) on 2 node(s) for 1s? [y/N]") {
			t.Errorf("prompt missing:\n%s", errOut)
		}
		if tt.code == exit.Usage {
			for _, a := range cs.Actions() {
				if a.GetVerb() == "create" {
					t.Errorf("answer %q: a %s was created after the user said no", tt.answer, a.GetResource().Resource)
				}
			}
		}
	}
}
