package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noop" // the noop fault the in-process agents run
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The live tests run whole experiments through the CLI in-process: the command tree,
// the experiment engine and the real session against a fake API server, with a small
// fake kubelet that runs the real agent (noop fault) for each helper pod and an
// attacher that joins the session to the agent's stdin/stdout with pipes.

var podsGVR = corev1.SchemeGroupVersion.WithResource("pods")

type kubelet struct {
	t    *testing.T
	cs   *fake.Clientset
	dir  string
	mu   sync.Mutex
	cur  map[string]*agentProc // pod -> running agent
	del  map[string]bool       // pod -> delete requested
	live map[string]bool       // pod -> kubelet still working on it
	// closing: the test is over; agents that start now are stopped at once.
	closing bool
	wg      sync.WaitGroup
}

type agentProc struct {
	stdinR *io.PipeReader
	stdinW *io.PipeWriter
	once   sync.Once
	cancel context.CancelFunc
	mu     sync.Mutex
	out    io.Writer
	exited chan struct{}
}

func (a *agentProc) closeStdin() { a.once.Do(func() { a.stdinW.Close() }) }

func newKubelet(t *testing.T, cs *fake.Clientset) *kubelet {
	k := &kubelet{t: t, cs: cs, dir: t.TempDir(), cur: map[string]*agentProc{}, del: map[string]bool{}, live: map[string]bool{}}
	// Graceful deletion: SIGTERM to the agent; the pod goes once it has exited.
	cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		name := a.(k8stesting.DeleteAction).GetName()
		k.mu.Lock()
		defer k.mu.Unlock()
		if !k.live[name] {
			return false, nil, nil
		}
		k.del[name] = true
		if p := k.cur[name]; p != nil {
			p.cancel()
		}
		return true, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Pods(helperpod.DefaultNamespace).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-w.ResultChan():
				if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == "ADDED" {
					k.mu.Lock()
					k.live[p.Name] = true
					k.mu.Unlock()
					k.wg.Add(1)
					go k.run(p.DeepCopy())
				}
			}
		}
	}()
	t.Cleanup(func() {
		k.mu.Lock()
		k.closing = true
		for name, p := range k.cur {
			k.del[name] = true
			p.cancel()
		}
		k.mu.Unlock()
		cancel()
		k.wg.Wait()
	})
	return k
}

func (k *kubelet) update(p *corev1.Pod, f func(*corev1.Pod)) bool {
	obj, err := k.cs.Tracker().Get(podsGVR, p.Namespace, p.Name)
	if err != nil {
		return false
	}
	cp := obj.(*corev1.Pod).DeepCopy()
	f(cp)
	return k.cs.Tracker().Update(podsGVR, cp, p.Namespace) == nil
}

// run is the kubelet for one helper pod: start the agent with the pod's plan, report
// Running, and on exit write the termination message as the real kubelet does.
func (k *kubelet) run(p *corev1.Pod) {
	defer k.wg.Done()
	defer func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.live[p.Name] = false
		delete(k.cur, p.Name)
		if k.del[p.Name] {
			_ = k.cs.Tracker().Delete(podsGVR, p.Namespace, p.Name)
		}
	}()
	var pl *plan.Plan
	for _, e := range p.Spec.Containers[0].Env {
		if e.Name == plan.EnvVar {
			var err error
			if pl, err = plan.Decode(e.Value); err != nil {
				k.t.Errorf("helper %s: %v", p.Name, err)
				return
			}
		}
	}
	if pl == nil {
		k.t.Errorf("helper %s carries no plan in %s", p.Name, plan.EnvVar)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := &agentProc{cancel: cancel, exited: make(chan struct{})}
	a.stdinR, a.stdinW = io.Pipe()
	k.mu.Lock()
	if k.del[p.Name] || k.closing {
		cancel()
	}
	k.cur[p.Name] = a
	k.mu.Unlock()

	outR, outW := io.Pipe()
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			a.mu.Lock()
			if a.out != nil {
				_, _ = a.out.Write(append(sc.Bytes(), '\n'))
			}
			a.mu.Unlock()
		}
	}()
	tlog := filepath.Join(k.dir, p.Name+".termination-log")
	done := make(chan int, 1)
	go func() {
		var stdin io.Reader = a.stdinR
		if pl.Detached {
			stdin = nil
		}
		_, err := agent.Run(ctx, agent.Options{Plan: pl, Stdin: stdin, Stdout: outW, TerminationLog: tlog,
			JournalDir: filepath.Join(k.dir, "journal-"+p.Spec.NodeName), ProcRoot: k.dir, Resolver: fakeResolver{}, HeartbeatInterval: 100 * time.Millisecond})
		outW.Close()
		code := 0
		if errors.Is(err, agent.ErrRecover) || errors.Is(err, agent.ErrApply) {
			code = 3
		}
		done <- code
	}()
	k.update(p, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
	})
	code := <-done
	<-pumped
	a.stdinR.CloseWithError(io.EOF)
	close(a.exited)
	msg, _ := os.ReadFile(tlog)
	k.update(p, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodSucceeded
		reason := "Completed"
		if code != 0 {
			reason = "Error"
		}
		p.Status.ContainerStatuses[0].Ready = false
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: int32(code), Reason: reason, Message: string(msg), FinishedAt: metav1.Now()}}
	})
}

// Attach joins the session to the agent like pods/attach with stdinOnce.
func (k *kubelet) Attach(ctx context.Context, ns, pod, ctr string, stdin io.Reader, stdout io.Writer) error {
	k.mu.Lock()
	a := k.cur[pod]
	k.mu.Unlock()
	if a == nil {
		return fmt.Errorf("pod %s has no running container", pod)
	}
	select {
	case <-a.exited:
		return fmt.Errorf("container of %s is not running", pod)
	default:
	}
	a.mu.Lock()
	a.out = stdout
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.out = nil
		a.mu.Unlock()
	}()
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		defer a.closeStdin()
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			if _, err := io.WriteString(a.stdinW, sc.Text()+"\n"); err != nil {
				return
			}
		}
	}()
	select {
	case <-a.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type fakeResolver struct{}

func (fakeResolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	return fault.Target{Target: t, PID: 4242, NetnsPath: "/proc/4242/ns/net", NetnsInode: 4026532000}, nil
}

// syncBuffer is a bytes.Buffer safe to read while the session writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type liveRun struct {
	out, errOut *syncBuffer
	cs          *fake.Clientset
	done        chan error
	cancel      context.CancelFunc
}

func startLive(t *testing.T, args ...string) *liveRun {
	t.Helper()
	isolate(t)
	cs := webCluster()
	k := newKubelet(t, cs)
	io, _, _, _ := ui.Test()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	io.Out, io.ErrOut = out, errOut
	f := factory.NewFake(io, cs, time.Now(), nil)
	f.Now = time.Now
	f.Attacher = func() (session.Attacher, error) { return k, nil }
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
	if n := r.helpers(t); n != 0 {
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
	if n := r.helpers(t); n != 0 {
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
	if n := r.helpers(t); n != 0 {
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
		k := newKubelet(t, cs)
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
