// Package corrupt is `kubectl chaos network corrupt`.
package corrupt

import (
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/netflags"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/percent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/spf13/cobra"
)

// Options of network corrupt.
type Options = percent.Options

// NewCmdCorrupt returns the command; runF replaces the run (tests).
func NewCmdCorrupt(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	return percent.NewCmd(f, percent.Verb{
		Name:  "corrupt",
		Short: "Corrupt a percentage of a pod's packets",
		Long: `
			Flip a random bit in packets the target pods send, at random (netem corrupt; on
			nodes without sch_netem the agent flips it in userspace through NFQUEUE, see
			--corrupt-backend). Checksums are left as they are, so the receiver drops most
			corrupted packets. Narrow it with --cidr, --port, --protocol and --interface.
		`,
		Example: `
			kubectl chaos network corrupt -l app=web --percent 1 --protocol tcp
		`,
		Backend: netflags.Corrupt,
		Set:     func(n *plan.Network, p *plan.Percent) { n.Corrupt = p },
	}, runF)
}
