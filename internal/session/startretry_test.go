package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
)

// Statuses a kubelet writes for a helper's agent container that did not start.
func waiting(restarts int32, reason, msg string) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", RestartCount: restarts,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	}
}

func exited(restarts, code int32, msg string) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", RestartCount: restarts,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", Message: msg}}}}
	}
}

func backOff(restarts, code int32, msg string) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		waiting(restarts, "CrashLoopBackOff", "back-off 10s restarting failed container")(p)
		p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", Message: msg}
	}
}

// startRetry.check over status sequences: a start a retry can fix is waited for until
// maxStartAttempts failed starts or startRetryWindow; one it cannot fix ends at once.
func TestStartRetryCheck(t *testing.T) {
	refused := `{"error":"invalid plan: version 7"}`
	type step struct {
		at     time.Duration // since the first status
		status func(p *corev1.Pod)
	}
	for _, tc := range []struct {
		name     string
		steps    []step
		failAt   int    // index of the step that gives up; -1: none does
		want     string // in the message given up with
		notes    int    // "waiting for the kubelet's retry" lines said
		waitLeft time.Duration
	}{
		{"image pull: at once", []step{{0, waiting(0, "ErrImagePull", "not found")}}, 0, "cannot get its image", 0, 0},
		{"invalid image name: at once", []step{{0, waiting(0, "InvalidImageName", "bad")}}, 0, "InvalidImageName", 0, 0},
		{"config error: at once", []step{{0, waiting(0, "CreateContainerConfigError", "secret")}}, 0, "CreateContainerConfigError", 0, 0},
		{"refused plan: at once", []step{{0, exited(0, 1, refused)}}, 0, "invalid plan: version 7", 0, 0},
		{"crash loop of a refused plan: at once", []step{{0, backOff(0, 1, refused)}}, 0, "keeps crashing", 0, 0},
		{"unschedulable: at once", []step{{0, func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "no room"}}
		}}}, 0, "cannot be scheduled", 0, 0},
		{"pod failed: at once", []step{{0, func(p *corev1.Pod) { p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted" }}}, 0, "failed before it started", 0, 0},

		{"containerd restart, then running", []step{
			{0, waiting(0, "RunContainerError", "error reading from server: EOF")},
			{2 * time.Second, func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].RestartCount = 1
				p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
			}},
		}, -1, "", 1, 0},
		{"agent killed, back-off, then running", []step{
			{0, exited(0, 137, "")},
			{100 * time.Millisecond, backOff(0, 137, "")},
			{time.Second, func(p *corev1.Pod) {
				p.Status.ContainerStatuses[0].RestartCount = 1
				p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
			}},
		}, -1, "", 1, 0},
		{"runtime keeps failing: the third attempt gives up", []step{
			{0, waiting(0, "RunContainerError", "EOF")},
			{time.Second, exited(1, 128, "")},
			{2 * time.Second, waiting(1, "CrashLoopBackOff", "back-off")},
			{12 * time.Second, waiting(2, "RunContainerError", "EOF")},
		}, 3, "3 start attempt(s) seen in 12s", 2, 0},
		{"create error: the window gives up", []step{
			{0, waiting(0, "CreateContainerError", "context deadline exceeded")},
			{10 * time.Second, waiting(0, "CreateContainerError", "context deadline exceeded")},
			{29 * time.Second, waiting(0, "CreateContainerError", "context deadline exceeded")},
			{30 * time.Second, waiting(0, "CreateContainerError", "context deadline exceeded")},
		}, 3, "1 start attempt(s) seen in 30s", 1, 0},
		{"killed in a pod that failed: at once", []step{{0, func(p *corev1.Pod) {
			exited(0, 137, "")(p)
			p.Status.Phase, p.Status.Reason = corev1.PodFailed, "DeadlineExceeded"
		}}}, 0, "exit code 137", 0, 0},
		{"killed, then a refused plan: at once", []step{
			{0, exited(0, 137, "")},
			{time.Second, exited(1, 1, refused)},
		}, 1, "2 start attempt(s) seen", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{}
			p.Namespace, p.Name, p.Spec.NodeName = "kubectl-chaos", "chaos-x-n1", "n1"
			var s startRetry
			t0 := time.Now()
			notes, failAt := 0, -1
			for i, st := range tc.steps {
				st.status(p)
				fail, note, left := s.check(p, t0.Add(st.at))
				if note != "" {
					notes++
					if !strings.Contains(note, "waiting for the kubelet's retry") {
						t.Errorf("note %q", note)
					}
				}
				if fail != "" {
					failAt = i
					if !strings.Contains(fail, tc.want) {
						t.Errorf("gave up with %q, want %q in it", fail, tc.want)
					}
					if left != 0 {
						t.Errorf("left %s on giving up", left)
					}
					break
				}
			}
			if failAt != tc.failAt {
				t.Errorf("gave up at step %d, want %d", failAt, tc.failAt)
			}
			if notes != tc.notes {
				t.Errorf("%d waiting notes, want %d", notes, tc.notes)
			}
		})
	}
}

