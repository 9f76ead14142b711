package session

import (
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// States of an experiment (Experiment.State), decided by Assess.
const (
	// StateActive: a helper's agent is still running the fault (or about to), or a
	// changed pod is within its deadline.
	StateActive = "active"
	// StateEnded: every helper's agent ended and said everything it injected was
	// recovered; How says how it ended.
	StateEnded = "ended"
	// StateNeedsGC: something may be left that nothing in the cluster removes by itself
	// (a failed recovery, an agent gone without a result, a helper still running past
	// its deadline, a changed pod past its deadline): `kubectl chaos gc` handles it.
	StateNeedsGC = "needs gc"
)

// How an agent's stop reason reads in ls.
var reasonWords = map[string]string{
	plan.ReasonEOF:         "recovered after the operator left",
	plan.ReasonDeadline:    "deadline reached",
	plan.ReasonStopped:     "stopped",
	plan.ReasonSignal:      "stopped (helper deleted or SIGTERM)",
	plan.ReasonNoHeartbeat: "recovered: the operator did not come back after an agent restart",
	plan.ReasonDone:        "done (one-shot)",
	plan.ReasonFailed:      "failed",
}

// Assess says where e stands at now (State, How), from its helpers' pod states and
// results and its changed pods; pure.
func Assess(e *Experiment, now time.Time) {
	e.Warm = warmState(e, now)
	var active, gc, ended []string
	for _, h := range e.Helpers {
		st, how := helperOutcome(h, e.Deadline, now)
		switch st {
		case StateNeedsGC:
			gc = appendOnce(gc, how)
		case StateActive:
			active = appendOnce(active, how)
		default:
			ended = appendOnce(ended, how)
		}
	}
	for _, p := range e.Pods {
		switch {
		case p.Error != "":
			gc = appendOnce(gc, "pod "+p.Namespace+"/"+p.Pod+": "+p.Error)
		case p.Restored:
			ended = appendOnce(ended, "restored")
		case !p.Deadline.IsZero() && !now.Before(p.Deadline):
			gc = appendOnce(gc, "changed pods past their deadline (nothing restores them but gc)")
		default:
			active = appendOnce(active, "")
		}
	}
	switch {
	case len(gc) > 0:
		e.State, e.How = StateNeedsGC, strings.Join(gc, "; ")
	case len(active) > 0:
		e.State, e.How = StateActive, strings.Join(nonEmpty(active), "; ")
	default:
		e.State, e.How = StateEnded, strings.Join(ended, "; ")
	}
}

// helperOutcome is one helper's state and how it got there.
func helperOutcome(h HelperState, deadline, now time.Time) (state, how string) {
	if !h.Terminated && h.Phase != "Succeeded" && h.Phase != "Failed" {
		switch {
		case h.Deleting:
			return StateActive, "stopping"
		case !deadline.IsZero() && now.After(deadline.Add(GCGrace)):
			return StateNeedsGC, fmt.Sprintf("helper on %s still %s %s past the deadline", h.Node, strings.ToLower(dashed(h.Phase)), now.Sub(deadline).Round(time.Second))
		}
		return StateActive, ""
	}
	r := h.Result
	if r == nil {
		if h.PodReason == "DeadlineExceeded" {
			return StateNeedsGC, fmt.Sprintf("helper on %s killed at its activeDeadlineSeconds without a result: gc sweeps the node's journal", h.Node)
		}
		return StateNeedsGC, fmt.Sprintf("helper on %s ended without a result: gc sweeps the node's journal", h.Node)
	}
	for _, t := range r.Targets {
		if t.Injected && !t.Recovered {
			return StateNeedsGC, fmt.Sprintf("recovery failed on %s (%s): %s", h.Node, t.Target, firstNonEmpty(t.Error, r.Error, "not recovered"))
		}
	}
	words := reasonWords[r.Reason]
	if words == "" {
		words = r.Reason
	}
	if r.Reason == plan.ReasonFailed || r.Error != "" {
		return StateEnded, "failed: " + firstNonEmpty(r.Error, "nothing applied")
	}
	return StateEnded, words
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func dashed(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
