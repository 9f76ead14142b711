package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session/sessiontest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

// syncBuffer is a progress writer safe to read while the session writes.
type syncBuffer = sessiontest.Buffer

type eventLog struct {
	mu  sync.Mutex
	evs []plan.Event
}

func (l *eventLog) add(e plan.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

func (l *eventLog) count(typ string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func options(c *cluster, pods []*corev1.Pod, log *eventLog, progress *syncBuffer) Options {
	return Options{Client: c.CS, Attacher: c, Namespace: "kubectl-chaos", Pods: pods,
		Events: log.add, Progress: progress, StopTimeout: 5 * time.Second, ReadyTimeout: 5 * time.Second,
		HeartbeatInterval: 50 * time.Millisecond}
}

func assertAllGone(t *testing.T, c *cluster, pods []*corev1.Pod) {
	t.Helper()
	// Run returns once the deletes are accepted and every agent confirmed its end; the
	// pods may still be terminating then (issue 17).
	left := c.Remaining()
	for end := time.Now().Add(5 * time.Second); len(left) != 0 && time.Now().Before(end); left = c.Remaining() {
		time.Sleep(20 * time.Millisecond)
	}
	if len(left) != 0 {
		t.Errorf("helper pods left behind: %v", left)
	}
	del := map[string]bool{}
	for _, d := range c.Deletes() {
		del[d] = true
	}
	for _, p := range pods {
		if !del[p.Name] {
			t.Errorf("session did not delete helper pod %s (deletes seen: %v)", p.Name, c.Deletes())
		}
	}
}

// The experiment runs to its deadline on two nodes: exit 0, both results clean, the
// pods deleted, heartbeats received by both agents.
func TestRunDeadline(t *testing.T) {
	c := newCluster(t)
	// start before the plan's createdAt: the deadline is createdAt + 800ms, and the
	// check below is that the session did not end before it (a start taken after the
	// pods were built made the session look 3 ms early under load).
	start := time.Now()
	pods := experiment(t, "exp-deadline", 800*time.Millisecond, []string{"node-a", "node-b"}, nil)
	var log eventLog
	var progress syncBuffer
	rep, err := Run(context.Background(), options(c, pods, &log, &progress))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Run: %v (exit %d)\nprogress:\n%s", err, exit.Code(err), progress.String())
	}
	t.Logf("took %s\n%s", took, progress.String())
	if rep.Reason != ReasonCompleted || len(rep.Nodes) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	for _, n := range rep.Nodes {
		if n.Result == nil || !n.Result.OK() || n.Result.Reason != plan.ReasonDeadline {
			t.Errorf("node %s: result %+v", n.Node, n.Result)
		}
		if n.InjectLatency <= 0 || n.InjectLatency.D() > 700*time.Millisecond {
			t.Errorf("node %s: inject latency %s", n.Node, n.InjectLatency.D())
		}
		if n.RecoverLatency.D() > 500*time.Millisecond {
			t.Errorf("node %s: recover latency %s after the deadline", n.Node, n.RecoverLatency.D())
		}
		t.Logf("node %s: inject %s, recover %s after deadline", n.Node, n.InjectLatency.D(), n.RecoverLatency.D())
		if hb := c.Heartbeats(n.Pod + "#0"); hb < 3 {
			t.Errorf("agent %s got %d heartbeats in %s at 50ms", n.Pod, hb, took)
		}
	}
	if took < 800*time.Millisecond {
		t.Errorf("session ended after %s, before the 800ms deadline", took)
	}
	// An injected event is only seen when the attach was up before the agent injected
	// (attach does not replay earlier output); recovered comes at the deadline.
	if log.count(plan.EventRecovered) != 2 {
		t.Errorf("events: %d recovered, want 2", log.count(plan.EventRecovered))
	}
	if log.count(plan.EventInjected) == 2 && !strings.Contains(progress.String(), "fault active on 2/2 targets") {
		t.Errorf("progress lacks the active count:\n%s", progress.String())
	}
	assertAllGone(t, c, pods)
}

// Ctrl-C: ctx cancelled once the fault is active everywhere; each agent gets "stop" and
// EOF, recovers, leaves its result; pods deleted; exit 130.
func TestRunInterrupt(t *testing.T) {
	c := newCluster(t)
	pods := experiment(t, "exp-int", time.Minute, []string{"node-a", "node-b", "node-c"}, nil)
	var log eventLog
	var progress syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := options(c, pods, &log, &progress)
	// Ctrl-C once every agent has injected and the session is attached to each.
	cancelled := make(chan time.Time, 1)
	go func() {
		defer cancel()
		for _, p := range pods {
			<-c.Container(p.Name).Injected()
		}
		for i := 0; i < 500; i++ {
			n := len(c.Attaches())
			if n == len(pods) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancelled <- time.Now()
	}()
	rep, err := Run(ctx, o)
	cancelAt := <-cancelled
	t.Logf("%s", progress.String())
	if exit.Code(err) != exit.Interrupted {
		t.Fatalf("err = %v (exit %d), want exit 130", err, exit.Code(err))
	}
	if took := time.Since(cancelAt); took > 3*time.Second {
		t.Errorf("stop took %s", took)
	}
	if rep.Reason != ReasonInterrupted {
		t.Errorf("reason %q", rep.Reason)
	}
	for _, n := range rep.Nodes {
		if n.Result == nil || !n.Result.OK() || n.Result.Reason != plan.ReasonStopped {
			t.Errorf("node %s: result %+v", n.Node, n.Result)
		}
		if n.RecoverLatency <= 0 || n.RecoverLatency.D() > time.Second {
			t.Errorf("node %s: recover latency %s", n.Node, n.RecoverLatency.D())
		}
		t.Logf("node %s: recovered %s after the stop request", n.Node, n.RecoverLatency.D())
		if c.Stops(n.Pod+"#0") != 1 {
			t.Errorf("agent %s got %d stop lines", n.Pod, c.Stops(n.Pod+"#0"))
		}
	}
	if !strings.Contains(progress.String(), "stopping…") {
		t.Errorf("no stopping line")
	}
	assertAllGone(t, c, pods)
}

// Ctrl-C before any helper runs: nothing to stop, pods deleted, exit 130 at once.
func TestRunInterruptWhilePending(t *testing.T) {
	c := newCluster(t)
	c.SetBehavior("node-a", behavior{Stuck: func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }})
	pods := experiment(t, "exp-pend", time.Minute, []string{"node-a"}, nil)
	var log eventLog
	var progress syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, options(c, pods, &log, &progress))
	if exit.Code(err) != exit.Interrupted {
		t.Fatalf("err = %v (exit %d), want 130", err, exit.Code(err))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s: waited for a helper that never ran", took)
	}
	assertAllGone(t, c, pods)
}

