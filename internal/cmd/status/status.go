// Package status is `kubectl chaos status ID`.
package status

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/listing"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Options of status.
type Options struct {
	IO         *ui.IOStreams
	KubeClient func() (kubernetes.Interface, error)
	Now        func() time.Time
	ID         string
	Output     string
}

// NewCmdStatus returns the command; runF replaces the run (tests).
func NewCmdStatus(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, KubeClient: f.KubeClient, Now: f.Now}
	cmd := &cobra.Command{
		Use:               "status ID",
		Short:             "Show an experiment: its helpers, their phase and results, and the pods it changed",
		Args:              cobra.ExactArgs(1),
		GroupID:           cmdutil.GroupExperiments,
		ValidArgsFunction: complete.ExperimentIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if err := ui.ValidateFormat(opts.Output); err != nil {
				return exit.UsageError(err)
			}
			if runF != nil {
				return runF(opts)
			}
			return statusRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "Output format: json or yaml (default human)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func statusRun(ctx context.Context, o *Options) error {
	c, err := o.KubeClient()
	if err != nil {
		return err
	}
	e, err := session.Get(ctx, c, o.ID)
	if err != nil {
		return exit.AsAPIError("getting experiment "+o.ID, err)
	}
	session.Assess(e, o.Now())
	if o.Output != ui.FormatHuman {
		return ui.Print(o.IO.Out, o.Output, e)
	}
	st := ui.NewStyles(o.IO.Out, o.IO.ColorEnabled())
	w := o.IO.Out
	fmt.Fprintf(w, "%s %s\n", st.Bold("Experiment:"), e.ID)
	fmt.Fprintf(w, "%s      %s\n", st.Bold("Owner:"), e.Owner)
	fmt.Fprintf(w, "%s      %s\n", st.Bold("Fault:"), e.Fault)
	fmt.Fprintf(w, "%s   %v\n", st.Bold("Detached:"), e.Detached)
	state := e.State
	if e.How != "" {
		state += ": " + e.How
	}
	fmt.Fprintf(w, "%s      %s\n", st.Bold("State:"), state)
	if !e.Deadline.IsZero() {
		fmt.Fprintf(w, "%s   %s (%s left)\n", st.Bold("Deadline:"), e.Deadline.Format(time.RFC3339), listing.Remaining(o.Now(), e.Deadline))
	}
	fmt.Fprintln(w)
	if len(e.Helpers) > 0 || len(e.Pods) == 0 {
		if err := listing.HelperTable(w, st, e.Helpers); err != nil {
			return err
		}
	}
	if len(e.Pods) > 0 {
		if len(e.Helpers) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n", st.Bold("Pods changed through the API (kubectl chaos stop "+e.ID+" restores them):"))
		return listing.ChangedPodTable(w, st, o.Now(), e.Pods)
	}
	return nil
}
