// Package reorder is `kubectl chaos network reorder`.
package reorder

import (
	"context"
	"fmt"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/netflags"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of network reorder.
type Options struct {
	Experiment  *experiment.Options
	Net         netflags.Flags
	Percent     float64
	Correlation float64
	Gap         uint32
	Latency     time.Duration
}

// NewCmdReorder returns the command; runF replaces the run (tests).
func NewCmdReorder(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "reorder TARGET... --percent P --latency DURATION",
		Short: "Reorder a pod's packets",
		Long: heredoc.Doc(`
			Reorder packets of the target pods (netem reorder): --percent of the packets (every
			--gap-th one, if given) are sent at once while the others wait --latency. On nodes
			without sch_netem the userspace NFQUEUE delay does both (see --reorder-backend).
			Narrow it with --cidr, --port, --protocol and --interface.
		`),
		Example: cmdutil.Examples(`
			kubectl chaos network reorder deploy/web --percent 25 --gap 5 --latency 10ms
		`),
		ValidArgsFunction: complete.TargetArgs(f),
	}
	cmd.RunE = cmdutil.FaultRunE(opts.Experiment, opts.build, func(ctx context.Context) error {
		if runF != nil {
			return runF(opts)
		}
		return experiment.Run(ctx, opts.Experiment)
	})
	experiment.AddFlags(cmd, opts.Experiment)
	netflags.Add(cmd, f, &opts.Net, "", netflags.Delay, netflags.Reorder)
	fl := cmd.Flags()
	fl.Float64Var(&opts.Percent, "percent", 0, "Percentage of packets sent out of order, in (0, 100] (required)")
	fl.Float64Var(&opts.Correlation, "correlation", 0, "Correlation with the previous packet, percent 0-100")
	fl.Uint32Var(&opts.Gap, "gap", 0, fmt.Sprintf("Reorder every gap-th packet, 0-%d (0: at random)", network.MaxGap))
	fl.DurationVar(&opts.Latency, "latency", 10*time.Millisecond, "Delay of the packets that are not reordered (netem needs one), at most "+network.MaxLatencyText)
	_ = cmd.MarkFlagRequired("percent")
	return cmd
}

// build puts the flags into the spec; network.Validate checks them.
func (o *Options) build() error {
	n := &plan.Network{
		Delay:   &plan.Delay{Latency: plan.Duration(o.Latency)},
		Reorder: &plan.Reorder{Percent: o.Percent, Correlation: o.Correlation, Gap: o.Gap},
	}
	if err := o.Net.Fill(n, false); err != nil {
		return err
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "reorder", Network: n}
	return nil
}
