package session

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Report reasons.
const (
	ReasonCompleted   = "completed"
	ReasonInterrupted = "interrupted"
	ReasonFailed      = "failed"
	ReasonDetached    = "detached"
)

func (r *runner) reportOf(reason string) *Report {
	rep := &Report{Experiment: r.exp, Fault: r.fault, Reason: reason, StartedAt: r.start, EndedAt: time.Now()}
	for _, h := range r.helpers {
		rep.Nodes = append(rep.Nodes, *h.report)
	}
	return rep
}

// finish builds the report and the error that maps to the exit code.
func (r *runner) finish() (*Report, error) {
	outs := make([]outcome, 0, len(r.helpers))
	for _, h := range r.helpers {
		h.fillReport(r.start)
		outs = append(outs, h.outcome())
	}
	reason, err := classify(r.exp, r.reason, r.fatal, outs)
	rep := r.reportOf(reason)
	fmt.Fprintf(r.o.Progress, "experiment %s %s\n", r.exp, reason)
	return rep, err
}

// fillReport completes the helper's NodeReport: its result and error, and the
// latencies the events could not give.
func (h *helper) fillReport(start time.Time) {
	nr := h.report
	if h.sawExit && h.evResult != nil && !h.resultFinal {
		// The agent said exit and the session did not wait for its termination
		// message (issue 17): its events are its result.
		h.result = h.evResult
	}
	nr.Result = h.result
	nr.Error = h.err
	if nr.Error == "" && h.result != nil {
		nr.Error = h.result.Error
	}
	// The injected event is lost if the agent injected before the attach was up; then
	// the result's injectedAt (agent clock) stands in.
	if nr.InjectLatency == 0 && h.result != nil {
		for _, tr := range h.result.Targets {
			if !tr.InjectedAt.IsZero() && (nr.InjectLatency == 0 || tr.InjectedAt.Sub(start) < nr.InjectLatency.D()) {
				nr.InjectLatency = plan.Duration(max(tr.InjectedAt.Sub(start), 0))
			}
		}
	}
	// Recover latency: from the stop request, the lost stream, or the deadline.
	ref := h.stopAt
	if ref.IsZero() {
		ref = h.streamLostAt
	}
	if ref.IsZero() && h.plan != nil {
		ref = h.plan.Deadline
	}
	if !h.lastRecovered.IsZero() && !ref.IsZero() {
		if d := h.lastRecovered.Sub(ref); d > 0 {
			nr.RecoverLatency = plan.Duration(d)
		}
	}
}

// outcome is what the classification needs of one helper once the session is over:
// plain data, so classify is a pure function.
type outcome struct {
	Name, Node   string
	Targets      []string     // the plan's targets, else the result's
	Result       *plan.Result // the agent's final result (termination message); nil if none came
	Err          string       // the session's own error for this helper
	StopAt       time.Time    // when the session asked it to stop; zero: never
	StreamLostAt time.Time    // when its attach stream ended while its agent ran; zero: never
	Injected     map[string]bool
	Recovered    map[string]bool
	ErrAt        map[string]time.Time // the first error event per target
}

func (h *helper) outcome() outcome {
	if h.sawExit && h.evResult != nil && !h.resultFinal {
		h.result = h.evResult
	}
	o := outcome{Name: h.name, Node: h.node, Result: h.result, Err: h.err, StopAt: h.stopAt, StreamLostAt: h.streamLostAt,
		Injected: h.injected, Recovered: h.recovered, ErrAt: h.errAt}
	switch {
	case h.plan != nil:
		for _, t := range h.plan.Targets {
			o.Targets = append(o.Targets, t.String())
		}
	case h.result != nil:
		for _, t := range h.result.Targets {
			o.Targets = append(o.Targets, t.Target)
		}
	}
	return o
}

// earlyReasons are agent exit reasons that mean someone ended the helper before its
// deadline without this session asking.
var earlyReasons = map[string]bool{plan.ReasonSignal: true, plan.ReasonStopped: true, plan.ReasonNoHeartbeat: true}

