package gc

import (
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/listing"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// printReport prints what gc did: deleted helpers and restored pods as lines, then one
// table of what each node's sweep removed.
func printReport(io *ui.IOStreams, now time.Time, r *session.GCReport) error {
	st := ui.NewStyles(io.Out, io.ColorEnabled())
	w := io.Out
	for _, h := range r.Deleted {
		fmt.Fprintf(w, "deleted helper pod %s/%s (node %s, %s)\n", h.Namespace, h.Pod, h.Node, h.Phase)
	}
	for _, p := range r.Restored {
		fmt.Fprintf(w, "%s\n", restoredLine(st, now, p))
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(io.ErrOut, "skipped node %s: %s\n", s.Node, s.Reason)
	}
	if len(r.Sweeps) == 0 {
		if len(r.Deleted) == 0 && len(r.Restored) == 0 {
			fmt.Fprintln(io.ErrOut, "nothing to collect (no helper pod found: pass --all-nodes or --node to sweep node journals anyway)")
		}
		return nil
	}
	if len(r.Deleted)+len(r.Restored) > 0 {
		fmt.Fprintln(w)
	}
	return SweepTable(st, r.Sweeps).Render(w)
}

func restoredLine(st *ui.Styles, now time.Time, p session.ChangedPod) string {
	switch {
	case p.Error != "":
		return fmt.Sprintf("%s pod %s/%s: %s", st.Red("could not restore"), p.Namespace, p.Pod, p.Error)
	case p.Restored:
		return fmt.Sprintf("restored pod %s/%s (%s, deadline passed %s ago)", p.Namespace, p.Pod, p.Kind, now.Sub(p.Deadline).Round(time.Second))
	}
	return fmt.Sprintf("pod %s/%s was already restored (%s)", p.Namespace, p.Pod, p.Kind)
}

// SweepTable is the per-node table of what the sweeps removed: one row per removed
// object and per recovered journal, one row for a node with nothing to remove.
func SweepTable(st *ui.Styles, sweeps []session.NodeSweep) *ui.Table {
	t := ui.NewTable(st, "NODE", "EXPERIMENT", "REASON", "REMOVED", "ERROR")
	for _, s := range sweeps {
		if s.Result == nil || len(s.Result.Swept) == 0 {
			what := "nothing to remove"
			if s.Result == nil {
				what = "-"
			}
			t.Row(s.Node, "-", "-", what, errText(st, s.Error))
			continue
		}
		for _, j := range s.Result.Swept {
			for _, ob := range j.Removed {
				t.Row(s.Node, j.Experiment, j.Reason, objectText(ob), "-")
			}
			if j.Omitted > 0 {
				t.Row(s.Node, j.Experiment, j.Reason, fmt.Sprintf("%d more object(s), see the sweep pod's log", j.Omitted), "-")
			}
			t.Row(s.Node, j.Experiment, j.Reason, fmt.Sprintf("journal %s/%s (%d file(s))", plan.DefaultJournalDir, j.Experiment, j.Files), errText(st, j.Error))
		}
		if s.Result.Error != "" || (s.Error != "" && s.Result.OK()) {
			t.Row(s.Node, "-", "-", "-", errText(st, firstOf(s.Result.Error, s.Error)))
		}
	}
	return t
}

func objectText(ob plan.Object) string {
	s := ob.Kind
	if ob.Interface != "" {
		s += " on " + ob.Interface
	}
	return s + ": " + ob.Spec
}

func errText(st *ui.Styles, s string) string {
	if s == "" {
		return "-"
	}
	return st.Red(strings.ReplaceAll(s, "\n", " "))
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// printDryRun says what gc would delete, restore and create, and creates nothing.
func printDryRun(io *ui.IOStreams, r *session.GCReport) error {
	st := ui.NewStyles(io.Out, io.ColorEnabled())
	w := io.Out
	fmt.Fprintf(w, "%s nothing will be deleted, restored or created.\n\n", st.Yellow("Dry run:"))
	fmt.Fprintf(w, "%s\n", st.Bold(fmt.Sprintf("Helper pods to delete (past their deadline + %s, or finished):", session.GCGrace)))
	if len(r.Deleted) == 0 {
		fmt.Fprintln(w, "  (none)")
	} else if err := listing.HelperTable(w, st, r.Deleted); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n", st.Bold("Pods to restore (changed by an API-only fault, past their deadline):"))
	if len(r.Restored) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, p := range r.Restored {
		fmt.Fprintf(w, "  %s/%s on node %s: %s, deadline %s\n", p.Namespace, p.Pod, p.Node, p.Kind, p.Deadline.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "\n%s\n", st.Bold("Sweep pods to create (one per node; each removes what the journals of dead or expired experiments record, reports it, and is deleted):"))
	if len(r.SweepPods) == 0 {
		fmt.Fprintln(w, "  (none: no helper pod found; pass --all-nodes or --node NAME to sweep anyway)")
	}
	for _, p := range r.SweepPods {
		experiment.DescribeHelper(w, experiment.DryRunHelper{Node: p.Spec.NodeName, Pod: p})
		fmt.Fprintf(w, "    runs: %s %s\n", strings.Join(helperpod.SweepCommand, " "), strings.Join(p.Spec.Containers[0].Args, " "))
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "  skipped node %s: %s\n", s.Node, s.Reason)
	}
	return nil
}
