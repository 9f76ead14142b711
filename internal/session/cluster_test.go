package session

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noop" // the noop fault the agent runs here
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// This file is a small in-process "cluster" for the session tests: a fake clientset, a
// fake kubelet that runs the real agent.Run (noop fault) as each helper's container,
// with io.Pipes for its stdin/stdout, and a fake Attacher that connects the session to
// those pipes the way pods/attach does (stdinOnce: the client's EOF is the container's).

var podsGVR = corev1.SchemeGroupVersion.WithResource("pods")

// behavior is how the fake kubelet treats the helpers of one node.
type behavior struct {
	// stuck, when set, leaves the pod in the status it writes (image pull, unschedulable).
	stuck func(p *corev1.Pod)
	// crashFirst kills the first container once its fault is active (exit 137), so
	// the kubelet restarts it.
	crashFirst bool
	// crashOnStop kills the first container when the stop line reaches it.
	crashOnStop bool
	// runningAfter delays the Running status of each container (kubelet's PLEG relist):
	// the container runs, and can be attached to, while the pod still says Pending.
	runningAfter time.Duration
}

type cluster struct {
	t      *testing.T
	cs     *fake.Clientset
	dir    string
	procFS string

	mu         sync.Mutex
	cur        map[string]*container // pod -> current container
	active     map[string]bool       // pod -> kubelet still working on it
	deleting   map[string]bool       // pod -> delete requested (graceful)
	behaviors  map[string]behavior   // node -> behavior
	attaches   []string              // "pod#restart"
	heartbeats map[string]int        // "pod#restart" -> heartbeat lines received
	stops      map[string]int        // "pod#restart" -> stop lines received
	attachHook func(pod string) error
	runningAt  map[string]time.Time // "pod#restart" -> when its status said Running

	wg        sync.WaitGroup
	stopWatch context.CancelFunc
}

// container is one run of a helper's agent container.
type container struct {
	pod      string
	restart  int32
	stdinR   *io.PipeReader
	stdinW   *io.PipeWriter
	stdinEOF sync.Once
	cancel   context.CancelFunc // SIGTERM

	outMu    sync.Mutex
	out      io.Writer // the attached client's stdout, nil when nobody is attached
	dead     bool
	exited   chan struct{}
	breakCh  chan struct{} // closed by a test to cut the attach stream
	injected chan struct{}
	injOnce  sync.Once
	attached chan struct{} // closed on the first attach
	attOnce  sync.Once
	stopped  chan struct{} // closed when a stop line arrives
	stopOnce sync.Once
}

func (k *container) closeStdin() { k.stdinEOF.Do(func() { k.stdinW.Close() }) }

func (k *container) setOut(w io.Writer) {
	k.outMu.Lock()
	k.out = w
	k.outMu.Unlock()
}

func (k *container) writeOut(line []byte) {
	k.outMu.Lock()
	w, dead := k.out, k.dead
	k.outMu.Unlock()
	if w != nil && !dead {
		_, _ = w.Write(line)
	}
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	base := runtime.NumGoroutine()
	c := &cluster{
		t: t, cs: fake.NewSimpleClientset(), dir: t.TempDir(), procFS: t.TempDir(),
		cur: map[string]*container{}, active: map[string]bool{}, deleting: map[string]bool{},
		behaviors: map[string]behavior{}, heartbeats: map[string]int{}, stops: map[string]int{},
		runningAt: map[string]time.Time{},
	}
	// Graceful deletion: while the kubelet still runs the pod, a delete sends SIGTERM and
	// the pod goes away once the container has exited (and its status was written).
	c.cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		name := a.(k8stesting.DeleteAction).GetName()
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.active[name] {
			return false, nil, nil
		}
		c.deleting[name] = true
		if k := c.cur[name]; k != nil {
			k.cancel()
		}
		return true, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	c.stopWatch = cancel
	w, err := c.cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-w.ResultChan():
				if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == "ADDED" {
					c.mu.Lock()
					c.active[p.Name] = true
					c.mu.Unlock()
					c.wg.Add(1)
					go c.kubelet(p.DeepCopy())
				}
			}
		}
	}()
	t.Cleanup(func() {
		// End whatever still runs (tests that leave pods, e.g. detach), then check that
		// nothing of the session or the cluster keeps running.
		c.mu.Lock()
		for name, k := range c.cur {
			c.deleting[name] = true
			k.cancel()
		}
		c.mu.Unlock()
		cancel()
		c.wg.Wait()
		checkGoroutines(t, base)
	})
	return c
}

