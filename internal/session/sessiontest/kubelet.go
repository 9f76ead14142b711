package sessiontest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// maxRestarts is how often the kubelet restarts a failing container before it gives up
// (in a real cluster: CrashLoopBackOff until activeDeadlineSeconds).
const maxRestarts = 4

// Container is one run of a helper's agent container.
type Container struct {
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
	breakCh  chan struct{} // closed by Break to cut the attach stream
	injected chan struct{}
	injOnce  sync.Once
	attached chan struct{} // closed on the first attach
	attOnce  sync.Once
	stopped  chan struct{} // closed when a stop line arrives
	stopOnce sync.Once
	// keepStdin: the container has stdinOnce: false (a warm helper): the end of an
	// attach does not close its stdin.
	keepStdin bool
}

func newContainer(pod string, restart int32, cancel context.CancelFunc) *Container {
	k := &Container{pod: pod, restart: restart, cancel: cancel, exited: make(chan struct{}),
		breakCh: make(chan struct{}), injected: make(chan struct{}), attached: make(chan struct{}), stopped: make(chan struct{})}
	k.stdinR, k.stdinW = io.Pipe()
	return k
}

// Injected is closed once the agent reported its fault injected.
func (k *Container) Injected() <-chan struct{} { return k.injected }

// Attached is closed on the first attach to this container.
func (k *Container) Attached() <-chan struct{} { return k.attached }

// Break cuts the attach stream as a broken connection does (call it once).
func (k *Container) Break() { close(k.breakCh) }

func (k *Container) closeStdin() { k.stdinEOF.Do(func() { k.stdinW.Close() }) }

func (k *Container) setOut(w io.Writer) {
	k.outMu.Lock()
	k.out = w
	k.outMu.Unlock()
}

func (k *Container) writeOut(line []byte) {
	k.outMu.Lock()
	w, dead := k.out, k.dead
	k.outMu.Unlock()
	if w != nil && !dead {
		_, _ = w.Write(line)
	}
}

// update changes a pod in the tracker (emits a watch event); false if it is gone.
func (c *Cluster) update(ns, name string, f func(p *corev1.Pod)) bool {
	obj, err := c.CS.Tracker().Get(podsGVR, ns, name)
	if err != nil {
		return false
	}
	p := obj.(*corev1.Pod).DeepCopy()
	f(p)
	return c.CS.Tracker().Update(podsGVR, p, ns) == nil
}

func (c *Cluster) deletingPod(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleting[name]
}

// kubelet runs one helper pod: its containers one after the other (restartPolicy
// OnFailure), the status of each, and the pod's end.
func (c *Cluster) kubelet(p *corev1.Pod) {
	defer c.wg.Done()
	c.mu.Lock()
	b := c.behaviors[p.Spec.NodeName]
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.active[p.Name] = false
		delete(c.cur, p.Name)
		if c.deleting[p.Name] {
			_ = c.CS.Tracker().Delete(podsGVR, p.Namespace, p.Name)
		}
	}()
	for _, f := range b.FailedStarts {
		if c.deletingPod(p.Name) || !c.update(p.Namespace, p.Name, f) {
			return
		}
		time.Sleep(b.FailGap)
	}
	if b.Stuck != nil {
		c.update(p.Namespace, p.Name, b.Stuck)
		return
	}
	pl := podPlan(p)
	if pl == nil && b.Run == nil {
		c.t.Errorf("helper %s carries no plan in %s", p.Name, plan.EnvVar)
		return
	}
	if !c.update(p.Namespace, p.Name, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
	}) {
		return // deleted before the kubelet got to it
	}
	var last *corev1.ContainerStateTerminated
	for restart := b.FirstRestart; restart < b.FirstRestart+maxRestarts; restart++ {
		if c.deletingPod(p.Name) {
			return
		}
		code, msg := c.runContainer(p, pl, restart, last, b)
		term := &corev1.ContainerStateTerminated{ExitCode: int32(code), Message: msg, Reason: "Completed", FinishedAt: metav1.Now()}
		if code != 0 {
			term.Reason = "Error"
		}
		if code == 0 || c.deletingPod(p.Name) {
			c.update(p.Namespace, p.Name, func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodSucceeded
				if code != 0 {
					p.Status.Phase = corev1.PodFailed
				}
				p.Status.ContainerStatuses[0].Ready = false
				p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: term}
			})
			return
		}
		last = term
	}
	c.update(p.Namespace, p.Name, func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodFailed
		p.Status.Reason = "DeadlineExceeded"
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: last}
	})
}

