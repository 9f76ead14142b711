// Package loss is `kubectl chaos network loss`.
package loss

import (
	"context"

	"github.com/MakeNowJust/heredoc"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/spf13/cobra"
)

// Options of network loss.
type Options struct {
	Experiment  *experiment.Options
	Net         experiment.NetworkFlags
	Percent     float64
	Correlation float64
}

// NewCmdLoss returns the command; runF replaces the run (tests).
func NewCmdLoss(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "loss TARGET... --percent P",
		Short: "Drop a percentage of a pod's packets",
		Long: heredoc.Doc(`
			Drop packets of the target pods at random (netem loss; on nodes without sch_netem an
			nftables numgen rule that drops silently, see --loss-backend).
			Narrow it with --cidr, --port, --protocol and --interface.
		`),
		Example: cmdutil.Examples(`
			kubectl chaos network loss deploy/web --percent 20 --duration 1m
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
	experiment.AddNetworkFlags(cmd, &opts.Net, "", false, true)
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
	n := &plan.Network{Loss: &plan.Percent{Percent: o.Percent, Correlation: o.Correlation}}
	if err := o.Net.Apply(n, false); err != nil {
		return err
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "loss", Network: n}
	return nil
}