// checkGoroutines fails if goroutines started during the test are still running.
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base+2 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines leaked: %d at start, %d now\n%s", base, n, buf)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// update changes a pod in the tracker (emits a watch event); false if it is gone.
func (c *cluster) update(ns, name string, f func(p *corev1.Pod)) bool {
	obj, err := c.cs.Tracker().Get(podsGVR, ns, name)
	if err != nil {
		return false
	}
	p := obj.(*corev1.Pod).DeepCopy()
	f(p)
	return c.cs.Tracker().Update(podsGVR, p, ns) == nil
}

func (c *cluster) kubelet(p *corev1.Pod) {
	defer c.wg.Done()
	c.mu.Lock()
	b := c.behaviors[p.Spec.NodeName]
	c.mu.Unlock()
	finish := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.active[p.Name] = false
		delete(c.cur, p.Name)
		if c.deleting[p.Name] {
			_ = c.cs.Tracker().Delete(podsGVR, p.Namespace, p.Name)
		}
	}
	defer finish()
	if b.stuck != nil {
		c.update(p.Namespace, p.Name, b.stuck)
		return
	}
	if !c.update(p.Namespace, p.Name, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
	}) {
		return // deleted before the kubelet got to it
	}
	pl := podPlan(p)
	var last *corev1.ContainerStateTerminated
	for restart := int32(0); restart < 4; restart++ {
		c.mu.Lock()
		del := c.deleting[p.Name]
		c.mu.Unlock()
		if del {
			return
		}
		var crashOn func(k *container) <-chan struct{}
		switch {
		case b.crashFirst && restart == 0:
			crashOn = func(k *container) <-chan struct{} { return k.injected }
		case b.crashOnStop && restart == 0:
			crashOn = func(k *container) <-chan struct{} { return k.stopped }
		}
		code, msg := c.runContainer(p, pl, restart, last, crashOn, b.runningAfter)
		term := &corev1.ContainerStateTerminated{ExitCode: int32(code), Message: msg, Reason: "Completed", FinishedAt: metav1.Now()}
		if code != 0 {
			term.Reason = "Error"
		}
		c.mu.Lock()
		del = c.deleting[p.Name]
		c.mu.Unlock()
		if code == 0 || del {
			c.update(p.Namespace, p.Name, func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodSucceeded
				if code != 0 {
					p.Status.Phase = corev1.PodFailed
				}
				p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: term}
			})
			return
		}
		last = term
	}
	// Given up (in a real cluster: CrashLoopBackOff until activeDeadlineSeconds).
	c.update(p.Namespace, p.Name, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodFailed
		p.Status.Reason = "DeadlineExceeded"
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: last}
	})
}

// runContainer runs one container of a helper: the real agent with the pod's plan.
func (c *cluster) runContainer(p *corev1.Pod, pl *plan.Plan, restart int32, last *corev1.ContainerStateTerminated, crashOn func(*container) <-chan struct{}, runningAfter time.Duration) (int, string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := &container{pod: p.Name, restart: restart, cancel: cancel, exited: make(chan struct{}),
		breakCh: make(chan struct{}), injected: make(chan struct{}), attached: make(chan struct{}), stopped: make(chan struct{})}
	k.stdinR, k.stdinW = io.Pipe()
	c.mu.Lock()
	if c.deleting[p.Name] {
		cancel()
	}
	c.cur[p.Name] = k
	c.mu.Unlock()

	outR, outW := io.Pipe()
	pumpDone := make(chan struct{})
	go func() { // the container's stdout: to whoever is attached
		defer close(pumpDone)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			var ev plan.Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Type == plan.EventInjected {
				k.injOnce.Do(func() { close(k.injected) })
			}
			k.writeOut(append(append([]byte(nil), sc.Bytes()...), '\n'))
		}
		outR.Close()
	}()
	tlog := filepath.Join(c.dir, fmt.Sprintf("%s-%d.termination-log", p.Name, restart))
	jdir := filepath.Join(c.dir, "journal-"+p.Spec.NodeName)
	agentDone := make(chan int, 1)
	go func() {
		var stdin io.Reader = k.stdinR
		if pl.Detached {
			stdin = nil
		}
		_, err := agent.Run(ctx, agent.Options{Plan: pl, Stdin: stdin, Stdout: outW, TerminationLog: tlog,
			JournalDir: jdir, Resolver: fakeResolver{}, HeartbeatInterval: 100 * time.Millisecond, ProcRoot: c.procFS})
		outW.Close()
		code := 0 // as internal/cmd/agent maps it
		switch {
		case errors.Is(err, agent.ErrRecover):
			code = 3
		case errors.Is(err, agent.ErrPlan):
			code = 1
		}
		agentDone <- code
	}()
	if runningAfter > 0 {
		select {
		case <-time.After(runningAfter):
		case <-ctx.Done():
		}
	}
	c.mu.Lock()
	c.runningAt[fmt.Sprintf("%s#%d", p.Name, restart)] = time.Now()
	c.mu.Unlock()
	if !c.update(p.Namespace, p.Name, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName, RestartCount: restart, Ready: true,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
			LastTerminationState: corev1.ContainerState{Terminated: last}}}
	}) {
		cancel() // the pod is gone
	}
	var code int
	msg := ""
	exited := false
	if crashOn != nil { // once attached and crashOn fires, kill -9: the container and its output are gone at once
		select {
		case <-k.attached:
		case code = <-agentDone:
			exited = true
		}
		if !exited {
			select {
			case <-crashOn(k):
				k.outMu.Lock()
				k.dead = true
				k.outMu.Unlock()
				cancel()
				<-agentDone
				code = 137
			case code = <-agentDone:
			}
			exited = true
		}
	}
	if !exited {
		code = <-agentDone
	}
	<-pumpDone
	k.stdinR.CloseWithError(io.EOF)
	close(k.exited)
	if code != 137 {
		if b, err := os.ReadFile(tlog); err == nil {
			msg = string(b)
		}
	}
	return code, msg
}

