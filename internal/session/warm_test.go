package session

import (
	"context"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session/sessiontest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWarmPoolAdopted: kubectl chaos warm's pool creates a warm helper and detaches
// (the pod stays, its agent serves on: stdinOnce false); a fault command's pool adopts
// it by its key, runs a step on it with the step's own heartbeat lines, and detaches
// again without a stop line or a delete; no second helper pod is created.
func TestWarmPoolAdopted(t *testing.T) {
	c := newCluster(t)
	var progress syncBuffer
	ctx := context.Background()
	build := func(pl *plan.Plan) (*corev1.Pod, error) {
		return helperpod.Build(helperpod.Options{Plan: pl, Namespace: helperpod.DefaultNamespace, Image: "kubectl-chaos:test"})
	}
	wp, err := StartPool(ctx, PoolOptions{Client: c.CS, Attacher: c, Namespace: helperpod.DefaultNamespace,
		ID: "warm-test", Owner: "tester@kind", Deadline: time.Now().Add(time.Minute), RuntimeSocket: poolSocket,
		Build: build, Warm: true, Progress: &progress, StopTimeout: 5 * time.Second, ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := wp.Warm(ctx, []string{"node-a"})
	if err != nil {
		t.Fatalf("Warm: %v\n%s", err, progress.String())
	}
	wp.Detach()
	if len(hs) != 1 || hs[0].Key == "" || hs[0].Pod.Spec.Containers[0].StdinOnce || hs[0].Pod.Labels[plan.LabelWarm] != "true" {
		t.Fatalf("warm helpers %+v", hs)
	}
	name := hs[0].Pod.Name

	p, err := StartPool(ctx, PoolOptions{Client: c.CS, Attacher: c, Namespace: helperpod.DefaultNamespace,
		Owner: "tester@kind", Deadline: time.Now().Add(time.Minute), Warm: true, Adopt: hs,
		Progress: &progress, StopTimeout: 5 * time.Second, ReadyTimeout: 10 * time.Second, HeartbeatInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Step(ctx, StepOptions{Plans: stepPlans("on-warm", 500*time.Millisecond, "node-a")})
	checkStep(t, rep, err, ReasonCompleted, 1)
	p.Detach()
	if n := c.Heartbeats(name + "#0 on-warm"); n < 3 {
		t.Errorf("%d heartbeat lines of the step, want one every 50 ms of its 500 ms", n)
	}
	if n := c.Stops(name + "#0"); n != 0 {
		t.Errorf("%d stop lines reached the warm helper: its detach must not stop it", n)
	}
	var creates, deletes int
	for _, a := range c.CS.Actions() {
		if a.GetResource().Resource == "pods" {
			switch a.GetVerb() {
			case "create":
				creates++
			case "delete":
				deletes++
			}
		}
	}
	if creates != 1 || deletes != 0 {
		t.Fatalf("%d helper pods created, %d deleted: want the warm one only, kept", creates, deletes)
	}
	// A second fault on the same helper: it still serves.
	p2, err := StartPool(ctx, PoolOptions{Client: c.CS, Attacher: c, Namespace: helperpod.DefaultNamespace,
		Owner: "tester@kind", Deadline: time.Now().Add(time.Minute), Warm: true, Adopt: hs,
		Progress: &progress, StopTimeout: 5 * time.Second, ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = p2.Step(ctx, StepOptions{Plans: stepPlans("again", 200*time.Millisecond, "node-a")})
	checkStep(t, rep, err, ReasonCompleted, 1)
	p2.Detach()
	if err := c.CS.CoreV1().Pods(helperpod.DefaultNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	assertAllGone(t, c, nil)
}

// TestWarmReturnsOnceTheAPIShowsRunning: the kubelet posts Running after the container
// started, so the agent can answer an attach while the pod still says Pending (e2e
// TestWarmLoss failed so once in CI). Warm must return only a helper a fault command's
// lookup takes: Running with its agent container running.
func TestWarmReturnsOnceTheAPIShowsRunning(t *testing.T) {
	c := newCluster(t)
	c.SetBehavior("node-a", sessiontest.Behavior{RunningAfter: 700 * time.Millisecond})
	var progress syncBuffer
	ctx := context.Background()
	wp, err := StartPool(ctx, PoolOptions{Client: c.CS, Attacher: c, Namespace: helperpod.DefaultNamespace,
		ID: "warm-running", Owner: "tester@kind", Deadline: time.Now().Add(time.Minute), RuntimeSocket: poolSocket,
		Build: func(pl *plan.Plan) (*corev1.Pod, error) {
			return helperpod.Build(helperpod.Options{Plan: pl, Namespace: helperpod.DefaultNamespace, Image: "kubectl-chaos:test"})
		},
		Warm: true, Progress: &progress, StopTimeout: 5 * time.Second, ReadyTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer wp.Close()
	hs, err := wp.Warm(ctx, []string{"node-a"})
	returned := time.Now()
	if err != nil {
		t.Fatalf("Warm: %v\n%s", err, progress.String())
	}
	if len(hs) != 1 || !AgentRunning(hs[0].Pod) {
		var phase corev1.PodPhase
		if len(hs) > 0 {
			phase = hs[0].Pod.Status.Phase
		}
		t.Fatalf("Warm returned %d helper(s), the first %s: want one whose pod shows its agent running", len(hs), phase)
	}
	running := c.RunningAt(hs[0].Pod.Name + "#0")
	if running.IsZero() || returned.Before(running) {
		t.Fatalf("Warm returned at %s, the API said Running at %s", returned.Format("15:04:05.000"), running.Format("15:04:05.000"))
	}
	t.Logf("Warm returned %s after the API said Running", returned.Sub(running).Round(time.Millisecond))
}
