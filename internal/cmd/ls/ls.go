// Package ls is `kubectl chaos ls`.
package ls

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/listing"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/podevents"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Options of ls.
type Options struct {
	IO          *ui.IOStreams
	KubeClient  func() (kubernetes.Interface, error)
	EventClient func() (kubernetes.Interface, error)
	Now         func() time.Time
	Output      string
	Events      bool
}

// NewCmdLs returns the command; runF replaces the run (tests).
func NewCmdLs(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, KubeClient: f.KubeClient, EventClient: f.EventClient, Now: f.Now}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List experiments and where each stands: active, ended and how, or needs gc (by their label on helper pods and changed pods, in all namespaces)",
		Args:    cobra.NoArgs,
		GroupID: cmdutil.GroupExperiments,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ui.ValidateFormat(opts.Output); err != nil {
				return exit.UsageError(err)
			}
			if runF != nil {
				return runF(opts)
			}
			return lsRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "Output format: json or yaml (default human)")
	cmd.Flags().BoolVar(&opts.Events, "events", true, podevents.LateFlagUsage)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func lsRun(ctx context.Context, o *Options) error {
	c, err := o.KubeClient()
	if err != nil {
		return err
	}
	exps, err := session.List(ctx, c)
	if err != nil {
		return exit.AsAPIError("listing experiments", err)
	}
	if exps == nil {
		exps = []session.Experiment{}
	}
	now := o.Now()
	for i := range exps {
		session.Assess(&exps[i], now)
	}
	if o.Events {
		defer podevents.WriteLate(ctx, o.IO.ErrOut, o.EventClient, c, podevents.FromExperiments(exps))
	}
	if o.Output != ui.FormatHuman {
		return ui.Print(o.IO.Out, o.Output, exps)
	}
	if len(exps) == 0 {
		fmt.Fprintln(o.IO.ErrOut, "no experiments found")
		return nil
	}
	return listing.ExperimentTable(o.IO.Out, ui.NewStyles(o.IO.Out, o.IO.ColorEnabled()), now, exps)
}