// classify decides how the session ended, from how the loop ended it (loopReason:
// completed, interrupted or failed), the cluster-side errors it met (fatal) and each
// helper's outcome: the report's reason, and the error whose exit code the CLI returns
// (nil: 0; internal/exit: 3 a fault failed or was not confirmed recovered, 2 a cluster
// error, 130 interrupted).
func classify(exp, loopReason string, fatal []string, helpers []outcome) (string, error) {
	var residue, incomplete, lost, early []string
	for _, h := range helpers {
		switch {
		case !h.StopAt.IsZero():
		case h.Result != nil && h.Result.Reason == plan.ReasonEOF,
			h.Result == nil && !h.StreamLostAt.IsZero():
			lost = append(lost, h.Name)
		case h.Result != nil && earlyReasons[h.Result.Reason]:
			early = append(early, fmt.Sprintf("%s on node %s (%s)", h.Name, h.Node, h.Result.Reason))
		}
		res, inc := h.problems()
		residue = append(residue, res...)
		incomplete = append(incomplete, inc...)
	}
	reason := loopReason
	if reason == ReasonCompleted && len(early) > 0 {
		reason = ReasonInterrupted // stopped from elsewhere: pod deleted, kubectl chaos stop
	}
	if reason == ReasonCompleted && (len(residue) > 0 || len(incomplete) > 0 || len(fatal) > 0) {
		reason = ReasonFailed
	}
	switch {
	case len(residue) > 0:
		return reason, exit.FaultError(fmt.Errorf("fault failed or recovery not confirmed on %s", strings.Join(residue, "; ")))
	case len(fatal) > 0:
		return reason, exit.APIError(errors.New(strings.Join(fatal, "; ")))
	case loopReason == ReasonInterrupted:
		return reason, exit.InterruptedError(fmt.Errorf("experiment %s interrupted; every helper recovered and was removed", exp))
	case len(early) > 0:
		return reason, exit.InterruptedError(fmt.Errorf("stopped before the deadline from outside this session (helper pod deleted, or kubectl chaos stop): %s; the fault was recovered",
			strings.Join(early, ", ")))
	case len(incomplete) > 0:
		return reason, exit.FaultError(fmt.Errorf("fault not applied on %s", strings.Join(incomplete, "; ")))
	case len(lost) > 0:
		sort.Strings(lost)
		return reason, exit.APIError(fmt.Errorf("lost the attach stream to %s before the deadline: their agents recovered early", strings.Join(lost, ", ")))
	}
	return reason, nil
}

// problems lists the helper's targets that may have something left behind (residue:
// an error, or injected without a confirmed recovery) and those never injected.
func (h outcome) problems() (residue, incomplete []string) {
	nodeErr := h.Err
	if nodeErr == "" && h.Result != nil {
		nodeErr = h.Result.Error
	}
	for _, t := range h.Targets {
		tr := h.targetResult(t)
		injected := h.Injected[t] || (tr != nil && tr.Injected)
		recovered := h.Recovered[t] || (tr != nil && tr.Recovered)
		// An error on a target that was never injected counts as a failure unless it
		// came after we asked the helper to stop (an apply cut short by the stop).
		genuine := tr != nil && tr.Error != "" && (tr.Injected || h.StopAt.IsZero() ||
			(!h.ErrAt[t].IsZero() && h.ErrAt[t].Before(h.StopAt)))
		switch {
		case genuine:
			residue = append(residue, fmt.Sprintf("%s (node %s): %s", t, h.Node, tr.Error))
		case injected && !recovered:
			residue = append(residue, fmt.Sprintf("%s (node %s): injected, recovery not confirmed", t, h.Node))
		case !injected:
			why := "not injected"
			if nodeErr != "" {
				why += ": " + nodeErr
			}
			incomplete = append(incomplete, fmt.Sprintf("%s (node %s): %s", t, h.Node, why))
		}
	}
	if h.Result != nil && h.Result.Error != "" && len(h.Result.Targets) == 0 && h.Err == "" {
		residue = append(residue, fmt.Sprintf("node %s: %s", h.Node, h.Result.Error))
	}
	return residue, incomplete
}

// targetResult is the result's entry for target t (the last one, if repeated), or nil.
func (h outcome) targetResult(t string) *plan.TargetResult {
	var tr *plan.TargetResult
	if h.Result != nil {
		for i := range h.Result.Targets {
			if h.Result.Targets[i].Target == t {
				tr = &h.Result.Targets[i]
			}
		}
	}
	return tr
}