// A helper whose first start failed for a reason the kubelet's retry fixes (containerd
// restarted under it; its agent was killed before the attach) is waited for: the
// session attaches to the container that runs next, the fault is injected through it
// and the experiment completes (issue 16: before, it ended with exit 2 at the first
// failure).
func TestRunWaitsOutTransientStartFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fails []func(p *corev1.Pod)
	}{
		{"RunContainerError", []func(p *corev1.Pod){waiting(0, "RunContainerError", "error reading from server: EOF")}},
		{"agent killed before attach", []func(p *corev1.Pod){exited(0, 137, ""), backOff(0, 137, "")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			c.SetBehavior("node-a", behavior{FailedStarts: tc.fails, FailGap: 300 * time.Millisecond, FirstRestart: 1})
			pods := experiment(t, "exp-retry", 1500*time.Millisecond, []string{"node-a"}, nil)
			var log eventLog
			var progress syncBuffer
			rep, err := Run(context.Background(), options(c, pods, &log, &progress))
			t.Logf("%s", progress.String())
			if err != nil {
				t.Fatalf("Run: %v (exit %d)", err, exit.Code(err))
			}
			name := pods[0].Name
			if a := strings.Join(c.Attaches(), ","); a != name+"#1" {
				t.Errorf("attaches %q, want the one container that ran (%s#1)", a, name)
			}
			if c.Heartbeats(name+"#1") == 0 {
				t.Errorf("the agent that ran got no heartbeat")
			}
			n := rep.Nodes[0]
			if n.Result == nil || !n.Result.OK() || !n.Result.Targets[0].Injected || n.Restarts != 1 {
				t.Errorf("node report %+v result %+v", n, n.Result)
			}
			if log.count(plan.EventRecovered) != 1 {
				t.Errorf("%d recovered events, want 1", log.count(plan.EventRecovered))
			}
			if !strings.Contains(progress.String(), "start attempt 1 failed before the CLI could attach") {
				t.Errorf("progress does not say the start is waited for")
			}
			assertAllGone(t, c, pods)
		})
	}
}

// A start that keeps failing is given up on after maxStartAttempts failed starts, or
// after startRetryWindow when the failure shows no new attempt (a create error): exit 2,
// the cause, how many attempts were seen, everything deleted.
func TestRunGivesUpOnRepeatedStartFailure(t *testing.T) {
	defer func(w time.Duration) { startRetryWindow = w }(startRetryWindow)
	startRetryWindow = 800 * time.Millisecond
	for _, tc := range []struct {
		name     string
		fails    []func(p *corev1.Pod)
		stuck    func(p *corev1.Pod)
		want     []string
		min, max time.Duration
	}{
		{"three failed starts", []func(p *corev1.Pod){waiting(0, "RunContainerError", "EOF"), waiting(1, "RunContainerError", "EOF")},
			waiting(2, "RunContainerError", "EOF"), []string{"RunContainerError", "3 start attempt(s) seen"}, 100 * time.Millisecond, 700 * time.Millisecond},
		{"create error past the window", nil, waiting(0, "CreateContainerError", "context deadline exceeded"),
			[]string{"CreateContainerError", "1 start attempt(s) seen in 800ms"}, 750 * time.Millisecond, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			c.SetBehavior("node-a", behavior{FailedStarts: tc.fails, FailGap: 100 * time.Millisecond, Stuck: tc.stuck})
			pods := experiment(t, "exp-giveup", time.Minute, []string{"node-a"}, nil)
			var log eventLog
			var progress syncBuffer
			start := time.Now()
			_, err := Run(context.Background(), options(c, pods, &log, &progress))
			took := time.Since(start)
			t.Logf("took %s\n%s", took, progress.String())
			if exit.Code(err) != exit.API {
				t.Fatalf("err = %v (exit %d), want exit 2", err, exit.Code(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if took < tc.min || took > tc.max+4*time.Second {
				t.Errorf("gave up after %s, want %s..%s (+ the stop)", took, tc.min, tc.max)
			}
			assertAllGone(t, c, pods)
		})
	}
}
