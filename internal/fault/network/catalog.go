package network

import (
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func init() {
	catalog.Register(catalog.Kind[*plan.Network]{
		Name:     plan.KindNetwork,
		Validate: Validate,
		Describe: Describe,
		Scope:    "created in each target pod's network namespace",
		Details:  details,
		Complete: resolvePeers,
	})
}

// details shows the peers as resolved, in the dry-run header.
func details(n *plan.Network) []catalog.Detail {
	const when = "addresses as of the fault's start: host names are resolved by the CLI then, pods replaced later are not followed"
	if p := n.Partition; p != nil {
		return []catalog.Detail{{Name: "Peers", Value: strings.Join(p.PeerNames, ", ") + " -> " +
			strings.Join(p.Peers, ", ") + " (direction " + p.Direction + "; " + when + ")"}}
	}
	f := n.Filter
	if len(f.PeerNames) == 0 {
		return nil
	}
	return []catalog.Detail{{Name: "Peers", Value: strings.Join(f.PeerNames, ", ") + " -> " +
		strings.Join(f.CIDRs, ", ") + " (direction " + cliDirection(f.Direction) + "; " + when + ")"}}
}