// The attach stream dies: the agent reads EOF, recovers and exits (operator-gone); the
// session reports it as a cluster error (exit 2) with a clean result.
func TestRunStreamLost(t *testing.T) {
	c := newCluster(t)
	pods := experiment(t, "exp-eof", time.Minute, []string{"node-a"}, nil)
	var log eventLog
	var progress syncBuffer
	o := options(c, pods, &log, &progress)
	go func() { // cut the stream once attached and active
		k := c.Container(pods[0].Name)
		<-k.Attached()
		<-k.Injected()
		k.Break()
	}()
	start := time.Now()
	rep, err := Run(context.Background(), o)
	t.Logf("%s", progress.String())
	if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "lost the attach stream") {
		t.Fatalf("err = %v (exit %d), want exit 2 naming the lost stream", err, exit.Code(err))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	n := rep.Nodes[0]
	if n.Result == nil || !n.Result.OK() || n.Result.Reason != plan.ReasonEOF {
		t.Errorf("result %+v, want clean with reason %s", n.Result, plan.ReasonEOF)
	}
	assertAllGone(t, c, pods)
}

// noop with FailApply: the agent reports the failure; exit 3 naming the target.
func TestRunFailApply(t *testing.T) {
	c := newCluster(t)
	pods := experiment(t, "exp-fail", time.Minute, []string{"node-a"}, func(p *plan.Plan) {
		p.Fault.Noop = &plan.Noop{FailApply: true}
	})
	var log eventLog
	var progress syncBuffer
	rep, err := Run(context.Background(), options(c, pods, &log, &progress))
	t.Logf("%s", progress.String())
	if exit.Code(err) != exit.Fault || !strings.Contains(err.Error(), "default/web-node-a/app") {
		t.Fatalf("err = %v (exit %d), want exit 3 naming default/web-node-a/app", err, exit.Code(err))
	}
	if rep.Reason != ReasonFailed || rep.Nodes[0].Result == nil || rep.Nodes[0].Result.OK() {
		t.Errorf("report %+v", rep)
	}
	if log.count(plan.EventError) == 0 {
		t.Errorf("no error event streamed")
	}
	assertAllGone(t, c, pods)
}

