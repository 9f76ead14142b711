package app

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	appsv1client "k8s.io/client-go/kubernetes/typed/apps/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session/sessiontest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// The warm tests run kubectl chaos warm and then fault commands in-process against one
// fake cluster (issue 17): a fault command attaches to its warm helpers while its
// targets resolve, and must neither keep such an attach when it ends nor use a helper
// the resolved fault does not fit.

// warmWorld is one fake cluster, its kubelet, and the state directory the commands
// share (the warm helpers' keys).
type warmWorld struct {
	cs    *fake.Clientset
	k     *sessiontest.Cluster
	att   *countingAttacher
	state string
	hold  func(verb, resource, ns string) // before the fault command's reads (nil: none)
}

func newWarmWorld(t *testing.T) *warmWorld {
	t.Helper()
	isolate(t)
	cs := webCluster()
	// The fake API server gives no UIDs; a warm helper's key is kept under its pod's.
	var n int
	var mu sync.Mutex
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		if p, ok := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod); ok && p.UID == "" {
			mu.Lock()
			n++
			p.UID = types.UID(fmt.Sprintf("uid-helper-%d", n))
			mu.Unlock()
		}
		return false, nil, nil
	})
	k := sessiontest.New(t, cs)
	return &warmWorld{cs: cs, k: k, att: &countingAttacher{Attacher: k, open: map[string]int{}, total: map[string]int{}}, state: t.TempDir()}
}

