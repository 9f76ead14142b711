package network

import (
	"context"
	"strings"

	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/target"
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

// resolvePeers turns partition --to peers into CIDRs: they are looked up in the
// targets' namespace, so the plan the agents receive carries addresses only.
func resolvePeers(ctx context.Context, c kubernetes.Interface, namespace string, n *plan.Network) error {
	p := n.Partition
	if p == nil || len(p.To) == 0 {
		return nil
	}
	cidrs, names, err := target.Peers(ctx, c, namespace, p.To)
	if err != nil {
		return exit.AsAPIError("resolving --to peers", err)
	}
	to := p.To
	p.Peers = append(p.Peers, cidrs...)
	p.PeerNames = append(p.PeerNames, names...)
	p.To = nil
	if len(p.Peers) == 0 {
		return exit.Usagef("--to %s: the peers have no IP address yet (no running pods, or a headless service without endpoints)", strings.Join(to, ","))
	}
	return nil
}

// details shows a partition's peers as resolved, in the dry-run header.
func details(n *plan.Network) []catalog.Detail {
	p := n.Partition
	if p == nil {
		return nil
	}
	return []catalog.Detail{{Name: "Peers", Value: strings.Join(p.PeerNames, ", ") + " -> " +
		strings.Join(p.Peers, ", ") + " (direction " + p.Direction + ")"}}
}
