// Package percent is the shared shape of the network verbs that act on a percentage of
// packets (`loss`, `duplicate`, `corrupt`): the same flags and plan, differing
// only in the words and the field of plan.Network they set.
package percent

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

// Verb describes one percentage verb.
type Verb struct {
	Name    string // "loss"
	Short   string
	Long    string // heredoc text
	Example string
	// Backend is the verb's --X-backend flag.
	Backend netflags.Backend
	// Set puts the percentage into the network spec.
	Set func(n *plan.Network, p *plan.Percent)
}

// Options of a percentage verb.
type Options struct {
	Experiment  *experiment.Options
	Net         netflags.Flags
	Percent     float64
	Correlation float64

	verb Verb
}

// NewCmd returns the command for v; runF replaces the run (tests).
func NewCmd(f *factory.Factory, v Verb, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f), verb: v}
	cmd := &cobra.Command{
		Use:               v.Name + " TARGET... --percent P",
		Short:             v.Short,
		Long:              heredoc.Doc(v.Long),
		Example:           cmdutil.Examples(v.Example),
		ValidArgsFunction: complete.TargetArgs(f),
	}
	cmd.RunE = cmdutil.FaultRunE(opts.Experiment, opts.build, func(ctx context.Context) error {
		if runF != nil {
			return runF(opts)
		}
		return experiment.Run(ctx, opts.Experiment)
	})
	experiment.AddFlags(cmd, opts.Experiment)
	netflags.Add(cmd, f, &opts.Net, "", v.Backend)
	fl := cmd.Flags()
	fl.Float64Var(&opts.Percent, "percent", 0, "Percentage of packets, in (0, 100] (required)")
	fl.Float64Var(&opts.Correlation, "correlation", 0, "Correlation with the previous packet, percent 0-100")
	_ = cmd.MarkFlagRequired("percent")
	return cmd
}

// build puts the flags into the spec; network.Validate checks them.
func (o *Options) build() error {
	n := &plan.Network{}
	o.verb.Set(n, &plan.Percent{Percent: o.Percent, Correlation: o.Correlation})
	if err := o.Net.Fill(n, false); err != nil {
		return err
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindNetwork, Action: o.verb.Name, Network: n}
	return nil
}