// start runs one command on the world; now, when set, is the command's clock.
func (w *warmWorld) start(t *testing.T, now func() time.Time, args ...string) *liveRun {
	t.Helper()
	io, _, _, _ := ui.Test()
	out, errOut := &sessiontest.Buffer{}, &sessiontest.Buffer{}
	io.Out, io.ErrOut = out, errOut
	var c kubernetes.Interface = w.cs
	if w.hold != nil {
		c = holdClient{w.cs, w.hold}
	}
	f := factory.NewFake(io, c, time.Now(), nil)
	f.Now = time.Now
	if now != nil {
		f.Now = now
	}
	f.StateDir = func() string { return w.state }
	f.Attacher = func() (session.Attacher, error) { return w.att, nil }
	root := NewRootCmd(f)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	r := &liveRun{out: out, errOut: errOut, cs: w.cs, done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(cancel)
	return r
}

// warm runs kubectl chaos warm deploy/web and returns the warm helpers' pod names.
func (w *warmWorld) warm(t *testing.T, forArg string) []string {
	t.Helper()
	r := w.start(t, nil, "warm", "deploy/web", "--for", forArg)
	if err := r.wait(t, 30*time.Second); err != nil {
		t.Fatalf("warm: %v\n%s", err, r.errOut.String())
	}
	l, err := w.cs.CoreV1().Pods(helperpod.DefaultNamespace).List(context.Background(), metav1.ListOptions{LabelSelector: plan.LabelWarm + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	if len(names) != 2 {
		t.Fatalf("warm made %d helpers %v, want one per node of deploy/web (2)", len(names), names)
	}
	return names
}

// countingAttacher counts the attach streams open and opened, per pod.
type countingAttacher struct {
	session.Attacher
	mu          sync.Mutex
	open, total map[string]int
}

func (c *countingAttacher) Attach(ctx context.Context, ns, pod, ctr string, stdin io.Reader, stdout io.Writer) error {
	c.mu.Lock()
	c.open[pod]++
	c.total[pod]++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.open[pod]--
		c.mu.Unlock()
	}()
	return c.Attacher.Attach(ctx, ns, pod, ctr, stdin, stdout)
}

// counts are the open and the opened attaches of pods, summed.
func (c *countingAttacher) counts(pods []string) (open, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range pods {
		open += c.open[p]
		total += c.total[p]
	}
	return open, total
}

// holdUntilAttached makes the command's first call of verb on resource in namespace
// default (the targets' resolution) wait until an attach to one of pods is open, at
// most 5 s; the returned func says whether it saw one. (Not a reactor: the fake
// clientset runs its reactors under one lock, so the warm lookup would wait too.)
func holdUntilAttached(w *warmWorld, verb, resource string, pods []string) func() bool {
	var once sync.Once
	var saw bool
	var mu sync.Mutex
	w.hold = func(v, res, ns string) {
		if v != verb || res != resource || ns != "default" {
			return
		}
		once.Do(func() {
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
				if open, _ := w.att.counts(pods); open > 0 {
					mu.Lock()
					saw = true
					mu.Unlock()
					return
				}
			}
		})
	}
	return func() bool { mu.Lock(); defer mu.Unlock(); return saw }
}

// holdClient is the fake clientset with hold called before pod lists and deployment
// gets.
type holdClient struct {
	kubernetes.Interface
	hold func(verb, resource, ns string)
}

func (h holdClient) CoreV1() corev1client.CoreV1Interface {
	return holdCore{h.Interface.CoreV1(), h.hold}
}

func (h holdClient) AppsV1() appsv1client.AppsV1Interface {
	return holdApps{h.Interface.AppsV1(), h.hold}
}

type holdCore struct {
	corev1client.CoreV1Interface
	hold func(verb, resource, ns string)
}

func (c holdCore) Pods(ns string) corev1client.PodInterface {
	return holdPods{c.CoreV1Interface.Pods(ns), ns, c.hold}
}

type holdPods struct {
	corev1client.PodInterface
	ns   string
	hold func(verb, resource, ns string)
}

func (p holdPods) List(ctx context.Context, o metav1.ListOptions) (*corev1.PodList, error) {
	p.hold("list", "pods", p.ns)
	return p.PodInterface.List(ctx, o)
}

type holdApps struct {
	appsv1client.AppsV1Interface
	hold func(verb, resource, ns string)
}

func (a holdApps) Deployments(ns string) appsv1client.DeploymentInterface {
	return holdDeployments{a.AppsV1Interface.Deployments(ns), ns, a.hold}
}

type holdDeployments struct {
	appsv1client.DeploymentInterface
	ns   string
	hold func(verb, resource, ns string)
}

func (d holdDeployments) Get(ctx context.Context, name string, o metav1.GetOptions) (*appsv1.Deployment, error) {
	d.hold("get", "deployments", d.ns)
	return d.DeploymentInterface.Get(ctx, name, o)
}

// TestWarmAttachOpensWhileTargetsResolve: a fault command on warm helpers attaches to
// them before its targets are resolved (the target list waits here until it has), runs
// its step over that one attach per helper, and leaves no attach open; the helpers are
// neither stopped nor deleted.
func TestWarmAttachOpensWhileTargetsResolve(t *testing.T) {
	w := newWarmWorld(t)
	warm := w.warm(t, "10m")
	_, before := w.att.counts(warm)
	sawEarly := holdUntilAttached(w, "list", "pods", warm)
	r := w.start(t, nil, "noop", "deploy/web", "--duration", "1s", "--yes")
	if err := r.wait(t, 30*time.Second); err != nil {
		t.Fatalf("exit %d (%v)\n%s", exit.Code(err), err, r.errOut.String())
	}
	if !sawEarly() {
		t.Errorf("no attach to a warm helper was open while the targets were listed")
	}
	if n := strings.Count(r.errOut.String(), "using warm helper"); n != 2 {
		t.Errorf("%d nodes used their warm helper, want 2:\n%s", n, r.errOut.String())
	}
	open, total := w.att.counts(warm)
	if open != 0 || total-before != 2 {
		t.Errorf("after the command: %d attaches open, %d opened by it; want 0 open, one per warm helper (2)", open, total-before)
	}
	for _, name := range warm {
		if n := w.k.Stops(name + "#0"); n != 0 {
			t.Errorf("%d stop lines reached warm helper %s", n, name)
		}
	}
	if n := r.helpers(t); n != 2 {
		t.Errorf("%d helper pods after the command, want the 2 warm ones", n)
	}
}

// TestWarmEarlyAttachClosedWhenTargetsFail: the targets do not resolve (no such
// deployment) after the early attaches opened: the command fails as before and leaves
// no attach open, and the warm helpers serve on.
func TestWarmEarlyAttachClosedWhenTargetsFail(t *testing.T) {
	w := newWarmWorld(t)
	warm := w.warm(t, "10m")
	sawEarly := holdUntilAttached(w, "get", "deployments", warm)
	r := w.start(t, nil, "noop", "deploy/nosuch", "--duration", "1s", "--yes")
	err := r.wait(t, 30*time.Second)
	if err == nil || !strings.Contains(r.errOut.String()+err.Error(), "nosuch") {
		t.Fatalf("exit %d (%v), want the missing deployment named\n%s", exit.Code(err), err, r.errOut.String())
	}
	if !sawEarly() {
		t.Fatalf("no early attach was open while the targets resolved: the test proves nothing")
	}
	if open, _ := w.att.counts(warm); open != 0 {
		t.Errorf("%d attaches to warm helpers still open after the command returned", open)
	}
	for _, name := range warm {
		if n := w.k.Stops(name + "#0"); n != 0 {
			t.Errorf("%d stop lines reached warm helper %s", n, name)
		}
	}
	// They still serve: the next command uses them.
	r = w.start(t, nil, "noop", "deploy/web", "--duration", "1s", "--yes")
	if err := r.wait(t, 30*time.Second); err != nil {
		t.Fatalf("the next command: exit %d (%v)\n%s", exit.Code(err), err, r.errOut.String())
	}
	if n := strings.Count(r.errOut.String(), "using warm helper"); n != 2 {
		t.Errorf("the next command used %d warm helpers, want 2:\n%s", n, r.errOut.String())
	}
}

// TestWarmEarlyAttachRefusedByTheFaultsDeadline: the early attach judges a helper by
// the fault's deadline as it stands before the targets resolve; the deadline Prepare
// stamps is later (here the clock jumps 90 s, as a slow resolution would), too late
// for the helper's: the command refuses it, runs on a helper pod of its own, and the
// early attach is closed unused.
func TestWarmEarlyAttachRefusedByTheFaultsDeadline(t *testing.T) {
	w := newWarmWorld(t)
	warm := w.warm(t, "10m")
	var calls int
	var mu sync.Mutex
	jumpy := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 { // the warm lookup's reading
			return time.Now()
		}
		return time.Now().Add(90 * time.Second)
	}
	sawEarly := holdUntilAttached(w, "list", "pods", warm)
	// 9m + 30 s margin fits a 10m helper from now, not from 90 s later.
	r := w.start(t, jumpy, "noop", "deploy/web", "--duration", "9m", "--yes")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(r.errOut.String(), "attached") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !sawEarly() {
		t.Errorf("no early attach was open while the targets resolved: the test proves nothing")
	}
	if strings.Contains(r.errOut.String(), "using warm helper") {
		t.Errorf("the fault used a warm helper whose deadline is too early for it:\n%s", r.errOut.String())
	}
	if open, _ := w.att.counts(warm); open != 0 {
		t.Errorf("%d attaches to the refused warm helpers still open while the fault runs", open)
	}
	if n := r.helpers(t); n != 4 {
		t.Errorf("%d helper pods while the fault runs, want the 2 warm ones and 2 of its own", n)
	}
	r.cancel()
	err := r.wait(t, 30*time.Second)
	if c := exit.Code(err); c != exit.Interrupted {
		t.Errorf("exit %d (%v) after Ctrl-C, want %d\n%s", c, err, exit.Interrupted, r.errOut.String())
	}
	for _, name := range warm {
		if n := w.k.Stops(name + "#0"); n != 0 {
			t.Errorf("%d stop lines reached warm helper %s", n, name)
		}
	}
}