// Helpers that cannot start fail fast with the cause and the fix; the others are
// stopped, everything deleted.
func TestRunStartFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stuck func(p *corev1.Pod)
		want  []string
	}{
		{"image pull", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "pull access denied"}}}}
		}, []string{`"kubectl-chaos:test"`, "ErrImagePull", "--image", "node-b"}},
		{"image never pull", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull"}}}}
		}, []string{"build/load it", "--image"}},
		{"unschedulable", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
				Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes are available: insufficient memory"}}
		}, []string{"cannot be scheduled", "insufficient memory"}},
		{"config error", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: "secret not found"}}}}
		}, []string{"CreateContainerConfigError", "secret not found"}},
		{"exited before attach", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: `{"error":"invalid plan: version 7"}`}}}}
		}, []string{"exited before the CLI could attach", "exit code 1", "invalid plan: version 7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			c.SetBehavior("node-b", behavior{Stuck: tc.stuck})
			pods := experiment(t, "exp-start", time.Minute, []string{"node-a", "node-b"}, nil)
			var log eventLog
			var progress syncBuffer
			start := time.Now()
			_, err := Run(context.Background(), options(c, pods, &log, &progress))
			if exit.Code(err) != exit.API {
				t.Fatalf("err = %v (exit %d), want exit 2\n%s", err, exit.Code(err), progress.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if took := time.Since(start); took > 4*time.Second {
				t.Errorf("took %s: not fail-fast\n%s", took, progress.String())
			}
			assertAllGone(t, c, pods)
		})
	}
}

// A helper that never starts and says nothing: bounded by ReadyTimeout.
func TestRunReadyTimeout(t *testing.T) {
	c := newCluster(t)
	c.SetBehavior("node-a", behavior{Stuck: func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }})
	pods := experiment(t, "exp-slow", time.Minute, []string{"node-a"}, nil)
	var log eventLog
	var progress syncBuffer
	o := options(c, pods, &log, &progress)
	o.ReadyTimeout = 300 * time.Millisecond
	_, err := Run(context.Background(), o)
	if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "did not start within 300ms") {
		t.Fatalf("err = %v (exit %d)", err, exit.Code(err))
	}
	assertAllGone(t, c, pods)
}

// RBAC and Pod Security refusals on create: the cause and the fix; pods already
// created are deleted.
func TestRunCreateForbidden(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		want      []string
	}{
		{"rbac", `User "dev" cannot create resource "pods" in API group "" in the namespace "kubectl-chaos"`,
			[]string{"RBAC", "namespace kubectl-chaos", "--helper-namespace", "pods/attach"}},
		{"psa", `pods "x" is forbidden: violates PodSecurity "baseline:latest": privileged`,
			[]string{"Pod Security", "pod-security.kubernetes.io/enforce=privileged"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			pods := experiment(t, "exp-forbid", time.Minute, []string{"node-a", "node-b"}, nil)
			// The helpers are created at once: the one for node-b is refused.
			c.CS.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
				if p, ok := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod); ok && p.Name == pods[1].Name {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New(tc.msg))
				}
				return false, nil, nil
			})
			var log eventLog
			var progress syncBuffer
			_, err := Run(context.Background(), options(c, pods, &log, &progress))
			if exit.Code(err) != exit.API {
				t.Fatalf("err = %v (exit %d)", err, exit.Code(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if d := c.Deletes(); len(d) != 1 || d[0] != pods[0].Name {
				t.Errorf("deletes %v, want the one created pod %s", d, pods[0].Name)
			}
			waitGone(t, c)
		})
	}
}

