// Package noopapi is the hidden `kubectl chaos noop-api`: an API-only fault that sets an
// annotation on each target pod and restores it, to test the engine's API path, stop
// and gc end to end without a helper pod.
package noopapi

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"

	// The kind this verb builds registers itself with the fault catalog.
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noopapi"
)

// Options of noop-api.
type Options struct {
	Experiment *experiment.Options
	Value      string
}

// NewCmdNoopAPI returns the hidden command; runF replaces the run (tests).
func NewCmdNoopAPI(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:               "noop-api TARGET...",
		Short:             "An API-only fault that sets the annotation " + plan.AnnotationNoopAPI + " on each target pod (tests the API path)",
		Hidden:            true,
		ValidArgsFunction: complete.TargetArgs(f),
	}
	cmd.RunE = cmdutil.FaultRunE(opts.Experiment, opts.build, func(ctx context.Context) error {
		if runF != nil {
			return runF(opts)
		}
		return experiment.Run(ctx, opts.Experiment)
	})
	experiment.AddFlags(cmd, opts.Experiment)
	cmd.Flags().StringVar(&opts.Value, "value", "injected", "Value of the annotation while the fault lasts")
	return cmd
}

func (o *Options) build() error {
	o.Experiment.Fault = plan.Fault{Kind: plan.KindNoopAPI, Action: "noop-api", NoopAPI: &plan.NoopAPI{Value: o.Value}}
	return nil
}