// crashTrigger says when the kubelet kills container number restart (nil: never).
func crashTrigger(b Behavior, restart int32) func(k *Container) <-chan struct{} {
	switch {
	case b.CrashFirst && restart == 0:
		return func(k *Container) <-chan struct{} { return k.injected }
	case b.CrashOnStop && restart == 0:
		return func(k *Container) <-chan struct{} { return k.stopped }
	}
	return nil
}

// podPlan decodes the plan the helper carries in its agent container's environment.
func podPlan(p *corev1.Pod) *plan.Plan {
	for _, ctr := range p.Spec.Containers {
		for _, e := range ctr.Env {
			if e.Name == plan.EnvVar {
				if pl, err := plan.Decode(e.Value); err == nil {
					return pl
				}
			}
		}
	}
	return nil
}

// runContainer runs one container of a helper, the real agent with the pod's plan (or
// b.Run), and returns its exit code and termination message.
func (c *Cluster) runContainer(p *corev1.Pod, pl *plan.Plan, restart int32, last *corev1.ContainerStateTerminated, b Behavior) (int, string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := newContainer(p.Name, restart, cancel)
	k.keepStdin = len(p.Spec.Containers) > 0 && !p.Spec.Containers[0].StdinOnce
	c.mu.Lock()
	if c.deleting[p.Name] || c.closing {
		cancel()
	}
	c.cur[p.Name] = k
	c.mu.Unlock()

	tlog := filepath.Join(c.dir, fmt.Sprintf("%s-%d.termination-log", p.Name, restart))
	agentDone, pumpDone := c.startAgent(ctx, k, p, pl, tlog, b.Run)
	if b.RunningAfter > 0 {
		select {
		case <-time.After(b.RunningAfter):
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
	code := k.wait(agentDone, crashTrigger(b, restart))
	<-pumpDone
	k.stdinR.CloseWithError(io.EOF)
	close(k.exited)
	msg := ""
	if code != 137 {
		if b, err := os.ReadFile(tlog); err == nil {
			msg = string(b)
		}
	}
	return code, msg
}

// startAgent runs agent.Run for the container, its stdout pumped to whoever is
// attached; agentDone carries the exit code, pumpDone closes after the last line.
func (c *Cluster) startAgent(ctx context.Context, k *Container, p *corev1.Pod, pl *plan.Plan, tlog string,
	run func(context.Context, *corev1.Pod, io.Reader, io.Writer, string) int) (agentDone <-chan int, pumpDone <-chan struct{}) {
	outR, outW := io.Pipe()
	pumped := make(chan struct{})
	go func() { // the container's stdout: to whoever is attached
		defer close(pumped)
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
	done := make(chan int, 1)
	go func() {
		if run != nil {
			code := run(ctx, p, k.stdinR, outW, tlog)
			outW.Close()
			done <- code
			return
		}
		var stdin io.Reader = k.stdinR
		if pl.Detached {
			stdin = nil
		}
		_, err := agent.Run(ctx, agent.Options{Plan: pl, Stdin: stdin, Stdout: outW, TerminationLog: tlog,
			JournalDir: filepath.Join(c.dir, "journal-"+p.Spec.NodeName), Resolver: fakeResolver{},
			HeartbeatInterval: 100 * time.Millisecond, ProcRoot: c.procFS})
		outW.Close()
		done <- exitCode(err)
	}()
	return done, pumped
}

// exitCode maps agent.Run's error as internal/cmd/agent does: non-zero only when a
// recovery failed (restartPolicy OnFailure then restarts the agent) or the plan was refused.
func exitCode(err error) int {
	switch {
	case errors.Is(err, agent.ErrRecover):
		return 3
	case errors.Is(err, agent.ErrPlan):
		return 1
	}
	return 0
}

// wait returns the agent's exit code; with crashOn, once attached and crashOn fires, it
// kills the container as kill -9 does: the container and its output are gone at once.
func (k *Container) wait(agentDone <-chan int, crashOn func(*Container) <-chan struct{}) int {
	if crashOn == nil {
		return <-agentDone
	}
	select {
	case <-k.attached:
	case code := <-agentDone:
		return code
	}
	select {
	case <-crashOn(k):
		k.outMu.Lock()
		k.dead = true
		k.outMu.Unlock()
		k.cancel()
		<-agentDone
		return 137
	case code := <-agentDone:
		return code
	}
}

type fakeResolver struct{}

func (fakeResolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	return fault.Target{Target: t, PID: 4242, NetnsPath: "/proc/4242/ns/net", NetnsInode: 4026532000}, nil
}
