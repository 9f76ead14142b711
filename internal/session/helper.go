package session

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
)

// helper is the session's view of one helper pod.
type helper struct {
	name, node string
	pod        *corev1.Pod // latest seen
	plan       *plan.Plan
	report     *NodeReport

	att          *attachment // current attachment
	attachedOnce bool
	probes       int        // early attach attempts made
	start        startRetry // failed starts before the first attach, while the kubelet retries
	startTimer   bool       // a re-check at the end of start's window is pending
	attachErrs   int
	streamLostAt time.Time // attach stream ended while the agent was still running

	done    bool // agent exited for good (or pod gone)
	gone    bool // pod deleted
	stopAt  time.Time
	result  *plan.Result
	err     string
	deleted bool // we issued the delete

	injected      map[string]bool
	recovered     map[string]bool
	errAt         map[string]time.Time // first error event per target
	lastRecovered time.Time
	sawExit       bool // the current container's agent said exit
	// evResult is the current agent's result as its events tell it (complete once it
	// said exit): the report's when the session does not wait for the pod status.
	evResult *plan.Result
	// resultFinal: result is the current container's termination message.
	resultFinal bool
}

func newHelper(p *corev1.Pod) *helper {
	h := &helper{name: p.Name, node: podNode(p), pod: p, plan: podPlan(p),
		injected: map[string]bool{}, recovered: map[string]bool{}, errAt: map[string]time.Time{}}
	h.report = &NodeReport{Node: h.node, Pod: p.Name}
	return h
}

// forgetEvents drops what the previous container's events said: after a restart the
// new container's events and final result speak for the targets (it recovers what its
// predecessor left, from the journal).
func (h *helper) forgetEvents() {
	h.injected, h.recovered, h.errAt = map[string]bool{}, map[string]bool{}, map[string]time.Time{}
	h.lastRecovered = time.Time{}
	h.evResult = nil
}

// onPod takes in a helper pod's new status: its result, its end (deleted, succeeded,
// failed, or a start that cannot happen), else an attach to a running container.
func (r *runner) onPod(u podUpdate) {
	h := r.byName[u.pod.Name]
	if h == nil {
		return
	}
	h.pod = u.pod
	st := agentStatus(u.pod)
	if st != nil {
		h.report.Restarts = st.RestartCount
	}
	if res, final := podResult(u.pod); res != nil {
		h.result, h.resultFinal = res, final
	}
	if u.deleted {
		r.onPodDeleted(h)
		return
	}
	if h.done {
		return
	}
	phase := u.pod.Status.Phase
	terminated := st != nil && st.State.Terminated != nil
	switch {
	case phase == corev1.PodSucceeded || phase == corev1.PodFailed:
		if !h.attachedOnce && r.phase == phaseRunning && h.result == nil && r.failedStart(h) {
			return
		}
		h.done = true
		if h.result == nil && phase == corev1.PodFailed {
			h.err = strings.TrimSpace(fmt.Sprintf("helper pod failed: %s %s", u.pod.Status.Reason, u.pod.Status.Message))
		}
	case terminated && (st.State.Terminated.ExitCode == 0 || r.phase != phaseRunning):
		// Exit 0 is final under restartPolicy OnFailure; while stopping, any exit is.
		h.done = true
	case r.phase == phaseRunning && !h.attachedOnce:
		if r.failedStart(h) {
			return
		}
	}
	if h.done {
		r.closeAttachment(h.att)
		return
	}
	if st != nil && st.State.Running != nil {
		r.maybeAttach(h)
	}
}

func (r *runner) onPodDeleted(h *helper) {
	r.trace("pod-gone", h, time.Now())
	h.gone = true
	if !h.done {
		h.done = true
		if !h.deleted && r.phase == phaseRunning {
			h.err = "helper pod was deleted by someone else before its agent finished"
			fmt.Fprintf(r.o.Progress, "helper pod %s/%s was deleted\n", h.pod.Namespace, h.name)
		}
	}
	r.closeAttachment(h.att)
}

