// Package duplicate is `kubectl chaos network duplicate`.
package duplicate

import (
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/netflags"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/percent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/spf13/cobra"
)

// Options of network duplicate.
type Options = percent.Options

// NewCmdDuplicate returns the command; runF replaces the run (tests).
func NewCmdDuplicate(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	return percent.NewCmd(f, percent.Verb{
		Name:  "duplicate",
		Short: "Duplicate a percentage of a pod's packets",
		Long: `
			Duplicate packets the target pods send, at random (netem duplicate; on nodes
			without sch_netem an nftables rule at the netdev egress hook sends a copy out of
			the interface, see --duplicate-backend). Outgoing packets only.
			Narrow it with --cidr, --port, --protocol and --interface.
		`,
		Example: `
			kubectl chaos network duplicate pod/web-0 --percent 5
		`,
		Backend: netflags.Duplicate,
		Set:     func(n *plan.Network, p *plan.Percent) { n.Duplicate = p },
	}, runF)
}
