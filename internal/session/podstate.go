package session

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
)

// agentStatus returns the status of the helper's agent container, or nil before the
// kubelet reported one.
func agentStatus(p *corev1.Pod) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == helperpod.ContainerName {
			return &p.Status.ContainerStatuses[i]
		}
	}
	if len(p.Status.ContainerStatuses) == 1 {
		return &p.Status.ContainerStatuses[0]
	}
	return nil
}

// podPlan decodes the plan carried in the agent container's environment (nil if absent).
func podPlan(p *corev1.Pod) *plan.Plan {
	for _, c := range p.Spec.Containers {
		if c.Name != helperpod.ContainerName && len(p.Spec.Containers) > 1 {
			continue
		}
		for _, e := range c.Env {
			if e.Name == plan.EnvVar && e.Value != "" {
				if pl, err := plan.Decode(e.Value); err == nil {
					return pl
				}
			}
		}
	}
	return nil
}

// podImage is the agent container's image.
func podImage(p *corev1.Pod) string {
	for _, c := range p.Spec.Containers {
		if c.Name == helperpod.ContainerName || len(p.Spec.Containers) == 1 {
			return c.Image
		}
	}
	return ""
}

// podNode is the node a helper is bound to.
func podNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	if n := p.Labels[plan.LabelNode]; n != "" {
		return n
	}
	if pl := podPlan(p); pl != nil {
		return pl.Node
	}
	return ""
}

// PodDeadline reads the deadline annotation (RFC 3339), falling back to the plan.
func PodDeadline(p *corev1.Pod) time.Time {
	if v := p.Annotations[plan.AnnotationDeadline]; v != "" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t
		}
	}
	if pl := podPlan(p); pl != nil {
		return pl.Deadline
	}
	return time.Time{}
}

// podFault is the fault summary of a helper: its annotation, else its plan.
func podFault(p *corev1.Pod) string {
	if v := p.Annotations[plan.AnnotationFault]; v != "" {
		return v
	}
	if pl := podPlan(p); pl != nil {
		return pl.Fault.Summary()
	}
	return ""
}

// decodeResult parses a termination message as a plan.Result.
func decodeResult(msg string) (*plan.Result, error) {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return nil, fmt.Errorf("empty termination message")
	}
	var r plan.Result
	if err := json.Unmarshal([]byte(msg), &r); err != nil {
		return nil, fmt.Errorf("termination message is not an agent result (%v): %.200q", err, msg)
	}
	return &r, nil
}

// podResult returns the agent's result from the current termination state, or from the
// last one after a restart. terminated says whether the current container has exited.
func podResult(p *corev1.Pod) (res *plan.Result, terminated bool) {
	st := agentStatus(p)
	if st == nil {
		return nil, false
	}
	if t := st.State.Terminated; t != nil {
		terminated = true
		if r, err := decodeResult(t.Message); err == nil {
			return r, true
		}
	}
	if t := st.LastTerminationState.Terminated; t != nil {
		if r, err := decodeResult(t.Message); err == nil {
			return r, terminated
		}
	}
	return nil, terminated
}

// imagePullReasons are the waiting reasons that mean the image cannot be had.
var imagePullReasons = map[string]bool{
	"ErrImagePull":      true,
	"ImagePullBackOff":  true,
	"ErrImageNeverPull": true,
	"InvalidImageName":  true,
}

// startProblem is why a helper that has not been attached to yet is not running.
type startProblem struct {
	msg string // the cause and the fix; "" while it may still start
	who string // the helper pod and its node
	why string // the cause alone (reason: message, or the exit status)
	// transient: the kubelet retries it (restartPolicy OnFailure) and a retry can work:
	// the container runtime failed under the start (RunContainerError, StartError,
	// CreateContainerError, as when containerd restarts), or the agent died before the
	// CLI attached (killed, or a recovery that failed) rather than refusing its plan.
	transient bool
	attempts  int // failed starts seen: the container's restart count + 1
}

// transientWaiting are the waiting reasons a kubelet retry can fix.
var transientWaiting = map[string]bool{
	"RunContainerError":    true,
	"CreateContainerError": true,
	"StartError":           true,
}

// startFailure explains why a helper that has not been attached to yet cannot start,
// with the fix, and whether the kubelet's retry may still start it.
func startFailure(p *corev1.Pod) startProblem {
	pr := startProblemOf(p)
	if p.Status.Phase == corev1.PodFailed {
		pr.transient = false // the kubelet retries nothing in a failed pod
	}
	return pr
}

