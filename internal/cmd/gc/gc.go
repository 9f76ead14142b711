// Package gc is `kubectl chaos gc`.
package gc

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Options of gc.
type Options struct {
	IO         *ui.IOStreams
	KubeClient func() (kubernetes.Interface, error)
	Now        func() time.Time
	Output     string
}

// NewCmdGC returns the command; runF replaces the run (tests).
func NewCmdGC(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, KubeClient: f.KubeClient, Now: f.Now}
	cmd := &cobra.Command{
		Use:     "gc",
		Short:   "Delete helper pods whose deadline has passed or that have finished",
		Args:    cobra.NoArgs,
		GroupID: cmdutil.GroupExperiments,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ui.ValidateFormat(opts.Output); err != nil {
				return exit.UsageError(err)
			}
			if runF != nil {
				return runF(opts)
			}
			return gcRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "Output format: json or yaml (default human)")
	return cmd
}

func gcRun(ctx context.Context, o *Options) error {
	c, err := o.KubeClient()
	if err != nil {
		return err
	}
	removed, err := session.GC(context.WithoutCancel(ctx), c, o.Now())
	if removed == nil {
		removed = []session.HelperState{}
	}
	if o.Output != ui.FormatHuman {
		if perr := ui.Print(o.IO.Out, o.Output, removed); perr != nil && err == nil {
			err = perr
		}
	} else {
		for _, h := range removed {
			fmt.Fprintf(o.IO.Out, "deleted %s/%s (node %s, %s)\n", h.Namespace, h.Pod, h.Node, h.Phase)
		}
		if len(removed) == 0 && err == nil {
			fmt.Fprintln(o.IO.ErrOut, "nothing to collect")
		}
	}
	return exit.AsAPIError("collecting expired helpers", err)
}
