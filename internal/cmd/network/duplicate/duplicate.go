// Package duplicate is `kubectl chaos network duplicate`.
package duplicate

import (
	"context"

	"github.com/MakeNowJust/heredoc"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/spf13/cobra"
)

// Options of network duplicate.
type Options struct {
	Experiment  *experiment.Options
	Net         experiment.NetworkFlags
	Percent     float64
	Correlation float64
}

// NewCmdDuplicate returns the command; runF replaces the run (tests).
func NewCmdDuplicate(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "duplicate TARGET... --percent P",
		Short: "Duplicate a percentage of a pod's packets",
		Long: heredoc.Doc(`
			Duplicate packets of the target pods at random (netem duplicate).
			Narrow it with --cidr, --port, --protocol and --interface.
		`),
		Example: cmdutil.Examples(`
			kubectl chaos network duplicate pod/web-0 --percent 5
		`),
		ValidArgsFunction: cmdutil.TargetArgs(f),
	}
	cmd.RunE = cmdutil.FaultRunE(opts.Experiment, opts.build, func(ctx context.Context) error {
		if runF != nil {
			return runF(opts)
		}
		return experiment.Run(ctx, opts.Experiment)
	})
	experiment.AddFlags(cmd, opts.Experiment)
	experiment.AddNetworkFlags(cmd, &opts.Net, "", false, false)
	fl := cmd.Flags()
	fl.Float64Var(&opts.Percent, "percent", 0, "Percentage of packets, in (0, 100] (required)")
	fl.Float64Var(&opts.Correlation, "correlation", 0, "Correlation with the previous packet, percent 0-100")
	_ = cmd.MarkFlagRequired("percent")
	return cmd
}

func (o *Options) build() error {
	if err := experiment.CheckPercent("--percent", o.Percent); err != nil {
		return err
	}
	if err := experiment.CheckCorrelation("--correlation", o.Correlation); err != nil {
		return err
	}
	n := &plan.Network{Duplicate: &plan.Percent{Percent: o.Percent, Correlation: o.Correlation}}
	if err := o.Net.Apply(n, false); err != nil {
		return err
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "duplicate", Network: n}
	return nil
}
