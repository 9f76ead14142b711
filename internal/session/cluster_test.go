package session

import (
	"runtime"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session/sessiontest"
	corev1 "k8s.io/api/core/v1"
)

// The session tests run against sessiontest's in-process cluster: a fake clientset and
// a fake kubelet that runs the real agent (noop fault) as each helper's container.
type cluster = sessiontest.Cluster

type behavior = sessiontest.Behavior

// newCluster starts the fake cluster and, when the test ends and the cluster has
// stopped, checks that nothing of the session or the cluster keeps running.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, base) }) // runs after the cluster's own cleanup
	return sessiontest.New(t, nil)
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