type fakeResolver struct{}

func (fakeResolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	return fault.Target{Target: t, PID: 4242, NetnsPath: "/proc/4242/ns/net", NetnsInode: 4026532000}, nil
}

// Attach connects like pods/attach: stdin lines go to the container's stdin (EOF from
// the client closes it: stdinOnce), the container's stdout comes back, and the call
// returns when the container exits, ctx ends, or the test cuts the stream.
func (c *cluster) Attach(ctx context.Context, ns, pod, ctr string, stdin io.Reader, stdout io.Writer) error {
	c.mu.Lock()
	k := c.cur[pod]
	hook := c.attachHook
	if k != nil {
		c.attaches = append(c.attaches, fmt.Sprintf("%s#%d", pod, k.restart))
	}
	c.mu.Unlock()
	if hook != nil {
		if err := hook(pod); err != nil {
			return err
		}
	}
	if ctr != helperpod.ContainerName {
		return fmt.Errorf("container %q not found in pod %s", ctr, pod)
	}
	if k == nil {
		return fmt.Errorf("pod %s has no running container", pod)
	}
	select {
	case <-k.exited:
		return fmt.Errorf("container %s#%d is not running", pod, k.restart)
	default:
	}
	key := fmt.Sprintf("%s#%d", pod, k.restart)
	k.setOut(stdout)
	k.attOnce.Do(func() { close(k.attached) })
	defer k.setOut(nil)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer k.closeStdin()
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			c.mu.Lock()
			switch line {
			case plan.StdinHeartbeat:
				c.heartbeats[key]++
			case plan.StdinStop:
				c.stops[key]++
				k.stopOnce.Do(func() { close(k.stopped) })
			}
			c.mu.Unlock()
			if _, err := io.WriteString(k.stdinW, line+"\n"); err != nil {
				return
			}
		}
	}()
	select {
	case <-k.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-k.breakCh:
		k.closeStdin()
		return errors.New("error reading from error stream: connection reset by peer")
	}
}

// container returns the current container of a pod (waits for it).
func (c *cluster) container(pod string) *container {
	for i := 0; i < 500; i++ {
		c.mu.Lock()
		k := c.cur[pod]
		c.mu.Unlock()
		if k != nil {
			return k
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no container for pod %s", pod)
	return nil
}

func (c *cluster) count(m map[string]int, key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m[key]
}

// deletes lists the pods the session deleted through the API.
func (c *cluster) deletes() []string {
	var out []string
	for _, a := range c.cs.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			out = append(out, a.(k8stesting.DeleteAction).GetName())
		}
	}
	return out
}

// remaining lists the helper pods still in the fake API.
func (c *cluster) remaining() []string {
	l, err := c.cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Name)
	}
	return out
}

// experiment builds the helper pods of one experiment, one per node, with a noop fault.
func experiment(t *testing.T, id string, dur time.Duration, nodes []string, mod func(*plan.Plan)) []*corev1.Pod {
	t.Helper()
	now := time.Now()
	var pods []*corev1.Pod
	for _, n := range nodes {
		pl := &plan.Plan{Version: plan.Version, Experiment: id, Node: n, Owner: "tester@kind",
			CreatedAt: now, Deadline: now.Add(dur), HeartbeatTimeout: plan.Duration(2 * time.Second),
			Fault:   plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{}},
			Targets: []plan.Target{{Namespace: "default", Pod: "web-" + n, Container: "app", ContainerID: "containerd://" + n, Node: n}}}
		if mod != nil {
			mod(pl)
		}
		p, err := helperpod.Build(helperpod.Options{Plan: pl, Namespace: helperpod.DefaultNamespace, Image: "kubectl-chaos:test"})
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	return pods
}