// failedStart ends the session if the helper, not attached to yet, cannot start (see
// startFailure); it says whether it did. A start that failed for a reason the kubelet's
// retry can fix is waited for, bounded (startRetry.check); the end of that bound is
// checked again by a timer, as the status may not change meanwhile.
func (r *runner) failedStart(h *helper) bool {
	msg, note, left := h.start.check(h.pod, time.Now())
	if note != "" {
		fmt.Fprintln(r.o.Progress, note)
	}
	if left > 0 && !h.startTimer {
		h.startTimer = true
		r.after(left, r.startCh, h)
	}
	if msg == "" {
		return false
	}
	h.err = msg
	h.done = true
	r.fail(msg)
	r.beginStop()
	return true
}

// recheckStart is the end of a helper's start window: give up if it still has not run.
func (r *runner) recheckStart(h *helper) {
	h.startTimer = false
	if h.done || h.attachedOnce || r.phase != phaseRunning {
		return
	}
	r.failedStart(h)
}

// onEvent takes in one event line of an agent: progress for the user, and what the
// report needs (inject time, which targets were injected and recovered, errors).
func (r *runner) onEvent(e lineEvent) {
	h := e.h
	if !e.att.gotEvent {
		r.trace("attach-first-event", h, e.at)
	}
	e.att.gotEvent = true
	if e.att.probe && e.att.restart < 0 {
		// The early attach reached an agent: the first container's, as only the first
		// is probed for (restarts are followed through the status).
		e.att.restart = 0
		if e.att == h.att {
			r.attached(h)
		}
	}
	ev := e.ev
	if ev.Node == "" {
		ev.Node = h.node
	}
	if ev.Step != "" && r.serve != nil {
		r.serve.route(h.node, ev, e.at) // a step's: its own bookkeeping
		return
	}
	r.o.Events(ev)
	if e.att == h.att {
		h.sawExit = h.sawExit || ev.Type == plan.EventExit
		h.recordEvent(ev)
	}
	switch ev.Type {
	case plan.EventInjected:
		if h.report.InjectLatency == 0 {
			h.report.InjectLatency = plan.Duration(e.at.Sub(r.start))
			r.traceMarks(h, ev.Marks)
			r.trace("injected-received", h, e.at)
		}
		h.injected[ev.Target] = true
		r.countActive(h.node + "|" + ev.Target)
	case plan.EventRecovered:
		if len(h.recovered) == 0 {
			r.trace("agent-recovered", h, ev.Time)
			r.trace("recovered-received", h, e.at)
		}
		h.recovered[ev.Target] = true
		h.lastRecovered = e.at
	case plan.EventError:
		h.noteError(ev, e.at, r.o.Progress)
	}
}

// noteError keeps when the first error of a target came and says the error.
func (h *helper) noteError(ev plan.Event, at time.Time, progress io.Writer) {
	if _, ok := h.errAt[ev.Target]; !ok {
		h.errAt[ev.Target] = at
	}
	what := ev.Target
	if what == "" {
		what = "agent"
	}
	fmt.Fprintf(progress, "error on node %s (%s): %s\n", h.node, what, ev.Error)
}

// countActive counts a target as active and says so the first time.
func (r *runner) countActive(key string) {
	if r.active[key] {
		return
	}
	r.active[key] = true
	total := r.targets
	if total < len(r.active) {
		total = len(r.active)
	}
	fmt.Fprintf(r.o.Progress, "fault active on %d/%d targets\n", len(r.active), total)
}

// recordEvent keeps the agent's result as its events tell it (helper.evResult).
func (h *helper) recordEvent(ev plan.Event) {
	if h.evResult == nil {
		h.evResult = &plan.Result{Node: h.node}
		if h.plan != nil {
			h.evResult.Experiment = h.plan.Experiment
			for _, t := range h.plan.Targets {
				h.evResult.Targets = append(h.evResult.Targets, plan.TargetResult{Target: t.String()})
			}
		}
	}
	res := h.evResult
	var tr *plan.TargetResult
	for i := range res.Targets {
		if res.Targets[i].Target == ev.Target {
			tr = &res.Targets[i]
		}
	}
	switch {
	case ev.Type == plan.EventExit:
		res.Reason, res.Error = ev.Reason, ev.Error
	case tr == nil:
	case ev.Type == plan.EventInjected:
		tr.Injected, tr.InjectedAt = true, ev.Time
	case ev.Type == plan.EventRecovered:
		tr.Recovered, tr.RecoveredAt = true, ev.Time
	case ev.Type == plan.EventError && tr.Error == "":
		tr.Error = ev.Error
	}
}
