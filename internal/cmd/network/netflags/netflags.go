// Package netflags is what the network verbs share: the traffic filter and backend
// flags, and tc's rate and size units. The verbs only parse their flags into the spec;
// every range is checked by the network kind's Validate (internal/fault/network), which
// the engine runs before anything is created and the agent runs again.
package netflags

import (
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Flags are the traffic filters and backend choices shared by every network verb.
type Flags struct {
	Interfaces   []string
	CIDRs        []string
	Ports        []uint
	Protocol     string
	DelayBackend string
	LossBackend  string
}

// Add registers the filters (and the backend flags the verb uses). cidrHelp lets
// partition say that its --cidr names peers.
func Add(cmd *cobra.Command, n *Flags, cidrHelp string, delayBackend, lossBackend bool) {
	fl := cmd.Flags()
	fl.StringSliceVar(&n.Interfaces, "interface", nil, "Interface inside the target pod to act on (repeatable; default: all but lo)")
	if cidrHelp == "" {
		cidrHelp = "Only traffic to/from this remote CIDR, IPv4 or IPv6 (repeatable)"
	}
	fl.StringSliceVar(&n.CIDRs, "cidr", nil, cidrHelp)
	fl.UintSliceVar(&n.Ports, "port", nil, "Only traffic with this local or remote port, 1-65535 (repeatable)")
	fl.StringVar(&n.Protocol, "protocol", "", "Only this protocol: tcp, udp or icmp (default all)")
	_ = cmd.RegisterFlagCompletionFunc("protocol", cobra.FixedCompletions([]string{"tcp", "udp", "icmp"}, cobra.ShellCompDirectiveNoFileComp))
	if delayBackend {
		fl.StringVar(&n.DelayBackend, "delay-backend", network.BackendAuto, "How delay is done: auto (netem if the node has it, else nfqueue), netem or nfqueue")
		_ = cmd.RegisterFlagCompletionFunc("delay-backend", cobra.FixedCompletions([]string{network.BackendAuto, network.BackendNetem, network.BackendNFQueue}, cobra.ShellCompDirectiveNoFileComp))
	}
	if lossBackend {
		fl.StringVar(&n.LossBackend, "loss-backend", network.BackendAuto, "How loss is done: auto (netem if the node has it, else nftables), netem or nft")
		_ = cmd.RegisterFlagCompletionFunc("loss-backend", cobra.FixedCompletions([]string{network.BackendAuto, network.BackendNetem, network.BackendNFT}, cobra.ShellCompDirectiveNoFileComp))
	}
}

// Fill puts the filters and backends into n. CIDRs go to the filter, or are partition
// peers when cidrsArePeers. A CIDR is written masked (10.1.2.3/8 → 10.0.0.0/8); one that
// does not parse is kept as given, for Validate to refuse with the accepted form. The
// only check here is for --port values the spec's 16 bits cannot hold.
func (f *Flags) Fill(n *plan.Network, cidrsArePeers bool) error {
	var cidrs []string
	for _, c := range f.CIDRs {
		if p, err := netip.ParsePrefix(c); err == nil {
			c = p.Masked().String()
		}
		cidrs = append(cidrs, c)
	}
	var ports []uint16
	for _, p := range f.Ports {
		if p > network.MaxPort {
			return network.CheckPort(uint64(p))
		}
		ports = append(ports, uint16(p))
	}
	n.Filter.Interfaces = append([]string(nil), f.Interfaces...)
	n.Filter.Ports = ports
	n.Filter.Protocol = f.Protocol
	if cidrsArePeers {
		if n.Partition == nil {
			n.Partition = &plan.Partition{}
		}
		n.Partition.Peers = append(n.Partition.Peers, cidrs...)
		n.Partition.PeerNames = append(n.Partition.PeerNames, cidrs...)
	} else {
		n.Filter.CIDRs = cidrs
	}
	if f.DelayBackend != network.BackendAuto {
		n.DelayBackend = f.DelayBackend
	}
	if f.LossBackend != network.BackendAuto {
		n.LossBackend = f.LossBackend
	}
	return nil
}
