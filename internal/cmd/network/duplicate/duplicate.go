// Package duplicate is `kubectl chaos network duplicate`.
package duplicate

import (
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
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
			Duplicate packets of the target pods at random (netem duplicate).
			Narrow it with --cidr, --port, --protocol and --interface.
		`,
		Example: `
			kubectl chaos network duplicate pod/web-0 --percent 5
		`,
		LossBackend: false,
		Set:         func(n *plan.Network, p *plan.Percent) { n.Duplicate = p },
	}, runF)
}