// waitGone waits (bounded) for the fake kubelet to finish graceful deletions.
func waitGone(t *testing.T, c *cluster) {
	t.Helper()
	for i := 0; i < 300 && len(c.Remaining()) > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if left := c.Remaining(); len(left) > 0 {
		t.Errorf("pods left: %v", left)
	}
}

// A helper crashes once its fault is active: the kubelet restarts it, the session
// re-attaches to the new container (heartbeats reach it) and the experiment completes.
func TestRunRestartReattach(t *testing.T) {
	c := newCluster(t)
	c.SetBehavior("node-a", behavior{CrashFirst: true})
	pods := experiment(t, "exp-restart", 1500*time.Millisecond, []string{"node-a"}, nil)
	var log eventLog
	var progress syncBuffer
	rep, err := Run(context.Background(), options(c, pods, &log, &progress))
	t.Logf("%s", progress.String())
	t.Logf("attaches %v heartbeats #0 %d #1 %d", c.Attaches(), c.Heartbeats(pods[0].Name+"#0"), c.Heartbeats(pods[0].Name+"#1"))
	if err != nil {
		t.Fatalf("Run: %v (exit %d); result %+v", err, exit.Code(err), rep.Nodes[0].Result)
	}
	name := pods[0].Name
	attaches := strings.Join(c.Attaches(), ",")
	if attaches != name+"#0,"+name+"#1" {
		t.Errorf("attaches %q, want one to each container", attaches)
	}
	if hb := c.Heartbeats(name + "#1"); hb == 0 {
		t.Errorf("restarted agent got no heartbeat")
	}
	n := rep.Nodes[0]
	if n.Restarts != 1 || n.Result == nil || !n.Result.OK() {
		t.Errorf("node report %+v result %+v", n, n.Result)
	}
	if !strings.Contains(progress.String(), "restarted (restart 1): re-attaching") {
		t.Errorf("no re-attach line")
	}
	assertAllGone(t, c, pods)
}

// An attach refused by RBAC stops the session with the fix.
func TestRunAttachForbidden(t *testing.T) {
	c := newCluster(t)
	c.SetAttachHook(func(pod string) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "pods/attach"}, pod, errors.New("cannot create pods/attach"))
	})
	pods := experiment(t, "exp-noattach", time.Minute, []string{"node-a"}, nil)
	var log eventLog
	var progress syncBuffer
	_, err := Run(context.Background(), options(c, pods, &log, &progress))
	if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "create on pods/attach") {
		t.Fatalf("err = %v (exit %d)", err, exit.Code(err))
	}
	assertAllGone(t, c, pods)
}

// Detach returns at once and leaves the pods; Stop then ends them and returns each
// agent's final result.
func TestRunDetachThenStop(t *testing.T) {
	c := newCluster(t)
	pods := experiment(t, "exp-det", time.Minute, []string{"node-a", "node-b"}, func(p *plan.Plan) { p.Detached = true })
	var log eventLog
	var progress syncBuffer
	o := options(c, pods, &log, &progress)
	o.Detach = true
	o.Attacher = nil
	start := time.Now()
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Reason != ReasonDetached || rep.Experiment != "exp-det" {
		t.Fatalf("Run: %v, report %+v", err, rep)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("detach took %s", took)
	}
	if len(c.Remaining()) != 2 || len(c.Deletes()) != 0 {
		t.Fatalf("pods %v, deletes %v", c.Remaining(), c.Deletes())
	}
	// Wait until both agents have injected, as a user would see in ls.
	for _, p := range pods {
		select {
		case <-c.Container(p.Name).Injected():
		case <-time.After(5 * time.Second):
			t.Fatalf("agent of %s did not inject", p.Name)
		}
	}
	exps, err := List(context.Background(), c.CS)
	if err != nil || len(exps) != 1 || !exps[0].Detached || len(exps[0].Helpers) != 2 || exps[0].Owner != "tester@kind" {
		t.Fatalf("List: %v %+v", err, exps)
	}
	stopped, err := Stop(context.Background(), c.CS, []string{"exp-det"}, false, 5*time.Second)
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if len(stopped) != 1 || len(stopped[0].Helpers) != 2 {
		t.Fatalf("stopped %+v", stopped)
	}
	for _, h := range stopped[0].Helpers {
		if h.Result == nil || !h.Result.OK() || h.Result.Reason != plan.ReasonSignal {
			t.Errorf("helper %s: result %+v", h.Pod, h.Result)
		}
	}
	if left := c.Remaining(); len(left) != 0 {
		t.Errorf("left %v", left)
	}
}

