// Package delay is `kubectl chaos network delay`.
package delay

import (
	"context"
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

// Options of network delay.
type Options struct {
	Experiment  *experiment.Options
	Net         netflags.Flags
	Latency     time.Duration
	Jitter      time.Duration
	Correlation float64
}

// NewCmdDelay returns the command; runF replaces the run (tests).
func NewCmdDelay(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "delay TARGET... --latency DURATION",
		Short: "Add latency (and jitter) to a pod's traffic",
		Long: heredoc.Doc(`
			Delay the packets of the target pods (netem delay; on nodes without sch_netem an
			NFQUEUE-based delay, see --delay-backend). Egress traffic of the pod's interfaces
			is delayed; narrow it to peers with --to (pods, services, workloads, selectors) and
			--external (hosts, IPs, CIDRs), or with --cidr, --port, --protocol and --interface.
		`),
		Example: cmdutil.Examples(`
			# 100ms more latency for every pod of deploy/web for 2 minutes
			kubectl chaos network delay deploy/web --latency 100ms --duration 2m

			# 200ms between two services: web's traffic to the pods of svc/db
			kubectl chaos network delay deploy/web --to svc/db --latency 200ms

			# 50ms ± 10ms, only towards the database port, show the plan first
			kubectl chaos network delay -l app=api --latency 50ms --jitter 10ms --port 5432 --dry-run
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
	netflags.Add(cmd, f, &opts.Net, "", netflags.Delay)
	fl := cmd.Flags()
	fl.DurationVar(&opts.Latency, "latency", 0, "Added latency, e.g. 100ms (required, at most "+network.MaxLatencyText+")")
	fl.DurationVar(&opts.Jitter, "jitter", 0, "Random variation of the latency, e.g. 10ms (at most --latency)")
	fl.Float64Var(&opts.Correlation, "correlation", 0, "Correlation of the jitter with the previous packet, percent 0-100")
	_ = cmd.MarkFlagRequired("latency")
	return cmd
}

// build puts the flags into the spec; network.Validate checks them.
func (o *Options) build() error {
	n := &plan.Network{Delay: &plan.Delay{
		Latency:     plan.Duration(o.Latency),
		Jitter:      plan.Duration(o.Jitter),
		Correlation: o.Correlation,
	}}
	if err := o.Net.Fill(n, false); err != nil {
		return err
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "delay", Network: n}
	return nil
}
