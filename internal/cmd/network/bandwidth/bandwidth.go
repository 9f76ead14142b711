// Package bandwidth is `kubectl chaos network bandwidth`.
package bandwidth

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

// Options of network bandwidth.
type Options struct {
	Experiment *experiment.Options
	Net        netflags.Flags
	Rate       string
	Limit      string
	Buffer     string
}

// NewCmdBandwidth returns the command; runF replaces the run (tests).
func NewCmdBandwidth(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "bandwidth TARGET... --rate RATE",
		Short: "Limit a pod's bandwidth",
		Long: heredoc.Doc(`
			Limit the egress rate of the target pods with a token bucket (tc tbf). Rates and
			sizes are written as for tc: 1mbit, 500kbit, 1gbit (bits/s), 1mbps (bytes/s);
			sizes 1500, 32kb, 1mb.
		`),
		Example: cmdutil.Examples(`
			kubectl chaos network bandwidth deploy/web --rate 1mbit
			kubectl chaos network bandwidth pod/web-0 --rate 10mbit --limit 64kb --buffer 16kb
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
	netflags.Add(cmd, f, &opts.Net, "")
	fl := cmd.Flags()
	fl.StringVar(&opts.Rate, "rate", "", "Rate limit, 8bit to 100gbit, e.g. 1mbit, 500kbit, 1gbit, 1mbps (required)")
	fl.StringVar(&opts.Limit, "limit", "", "Queue size in bytes, e.g. 64kb (default: derived from the rate)")
	fl.StringVar(&opts.Buffer, "buffer", "", "Bucket size in bytes, e.g. 16kb (default: derived from the rate)")
	_ = cmd.MarkFlagRequired("rate")
	return cmd
}

// build parses the flags into the spec; network.Validate checks them.
func (o *Options) build() error {
	rate, err := netflags.ParseRate("--rate", o.Rate)
	if err != nil {
		return err
	}
	limit, err := netflags.ParseSize("--limit", o.Limit)
	if err != nil {
		return err
	}
	buffer, err := netflags.ParseSize("--buffer", o.Buffer)
	if err != nil {
		return err
	}
	n := &plan.Network{Bandwidth: &plan.Bandwidth{Rate: rate, Limit: limit, Buffer: buffer}}
	if err := o.Net.Fill(n, false); err != nil {
		return err
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "bandwidth", Network: n}
	return nil
}