// A user who may create but not watch pods learns it at once, and the pods go.
func TestRunWatchForbidden(t *testing.T) {
	c := newCluster(t)
	c.CS.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		if a.GetNamespace() == "kubectl-chaos" {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("cannot list pods"))
		}
		return false, nil, nil
	})
	pods := experiment(t, "exp-nowatch", time.Minute, []string{"node-a"}, nil)
	var log eventLog
	var progress syncBuffer
	start := time.Now()
	_, err := Run(context.Background(), options(c, pods, &log, &progress))
	if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "list and watch pods in namespace kubectl-chaos") {
		t.Fatalf("err = %v (exit %d)", err, exit.Code(err))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
	if d := c.Deletes(); len(d) != 1 {
		t.Errorf("deletes %v", d)
	}
	waitGone(t, c)
}

// Someone deletes a helper pod mid-experiment: its agent recovers on SIGTERM, the
// session reports an interruption (exit 130) naming it, and removes the rest.
func TestRunHelperDeletedElsewhere(t *testing.T) {
	c := newCluster(t)
	pods := experiment(t, "exp-del", time.Minute, []string{"node-a"}, nil)
	var log eventLog
	var progress syncBuffer
	go func() {
		k := c.Container(pods[0].Name)
		<-k.Attached()
		<-k.Injected()
		_ = c.CS.CoreV1().Pods(pods[0].Namespace).Delete(context.Background(), pods[0].Name, metav1.DeleteOptions{})
	}()
	start := time.Now()
	rep, err := Run(context.Background(), options(c, pods, &log, &progress))
	t.Logf("%s", progress.String())
	if exit.Code(err) != exit.Interrupted || !strings.Contains(err.Error(), "exp-del-node-a on node node-a (signal)") {
		t.Fatalf("err = %v (exit %d)", err, exit.Code(err))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	if r := rep.Nodes[0].Result; r == nil || !r.OK() || r.Reason != plan.ReasonSignal || rep.Reason != ReasonInterrupted {
		t.Errorf("report %+v result %+v", rep, r)
	}
	waitGone(t, c)
}

// An attach that keeps failing before any output (not RBAC) is retried with backoff,
// then the session gives up with the cause and removes the helper.
func TestRunAttachRetries(t *testing.T) {
	c := newCluster(t)
	var mu sync.Mutex
	tries := 0
	c.SetAttachHook(func(pod string) error {
		mu.Lock()
		defer mu.Unlock()
		tries++
		return errors.New("error dialing backend: dial tcp 10.0.0.1:10250: connect: connection refused")
	})
	pods := experiment(t, "exp-retry", time.Minute, []string{"node-a"}, nil)
	var log eventLog
	var progress syncBuffer
	_, err := Run(context.Background(), options(c, pods, &log, &progress))
	t.Logf("%s", progress.String())
	if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "after 3 tries") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v (exit %d)", err, exit.Code(err))
	}
	mu.Lock()
	if tries != maxAttachRetries {
		t.Errorf("%d attach tries, want %d", tries, maxAttachRetries)
	}
	mu.Unlock()
	assertAllGone(t, c, pods)
}

// The agent cannot recover (noop FailRecover): it exits non-zero, the kubelet restarts
// it, the session follows each restart, and the end is exit 3 naming the target.
func TestRunFailRecover(t *testing.T) {
	c := newCluster(t)
	pods := experiment(t, "exp-norec", 300*time.Millisecond, []string{"node-a"}, func(p *plan.Plan) {
		p.Fault.Noop = &plan.Noop{FailRecover: true}
	})
	var log eventLog
	var progress syncBuffer
	rep, err := Run(context.Background(), options(c, pods, &log, &progress))
	t.Logf("%s", progress.String())
	if exit.Code(err) != exit.Fault || !strings.Contains(err.Error(), "default/web-node-a/app") {
		t.Fatalf("err = %v (exit %d)", err, exit.Code(err))
	}
	n := rep.Nodes[0]
	if n.Result == nil || n.Result.OK() || n.Restarts == 0 {
		t.Errorf("node report %+v result %+v", n, n.Result)
	}
	assertAllGone(t, c, pods)
}