func startProblemOf(p *corev1.Pod) startProblem {
	where := fmt.Sprintf("helper pod %s/%s on node %s", p.Namespace, p.Name, podNode(p))
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return startProblem{msg: fmt.Sprintf("%s cannot be scheduled: %s; check that the node exists, is Ready and has room (kubectl describe node %s)", where, c.Message, podNode(p))}
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		if _, terminated := podResult(p); !terminated {
			return startProblem{msg: fmt.Sprintf("%s failed before it started: %s %s; see kubectl -n %s describe pod %s", where, p.Status.Reason, p.Status.Message, p.Namespace, p.Name)}
		}
	}
	st := agentStatus(p)
	if st == nil {
		return startProblem{}
	}
	attempts := int(st.RestartCount) + 1
	if w := st.State.Waiting; w != nil {
		why := w.Reason + ": " + w.Message
		switch {
		case imagePullReasons[w.Reason]:
			return startProblem{msg: fmt.Sprintf("%s cannot get its image %q (%s: %s): build/load it into the node's container runtime, or pass --image", where, podImage(p), w.Reason, w.Message)}
		case w.Reason == "CreateContainerConfigError" || transientWaiting[w.Reason]:
			return startProblem{msg: fmt.Sprintf("%s cannot create its container (%s); see kubectl -n %s describe pod %s", where, why, p.Namespace, p.Name),
				who: where, why: why, transient: transientWaiting[w.Reason], attempts: attempts}
		case w.Reason == "CrashLoopBackOff":
			last := st.LastTerminationState.Terminated
			return startProblem{msg: fmt.Sprintf("%s keeps crashing before the CLI could attach (%s); see kubectl -n %s logs %s --previous", where, terminationText(last), p.Namespace, p.Name),
				who: where, why: "CrashLoopBackOff after " + terminationText(last), transient: retryableExit(last), attempts: attempts}
		}
	}
	if t := st.State.Terminated; t != nil && t.ExitCode != 0 {
		return startProblem{msg: fmt.Sprintf("%s: the agent exited before the CLI could attach (%s); see kubectl -n %s logs %s", where, terminationText(t), p.Namespace, p.Name),
			who: where, why: "the agent exited: " + terminationText(t), transient: retryableExit(t), attempts: attempts}
	}
	return startProblem{}
}

// retryableExit says whether a restart of an agent that ended so may start it: not when
// it refused its plan (exit 1, internal/cmd/agent): the next one reads the same plan.
// A kill, a failed recovery (exit 3: restarted on purpose), the runtime's StartError:
// yes. Exit 0 is final under restartPolicy OnFailure.
func retryableExit(t *corev1.ContainerStateTerminated) bool {
	if t == nil {
		return true // back-off with no exit status: the runtime's, not the agent's
	}
	return t.ExitCode != 0 && t.ExitCode != 1
}

// Bounds of the wait for the kubelet's retries of a start that failed for a reason a
// retry can fix (startProblem.transient). The kubelet restarts a failed container at
// once the first time, then after 10 s, 20 s, …; a container it could not create it
// tries again about every 10 s. So maxStartAttempts failed starts come within ≈15 s,
// and startRetryWindow lets a create error be tried twice more. A permanent failure
// (no image, a config error, unschedulable, a refused plan) still ends at once.
const maxStartAttempts = 3

var startRetryWindow = 30 * time.Second // a var for the tests

// startRetry follows one helper's failed starts while the kubelet retries them.
type startRetry struct {
	since    time.Time // the first transient failure seen
	attempts int       // the most failed starts seen
}

// check takes in the helper's status at now. It returns the message to give up with
// ("" = it runs, or may still start); while a retry is waited for, note says so (once
// per new failed start, else "") and left is the time until the window ends.
func (s *startRetry) check(p *corev1.Pod, now time.Time) (fail, note string, left time.Duration) {
	pr := startFailure(p)
	if pr.msg == "" {
		return "", "", 0
	}
	if !pr.transient {
		if s.attempts > 0 {
			return fmt.Sprintf("%s (%d start attempt(s) seen)", pr.msg, max(s.attempts, pr.attempts)), "", 0
		}
		return pr.msg, "", 0
	}
	if s.since.IsZero() {
		s.since = now
	}
	waited := now.Sub(s.since)
	if pr.attempts >= maxStartAttempts || waited >= startRetryWindow {
		return fmt.Sprintf("%s (%d start attempt(s) seen in %s; the kubelet's retries did not help)",
			pr.msg, max(s.attempts, pr.attempts), waited.Round(100*time.Millisecond)), "", 0
	}
	if pr.attempts > s.attempts {
		s.attempts = pr.attempts
		note = fmt.Sprintf("%s: start attempt %d failed before the CLI could attach (%s): waiting for the kubelet's retry (up to %d attempts or %s)",
			pr.who, pr.attempts, pr.why, maxStartAttempts, startRetryWindow)
	}
	return "", note, startRetryWindow - waited
}

func terminationText(t *corev1.ContainerStateTerminated) string {
	if t == nil {
		return "no exit status"
	}
	s := "exit code " + strconv.Itoa(int(t.ExitCode))
	if t.Reason != "" {
		s += ", " + t.Reason
	}
	if m := strings.TrimSpace(t.Message); m != "" {
		if r, err := decodeResult(m); err == nil && r.Error != "" {
			m = r.Error
		}
		s += ": " + truncate(m, 300)
	}
	return s
}

// waitingText describes where a not-yet-running helper is stuck, for timeouts.
func waitingText(p *corev1.Pod) string {
	s := "phase " + string(p.Status.Phase)
	if s == "phase " {
		s = "no status yet"
	}
	if st := agentStatus(p); st != nil && st.State.Waiting != nil {
		s += ", " + st.State.Waiting.Reason
		if st.State.Waiting.Message != "" {
			s += ": " + st.State.Waiting.Message
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Status == corev1.ConditionFalse && c.Message != "" {
			s += "; " + string(c.Type) + ": " + c.Message
		}
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
