// Package stop is `kubectl chaos stop ID...|--all`.
package stop

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/podevents"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Options of stop.
type Options struct {
	IO          *ui.IOStreams
	KubeClient  func() (kubernetes.Interface, error)
	EventClient func() (kubernetes.Interface, error)
	IDs         []string
	All         bool
	Timeout     time.Duration
	Output      string
	Events      bool
}

// NewCmdStop returns the command; runF replaces the run (tests).
func NewCmdStop(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, KubeClient: f.KubeClient, EventClient: f.EventClient}
	cmd := &cobra.Command{
		Use:               "stop ID... | --all",
		Short:             "Stop experiments: their agents recover, the helper pods are deleted, changed pods are restored",
		GroupID:           cmdutil.GroupExperiments,
		ValidArgsFunction: complete.ExperimentIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IDs = args
			if len(args) == 0 && !opts.All {
				return exit.Usagef("stop: give experiment IDs (see `kubectl chaos ls`) or --all")
			}
			if len(args) > 0 && opts.All {
				return exit.Usagef("stop: give experiment IDs or --all, not both")
			}
			if opts.Timeout <= 0 || opts.Timeout > 10*time.Minute {
				return exit.Usagef("--timeout must be in (0, 10m], got %s", opts.Timeout)
			}
			if err := ui.ValidateFormat(opts.Output); err != nil {
				return exit.UsageError(err)
			}
			if runF != nil {
				return runF(opts)
			}
			return stopRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "Stop every experiment found in the cluster")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 20*time.Second, "How long to wait for the agents' results")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "Output format: json or yaml (default human)")
	cmd.Flags().BoolVar(&opts.Events, "events", true, "Write the Kubernetes Events of the stopped helpers' results whose CLI could not (it ran detached, or died): injected, recovered, failed")
	return cmd
}

func stopRun(ctx context.Context, o *Options) error {
	c, err := o.KubeClient()
	if err != nil {
		return err
	}
	// Stopping is cleanup: Ctrl-C must not cut it short.
	exps, err := session.Stop(context.WithoutCancel(ctx), c, o.IDs, o.All, o.Timeout)
	if exps == nil {
		exps = []session.Experiment{}
	}
	if o.Events {
		defer podevents.WriteLate(ctx, o.IO.ErrOut, o.EventClient, c, podevents.FromExperiments(exps))
	}
	if o.Output != ui.FormatHuman {
		if perr := ui.Print(o.IO.Out, o.Output, exps); perr != nil && err == nil {
			err = perr
		}
	} else {
		st := ui.NewStyles(o.IO.Out, o.IO.ColorEnabled())
		for _, e := range exps {
			fmt.Fprintf(o.IO.Out, "stopped %s (%d helper(s)%s)\n", e.ID, len(e.Helpers), restoredText(e.Pods))
			for _, p := range e.Pods {
				if p.Error != "" {
					fmt.Fprintf(o.IO.Out, "  %s pod %s/%s: %s\n", st.Red("could not restore"), p.Namespace, p.Pod, p.Error)
				}
			}
		}
		if len(exps) == 0 && err == nil {
			fmt.Fprintln(o.IO.ErrOut, "no experiments to stop")
		}
	}
	return exit.AsAPIError("stopping experiments", err)
}

// restoredText is ", N pod(s) restored" (and how many were restored already, or could
// not be) for the pods an API-only fault had changed.
func restoredText(ps []session.ChangedPod) string {
	if len(ps) == 0 {
		return ""
	}
	var restored, already, failed int
	for _, p := range ps {
		switch {
		case p.Error != "":
			failed++
		case p.Restored:
			restored++
		default:
			already++
		}
	}
	s := fmt.Sprintf(", %d pod(s) restored", restored)
	if already > 0 {
		s += fmt.Sprintf(", %d already restored", already)
	}
	if failed > 0 {
		s += fmt.Sprintf(", %d could not be restored", failed)
	}
	return s
}