// The agent dies just as the stop line reaches it: the kubelet restarts it while the
// session stops, and the session tells the new container to stop at once.
func TestRunRestartWhileStopping(t *testing.T) {
	c := newCluster(t)
	c.SetBehavior("node-a", behavior{CrashOnStop: true})
	pods := experiment(t, "exp-rs", time.Minute, []string{"node-a"}, nil)
	var log eventLog
	var progress syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		k := c.Container(pods[0].Name)
		<-k.Attached()
		<-k.Injected()
		cancel()
	}()
	start := time.Now()
	rep, err := Run(ctx, options(c, pods, &log, &progress))
	t.Logf("%s", progress.String())
	if exit.Code(err) != exit.Interrupted {
		t.Fatalf("err = %v (exit %d)", err, exit.Code(err))
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %s: the restarted agent was not told to stop", took)
	}
	name := pods[0].Name
	if n := c.Stops(name + "#1"); n != 1 {
		t.Errorf("restarted agent got %d stop lines, want 1", n)
	}
	// The new agent was stopped before it applied anything: no error, reason stopped.
	if n := rep.Nodes[0]; n.Restarts != 1 || n.Result == nil || n.Result.Reason != plan.ReasonStopped ||
		n.Result.Error != "" || len(n.Result.Targets) != 1 || n.Result.Targets[0].Error != "" {
		t.Errorf("node report %+v result %+v", n, n.Result)
	}
	assertAllGone(t, c, pods)
}

// The container runs but its pod status still says Pending (kubelet reports it only
// after its next PLEG relist): the session attaches early, takes "not found" answers as
// not yet, and the fault is active before the status ever says Running. When the status
// catches up, the session keeps the attachment it has (no second attach).
func TestRunEarlyAttach(t *testing.T) {
	c := newCluster(t)
	const pleg = 1500 * time.Millisecond
	c.SetBehavior("node-a", behavior{RunningAfter: pleg})
	var mu sync.Mutex
	tries := 0
	c.SetAttachHook(func(pod string) error {
		mu.Lock()
		defer mu.Unlock()
		tries++
		if tries <= 3 {
			return fmt.Errorf("container %s not found in pod %s_kubectl-chaos", helperpod.ContainerName, pod)
		}
		return nil
	})
	pods := experiment(t, "exp-early", 3*time.Second, []string{"node-a"}, nil)
	var log eventLog
	var progress syncBuffer
	start := time.Now()
	rep, err := Run(context.Background(), options(c, pods, &log, &progress))
	out := progress.String()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("Run: %v (exit %d)", err, exit.Code(err))
	}
	name := pods[0].Name
	running := c.RunningAt(name + "#0")
	hb := c.Heartbeats(name + "#0")
	n := rep.Nodes[0]
	active := start.Add(n.InjectLatency.D())
	t.Logf("fault active %v after start, status Running %v after start", n.InjectLatency.D(), running.Sub(start))
	if n.InjectLatency == 0 || running.IsZero() || !active.Before(running) {
		t.Errorf("fault active %v after start, status Running %v after start: no early attach", n.InjectLatency.D(), running.Sub(start))
	}
	if n.Result == nil || !n.Result.OK() || n.Restarts != 0 {
		t.Errorf("node report %+v result %+v", n, n.Result)
	}
	if hb == 0 {
		t.Errorf("the agent got no heartbeat")
	}
	mu.Lock()
	if tries < 4 || tries > earlyAttachTries {
		t.Errorf("%d attach attempts, want 4 (3 refused, then up) and never more than %d", tries, earlyAttachTries)
	}
	mu.Unlock()
	if k := strings.Count(out, "is running: attached"); k != 1 {
		t.Errorf("%d attached lines, want 1", k)
	}
	for _, bad := range []string{"retrying", "re-attaching", "error"} {
		if strings.Contains(out, bad) {
			t.Errorf("progress says %q: the early attach failures were not taken as not yet", bad)
		}
	}
	assertAllGone(t, c, pods)
}
