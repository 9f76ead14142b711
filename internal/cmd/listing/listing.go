// Package listing prints experiments and their helper pods as tables, for ls, status
// and stop.
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

// ExperimentTable prints experiments as a table.
func ExperimentTable(w io.Writer, st *ui.Styles, now time.Time, exps []session.Experiment) error {
	t := ui.NewTable(st, "ID", "OWNER", "FAULT", "HELPERS", "NODES", "DETACHED", "LEFT")
	for _, e := range exps {
		var nodes []string
		for _, h := range e.Helpers {
			nodes = append(nodes, h.Node)
		}
		t.Row(e.ID, dash(e.Owner), dash(e.Fault), fmt.Sprint(len(e.Helpers)), dash(strings.Join(nodes, ",")),
			fmt.Sprint(e.Detached), Remaining(now, e.Deadline))
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
