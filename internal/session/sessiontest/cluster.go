// Package sessiontest is a small in-process "cluster" for the tests of the session and
// of the CLI: a fake clientset, a fake kubelet that runs the real agent (agent.Run, noop
// fault) as each helper pod's container, with io.Pipes for its stdin and stdout, and an
// Attacher that joins a session to those pipes the way pods/attach does (stdinOnce: the
// client's EOF is the container's). The kubelet writes the statuses a real one writes
// (Pending, Running, restarts under restartPolicy OnFailure, the termination message
// copied from the termination log) and deletes a pod gracefully: SIGTERM to the agent,
// the pod goes once the agent has exited.
package sessiontest

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noop" // the noop fault the agents run
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

var podsGVR = corev1.SchemeGroupVersion.WithResource("pods")

// Behavior is how the fake kubelet treats the helpers of one node.
type Behavior struct {
	// Stuck, when set, leaves the pod in the status it writes (image pull, unschedulable).
	Stuck func(p *corev1.Pod)
	// FailedStarts are statuses the kubelet writes one after the other, FailGap apart,
	// before anything runs: starts that failed (RunContainerError, an agent killed before
	// the attach, a crash-loop back-off). Then Stuck, if set, else the containers run as
	// usual from restart count FirstRestart.
	FailedStarts []func(p *corev1.Pod)
	FailGap      time.Duration
	FirstRestart int32
	// CrashFirst kills the first container once its fault is active (exit 137), so the
	// kubelet restarts it.
	CrashFirst bool
	// CrashOnStop kills the first container when the stop line reaches it.
	CrashOnStop bool
	// RunningAfter delays the Running status of each container (kubelet's PLEG relist):
	// the container runs, and can be attached to, while the pod still says Pending.
	RunningAfter time.Duration
	// Run, when set, is what each container runs instead of the agent with the pod's
	// plan (a helper that carries none, such as a sweep-only one): it returns the exit
	// code and may write the termination message to terminationLog. ctx ends on SIGTERM.
	Run func(ctx context.Context, p *corev1.Pod, stdin io.Reader, stdout io.Writer, terminationLog string) int
}

// Cluster is the fake API server (CS) with its fake kubelet; it is also the Attacher.
type Cluster struct {
	CS *fake.Clientset

	t      testing.TB
	dir    string
	procFS string

	mu         sync.Mutex
	cur        map[string]*Container // pod -> current container
	active     map[string]bool       // pod -> kubelet still working on it
	deleting   map[string]bool       // pod -> delete requested (graceful)
	behaviors  map[string]Behavior   // node -> behavior
	attaches   []string              // "pod#restart"
	heartbeats map[string]int        // "pod#restart" -> heartbeat lines received
	stops      map[string]int        // "pod#restart" -> stop lines received
	attachHook func(pod string) error
	runningAt  map[string]time.Time // "pod#restart" -> when its status said Running
	closing    bool                 // the test is over: containers that start now stop at once

	wg sync.WaitGroup
}

// New starts the fake kubelet on cs (a new empty clientset if nil): every helper pod
// created from now on runs. When the test ends, whatever still runs is stopped and
// waited for.
func New(t testing.TB, cs *fake.Clientset) *Cluster {
	t.Helper()
	if cs == nil {
		cs = fake.NewSimpleClientset()
	}
	c := &Cluster{
		CS: cs, t: t, dir: t.TempDir(), procFS: t.TempDir(),
		cur: map[string]*Container{}, active: map[string]bool{}, deleting: map[string]bool{},
		behaviors: map[string]Behavior{}, heartbeats: map[string]int{}, stops: map[string]int{},
		runningAt: map[string]time.Time{},
	}
	cs.PrependReactor("delete", "pods", c.onDelete)
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
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
				if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == "ADDED" && p.Labels[plan.LabelManagedBy] == plan.ManagedByValue {
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
		// End whatever still runs (tests that leave pods, e.g. detach).
		c.mu.Lock()
		c.closing = true
		for name, k := range c.cur {
			c.deleting[name] = true
			k.cancel()
		}
		c.mu.Unlock()
		cancel()
		c.wg.Wait()
	})
	return c
}

// onDelete is graceful deletion: while the kubelet still runs the pod, a delete sends
// SIGTERM and the pod goes away once the container has exited (and its status was
// written).
func (c *Cluster) onDelete(a k8stesting.Action) (bool, kruntime.Object, error) {
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
}

// SetBehavior sets how the kubelet treats the helpers of node created from now on.
func (c *Cluster) SetBehavior(node string, b Behavior) {
	c.mu.Lock()
	c.behaviors[node] = b
	c.mu.Unlock()
}

// SetAttachHook makes every attach call hook first; an error it returns is the
// attach's (RBAC refusals, a kubelet that is not there yet).
func (c *Cluster) SetAttachHook(hook func(pod string) error) {
	c.mu.Lock()
	c.attachHook = hook
	c.mu.Unlock()
}

// Attaches lists the attaches made to a container, as "pod#restart", in order.
func (c *Cluster) Attaches() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.attaches...)
}

// Heartbeats counts the heartbeat lines that reached container "pod#restart".
func (c *Cluster) Heartbeats(key string) int { return c.count(c.heartbeats, key) }

// Stops counts the stop lines that reached container "pod#restart".
func (c *Cluster) Stops(key string) int { return c.count(c.stops, key) }

func (c *Cluster) count(m map[string]int, key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m[key]
}

// RunningAt is when the status of container "pod#restart" first said Running.
func (c *Cluster) RunningAt(key string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runningAt[key]
}

// Container returns the current container of a pod, waiting (bounded) for it.
func (c *Cluster) Container(pod string) *Container {
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

// Deletes lists the pods deleted through the API.
func (c *Cluster) Deletes() []string {
	var out []string
	for _, a := range c.CS.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
			out = append(out, a.(k8stesting.DeleteAction).GetName())
		}
	}
	return out
}

// Remaining lists the helper pods still in the fake API.
func (c *Cluster) Remaining() []string {
	l, err := c.CS.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, p := range l.Items {
		if p.Labels[plan.LabelManagedBy] == plan.ManagedByValue {
			out = append(out, p.Name)
		}
	}
	return out
}

// Buffer is a writer safe to read while a session writes to it (progress, output).
type Buffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}
