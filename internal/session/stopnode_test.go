package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// The live view's stop key: one node's agent stops and recovers at once, the other runs
// to its deadline; the session completes (the operator asked for it) with exit 0.
func TestRunStopOneNode(t *testing.T) {
	c := newCluster(t)
	const dur = 3 * time.Second
	start := time.Now() // before the plans' deadline is stamped: node-b ends at start+dur or later
	pods := experiment(t, "exp-stopnode", dur, []string{"node-a", "node-b"}, nil)
	var log eventLog
	var progress syncBuffer
	o := options(c, pods, &log, &progress)
	stop := make(chan string, 1)
	o.StopNode = stop
	asked := make(chan time.Time, 1)
	go func() {
		for _, p := range pods {
			<-c.Container(p.Name).Injected()
		}
		for i := 0; i < 500 && len(c.Attaches()) < len(pods); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		asked <- time.Now()
		stop <- "node-a"
	}()
	rep, err := Run(context.Background(), o)
	took := time.Since(start)
	t.Logf("took %s\n%s", took, progress.String())
	if err != nil || rep.Reason != ReasonCompleted {
		t.Fatalf("Run: %v (exit %d), reason %q", err, exit.Code(err), rep.Reason)
	}
	askedAt := <-asked
	for _, n := range rep.Nodes {
		want := map[string]string{"node-a": plan.ReasonStopped, "node-b": plan.ReasonDeadline}[n.Node]
		if n.Result == nil || !n.Result.OK() || n.Result.Reason != want {
			t.Errorf("node %s: result %+v, want reason %s", n.Node, n.Result, want)
		}
		if n.Node == "node-a" && (n.RecoverLatency <= 0 || n.RecoverLatency.D() > 2*time.Second) {
			t.Errorf("node-a recovered %s after the stop key", n.RecoverLatency.D())
		}
	}
	if askedAt.Sub(start) >= dur || took < dur {
		t.Errorf("asked after %s, session took %s: node-b must have run to its %s deadline", askedAt.Sub(start), took, dur)
	}
	if !strings.Contains(progress.String(), "stopping node node-a") {
		t.Errorf("progress lacks the stop line")
	}
	assertAllGone(t, c, pods)
}
