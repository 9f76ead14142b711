// Package partition is `kubectl chaos network partition`.
package partition

import (
	"context"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/netflags"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of network partition.
type Options struct {
	Experiment *experiment.Options
	Net        netflags.Flags
}

// NewCmdPartition returns the command; runF replaces the run (tests).
func NewCmdPartition(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "partition TARGET... (--to PEER | --cidr CIDR | --port PORT)...",
		Short: "Cut a pod off from its peers",
		Long: heredoc.Doc(`
			Drop the traffic between the target pods and their peers (nftables, in a table the
			tool owns, dropped silently where real loss happens). Peers are given with --to
			(pod/NAME, svc/NAME, deploy/NAME, sts/NAME, ds/NAME, rs/NAME, job/NAME, or a label
			selector like app=db), resolved to pod and service IPs in the target namespace,
			with --external (a host name the CLI resolves when the fault starts, an IP or a
			CIDR) and/or --cidr. --port alone partitions every peer on those ports.
		`),
		Example: cmdutil.Examples(`
			# web cannot reach the database, in both directions
			kubectl chaos network partition deploy/web --to svc/db --direction both

			# nothing reaches the cache pods from 10.0.0.0/8
			kubectl chaos network partition -l app=cache --cidr 10.0.0.0/8 --direction from
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
	netflags.Add(cmd, f, &opts.Net, "Peer CIDR to cut off, IPv4 or IPv6 (repeatable)")
	return cmd
}

// build puts the flags into the spec; network.Validate checks them, and the network
// kind's completion step resolves --to and --external into peer addresses.
func (o *Options) build() error {
	n := &plan.Network{Partition: &plan.Partition{}}
	if err := o.Net.Fill(n, true); err != nil {
		return err
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "partition", Network: n}
	return nil
}
