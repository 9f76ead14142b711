package session

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const poolSocket = "/run/containerd/containerd.sock"

func startPool(t *testing.T, c *cluster, progress *syncBuffer, d time.Duration) *Pool {
	t.Helper()
	p, err := StartPool(context.Background(), PoolOptions{Client: c.CS, Attacher: c, Namespace: helperpod.DefaultNamespace,
		ID: "run-pool", Owner: "tester@kind", Deadline: time.Now().Add(d), RuntimeSocket: poolSocket,
		Build: func(pl *plan.Plan) (*corev1.Pod, error) {
			return helperpod.Build(helperpod.Options{Plan: pl, Namespace: helperpod.DefaultNamespace, Image: "kubectl-chaos:test"})
		},
		Progress: progress, StopTimeout: 5 * time.Second, ReadyTimeout: 5 * time.Second, HeartbeatInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stepPlans is a noop step of id lasting d on nodes, as experiment.Prepare makes them.
func stepPlans(id string, d time.Duration, nodes ...string) []*plan.Plan {
	now := time.Now()
	var out []*plan.Plan
	for _, n := range nodes {
		out = append(out, &plan.Plan{Version: plan.Version, Experiment: id, Node: n, Owner: "tester@kind",
			CreatedAt: now, Deadline: now.Add(d), Fault: plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{}},
			Targets:    []plan.Target{{Namespace: "default", Pod: "web-" + n, Container: "app", ContainerID: "containerd://" + n, Node: n}},
			Runtime:    plan.Runtime{Endpoint: poolSocket, Namespace: "k8s.io"},
			JournalDir: plan.DefaultJournalDir})
	}
	return out
}

func checkStep(t *testing.T, rep *Report, err error, reason string, nodes int) {
	t.Helper()
	if rep == nil || rep.Reason != reason || len(rep.Nodes) != nodes {
		t.Fatalf("step report %+v (err %v), want %s on %d node(s)", rep, err, reason, nodes)
	}
	for _, n := range rep.Nodes {
		if n.Result == nil || len(n.Result.Targets) != 1 || !n.Result.Targets[0].Injected || !n.Result.Targets[0].Recovered {
			t.Fatalf("node %s: result %+v (error %q)", n.Node, n.Result, n.Error)
		}
	}
}

// TestPoolReusesHelpers: serial steps, a parallel pair on one node and a step stopped
// by its context all run on one helper pod per node, created once (the second node's
// when a step first needs it); Close stops and deletes them.
func TestPoolReusesHelpers(t *testing.T) {
	c := newCluster(t)
	var progress syncBuffer
	p := startPool(t, c, &progress, time.Minute)
	ctx := context.Background()

	rep, err := p.Step(ctx, StepOptions{Plans: stepPlans("step-1", 300*time.Millisecond, "node-a")})
	if err != nil {
		t.Fatalf("step 1: %v\n%s", err, progress.String())
	}
	checkStep(t, rep, err, ReasonCompleted, 1)
	rep, err = p.Step(ctx, StepOptions{Plans: stepPlans("step-2", 300*time.Millisecond, "node-a", "node-b")})
	if err != nil {
		t.Fatalf("step 2: %v\n%s", err, progress.String())
	}
	checkStep(t, rep, err, ReasonCompleted, 2)
	if lat := rep.Nodes[0].InjectLatency.D(); lat <= 0 || lat > 2*time.Second {
		t.Errorf("step 2 on the reused helper injected %s after it started", lat)
	}

	var wg sync.WaitGroup
	for _, id := range []string{"par-1", "par-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := p.Step(ctx, StepOptions{Plans: stepPlans(id, 300*time.Millisecond, "node-b")})
			if err != nil || rep.Reason != ReasonCompleted {
				t.Errorf("parallel step %s: %v %+v", id, err, rep)
			}
		}()
	}
	wg.Wait()

	sctx, cancel := context.WithCancel(ctx)
	var events eventLog
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep, err = p.Step(sctx, StepOptions{Plans: stepPlans("step-stop", time.Minute, "node-a"), Events: events.add})
	}()
	for events.count(plan.EventInjected) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	var ee *exit.Error
	if rep.Reason != ReasonInterrupted || !errors.As(err, &ee) || exit.Code(err) != exit.Interrupted {
		t.Fatalf("stopped step: %+v, %v", rep, err)
	}
	if events.count(plan.EventRecovered) != 1 {
		t.Fatalf("stopped step: %d recovered events", events.count(plan.EventRecovered))
	}

	prep, err := p.Close()
	if err != nil {
		t.Fatalf("Close: %v\n%s", err, progress.String())
	}
	var creates int
	for _, a := range c.CS.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "pods" {
			creates++
		}
	}
	if creates != 2 || len(prep.Nodes) != 2 {
		t.Fatalf("%d helper pods created, %d in the pool's report: want one per node (2)\n%s", creates, len(prep.Nodes), progress.String())
	}
	assertAllGone(t, c, nil)
	if _, err := p.Step(ctx, StepOptions{Plans: stepPlans("late", time.Second, "node-a")}); err == nil {
		t.Fatal("a step after Close ran")
	}
}

