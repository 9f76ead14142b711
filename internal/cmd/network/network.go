// Package network is the `kubectl chaos network` command group.
package network

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/bandwidth"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/corrupt"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/delay"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/dns"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/duplicate"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/loss"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/partition"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network/reorder"

	// The kind these verbs build registers itself with the fault catalog.
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/network"
)

// NewCmdNetwork returns the network group with its verbs.
func NewCmdNetwork(f *factory.Factory) *cobra.Command {
	return cmdutil.FaultGroup("network", "Network faults: delay, loss, duplicate, corrupt, reorder, bandwidth, partition, dns",
		delay.NewCmdDelay(f, nil),
		loss.NewCmdLoss(f, nil),
		duplicate.NewCmdDuplicate(f, nil),
		corrupt.NewCmdCorrupt(f, nil),
		reorder.NewCmdReorder(f, nil),
		bandwidth.NewCmdBandwidth(f, nil),
		partition.NewCmdPartition(f, nil),
		dns.NewCmdDNS(f, nil),
	)
}
