// Package listing prints experiments, their helper pods and the pods API-only faults
// changed as tables, for ls, status and stop.
package listing

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Remaining is a human "time left" until deadline.
func Remaining(now, deadline time.Time) string {
	if deadline.IsZero() {
		return "-"
	}
	d := deadline.Sub(now).Round(time.Second)
	if d <= 0 {
		return "expired " + (-d).String() + " ago"
	}
	return d.String()
}

// ExperimentTable prints experiments as a table. STATE is where each stands (active,
// ended and how, needs gc and why: session.Assess); HELPERS counts helper pods, PODS
// the pods an API-only fault changed; NODES are where either are; LEFT is the time to
// the deadline of an experiment still active.
func ExperimentTable(w io.Writer, st *ui.Styles, now time.Time, exps []session.Experiment) error {
	t := ui.NewTable(st, "ID", "OWNER", "FAULT", "STATE", "HELPERS", "PODS", "NODES", "DETACHED", "LEFT")
	for _, e := range exps {
		if e.State == "" {
			session.Assess(&e, now)
		}
		var nodes []string
		seen := map[string]bool{}
		add := func(n string) {
			if n != "" && !seen[n] {
				seen[n] = true
				nodes = append(nodes, n)
			}
		}
		for _, h := range e.Helpers {
			add(h.Node)
		}
		for _, p := range e.Pods {
			add(p.Node)
		}
		left := Remaining(now, e.Deadline)
		if len(e.Pods) > 0 && !e.Deadline.IsZero() && !now.Before(e.Deadline) {
			left += ", run gc" // nothing in the cluster restores a changed pod by itself
		}
		if e.State == session.StateEnded {
			left = "-" // nothing runs any more: a time left would read as running
		}
		fault := e.Fault
		if e.Warm != nil && e.State != session.StateEnded {
			fault = WarmText(now, e.Warm)
		}
		t.Row(e.ID, dash(e.Owner), dash(fault), stateText(st, e), fmt.Sprint(len(e.Helpers)), fmt.Sprint(len(e.Pods)), dash(strings.Join(nodes, ",")),
			fmt.Sprint(e.Detached), left)
	}
	return t.Render(w)
}

// WarmText is the FAULT cell of a warm experiment: until when its helpers stay warm,
// and idle or the steps they serve now (whose, which fault, on which node, until when),
// as the CLIs that sent them recorded them on the helper pods (session.WarmStepRecord).
func WarmText(now time.Time, w *session.WarmState) string {
	s := "warm until " + clock(now, w.Until) + ": "
	if w.Idle() {
		s += "idle"
	} else {
		var steps []string
		for _, st := range w.Steps {
			steps = append(steps, fmt.Sprintf("serving %s (%s: %s) on %s until %s", st.Step, dash(st.Owner), dash(st.Fault), st.Node, clock(now, st.Until)))
		}
		s += strings.Join(steps, "; ")
	}
	for _, st := range w.Stale {
		s += fmt.Sprintf("; step %s on %s: its CLI went silent at %s (the agent recovered it)", st.Step, st.Node, clock(now, st.Seen))
	}
	return s
}

// clock is t in UTC, its time of day alone when it is on now's day.
func clock(now, t time.Time) string {
	t, now = t.UTC(), now.UTC()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04:05Z")
	}
	return t.Format(time.RFC3339)
}

// stateText is the STATE cell: the state, colored, and how.
func stateText(st *ui.Styles, e session.Experiment) string {
	s := e.State
	switch e.State {
	case session.StateActive:
		s = st.Green(s)
	case session.StateNeedsGC:
		s = st.Red(s)
	}
	if e.How != "" {
		s += ": " + oneLine(e.How)
	}
	return s
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// ChangedPodTable prints the pods an API-only fault changed.
func ChangedPodTable(w io.Writer, st *ui.Styles, now time.Time, ps []session.ChangedPod) error {
	t := ui.NewTable(st, "NAMESPACE", "POD", "NODE", "KIND", "LEFT", "STATE")
	for _, p := range ps {
		state := "changed (undo record on the pod)"
		switch {
		case p.Error != "":
			state = st.Red(p.Error)
		case p.Restored:
			state = "restored"
		case !p.Deadline.IsZero() && !now.Before(p.Deadline):
			state = "expired, run gc to restore it"
		}
		t.Row(p.Namespace, p.Pod, dash(p.Node), dash(p.Kind), Remaining(now, p.Deadline), state)
	}
	return t.Render(w)
}

// HelperTable prints helper pods as a table.
func HelperTable(w io.Writer, st *ui.Styles, hs []session.HelperState) error {
	t := ui.NewTable(st, "NAMESPACE", "POD", "NODE", "PHASE", "RESTARTS", "RESULT")
	for _, h := range hs {
		res := "-"
		if h.Result != nil {
			res = h.Result.Reason
			if h.Result.OK() {
				res += " ok"
			} else {
				res += " " + st.Red("failed")
				if h.Result.Error != "" {
					res += ": " + h.Result.Error
				}
			}
		}
		t.Row(h.Namespace, h.Pod, dash(h.Node), dash(h.Phase), fmt.Sprint(h.Restarts), res)
	}
	return t.Render(w)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
