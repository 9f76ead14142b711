// Package corrupt is `kubectl chaos network corrupt`.
package corrupt

import (
	"context"

	"github.com/MakeNowJust/heredoc"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/spf13/cobra"
)

// Options of network corrupt.
type Options struct {
	Experiment  *experiment.Options
	Net         experiment.NetworkFlags
	Percent     float64
	Correlation float64
}

// NewCmdCorrupt returns the command; runF replaces the run (tests).
func NewCmdCorrupt(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "corrupt TARGET... --percent P",
		Short: "Corrupt a percentage of a pod's packets",
		Long: heredoc.Doc(`
			Flip a random bit in packets of the target pods at random (netem corrupt).
			Narrow it with --cidr, --port, --protocol and --interface.
		`),
		Example: cmdutil.Examples(`
			kubectl chaos network corrupt -l app=web --percent 1 --protocol tcp
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
	n := &plan.Network{Corrupt: &plan.Percent{Percent: o.Percent, Correlation: o.Correlation}}
	if err := o.Net.Apply(n, false); err != nil {
		return err
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "corrupt", Network: n}
	return nil
}
