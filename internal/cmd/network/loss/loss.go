// Package loss is `kubectl chaos network loss`.
package loss

import (
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/netflags"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/percent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/spf13/cobra"
)

// Options of network loss.
type Options = percent.Options

// NewCmdLoss returns the command; runF replaces the run (tests).
func NewCmdLoss(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	return percent.NewCmd(f, percent.Verb{
		Name:  "loss",
		Short: "Drop a percentage of a pod's packets",
		Long: `
			Drop packets of the target pods at random (netem loss; on nodes without sch_netem an
			nftables numgen rule that drops silently, see --loss-backend).
			Narrow it to peers with --to and --external (--direction to, from or both), or with
			--cidr, --port, --protocol and --interface.
		`,
		Example: `
			kubectl chaos network loss deploy/web --percent 20 --duration 1m
		`,
		Backend: netflags.Loss,
		Set:     func(n *plan.Network, p *plan.Percent) { n.Loss = p },
	}, runF)
}