// A step's plan that waited for its helper to start goes out with its deadline moved on
// by the wait (a 3 s first step behind a 4 s helper start was refused as past its
// deadline), never past the run's.
func TestQueuedPlanDeadlineMovesOnByTheWait(t *testing.T) {
	now := time.Now()
	s := &serving{key: "k", base: plan.Plan{Deadline: now.Add(time.Minute)}, pending: map[*helper][]queuedLine{}}
	h := &helper{}
	for _, tt := range []struct {
		name     string
		deadline time.Time
		waited   time.Duration
		lo, hi   time.Time
	}{
		{"waited 4s", now.Add(3 * time.Second), 4 * time.Second, now.Add(7 * time.Second), now.Add(8 * time.Second)},
		{"capped by the run", now.Add(50 * time.Second), 20 * time.Second, now.Add(time.Minute), now.Add(time.Minute)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s.queue(h, &plan.Plan{Experiment: "step", Deadline: tt.deadline})
			q := s.pending[h][len(s.pending[h])-1]
			q.at = q.at.Add(-tt.waited)
			line := s.line(nil, q)
			js := strings.TrimPrefix(line, plan.StdinPlan+" k ")
			var got plan.Plan
			if err := json.Unmarshal([]byte(js), &got); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			if got.Deadline.Before(tt.lo) || got.Deadline.After(tt.hi) {
				t.Errorf("deadline %s, want %s…%s", got.Deadline, tt.lo, tt.hi)
			}
		})
	}
	s.queueStop(h, "step")
	if l := s.line(nil, s.pending[h][len(s.pending[h])-1]); l != plan.StdinStop+" step" {
		t.Errorf("stop line %q", l)
	}
}

// TestPoolHelperDeletedBetweenSteps: a run's helper deleted between two steps (kubectl
// delete pod, an eviction) is a stop of that helper, as for a verb's helper: its agent
// recovers and ends, and the next step on its node fails at once with an error that
// names the helper and says it ended, rather than waiting for an agent that is gone or
// making a second helper of the same name while the first terminates (docs/scenarios.md).
// Steps on other nodes still run, and Close leaves nothing.
func TestPoolHelperDeletedBetweenSteps(t *testing.T) {
	c := newCluster(t)
	var progress syncBuffer
	p := startPool(t, c, &progress, time.Minute)
	ctx := context.Background()
	rep, err := p.Step(ctx, StepOptions{Plans: stepPlans("step-1", 200*time.Millisecond, "node-a", "node-b")})
	checkStep(t, rep, err, ReasonCompleted, 2)
	name := rep.Nodes[0].Pod
	if rep.Nodes[0].Node != "node-a" {
		name = rep.Nodes[1].Pod
	}
	if err := c.CS.CoreV1().Pods(helperpod.DefaultNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Whether the pool has seen the deletion yet or not, the step must not hang.
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	start := time.Now()
	rep, err = p.Step(sctx, StepOptions{Plans: stepPlans("step-2", 5*time.Second, "node-a")})
	took := time.Since(start)
	if err == nil || sctx.Err() != nil {
		t.Fatalf("step on the deleted helper's node after %s: %v (report %+v); want it failed, not hung\n%s", took, err, rep, progress.String())
	}
	t.Logf("step on the deleted helper's node failed after %s: %v", took.Round(time.Millisecond), err)
	switch {
	case strings.Contains(err.Error(), name) && strings.Contains(err.Error(), "ended"):
		// The pool saw the deletion before the plan line: the step fails naming the
		// helper. As a helper that could not be created: the session's helpers failed
		// it (the run makes any failed fault step its exit 3).
		if code := exit.Code(err); code != exit.API {
			t.Errorf("exit code %d, want %d (the run's helper is gone)", code, exit.API)
		}
	case strings.Contains(err.Error(), "node-a") && strings.Contains(err.Error(), "context canceled"):
		// The plan line reached the agent as its pod was being deleted (the pool had not
		// seen the deletion yet, 1 run in ~8 under load): the agent stopped the step.
		if code := exit.Code(err); code != exit.API && code != exit.Fault {
			t.Errorf("exit code %d, want %d or %d", code, exit.API, exit.Fault)
		}
	default:
		t.Fatalf("step on the deleted helper's node: %v; want an error naming %s that says it ended, or the agent's stop of the step on node-a", err, name)
	}
	rep, err = p.Step(ctx, StepOptions{Plans: stepPlans("step-3", 200*time.Millisecond, "node-b")})
	checkStep(t, rep, err, ReasonCompleted, 1)
	if _, err := p.Close(); err != nil {
		t.Logf("Close: %v", err)
	}
	assertAllGone(t, c, nil)
}
