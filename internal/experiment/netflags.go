package experiment

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// NetworkFlags are the traffic filters and backend choices shared by every network verb.
type NetworkFlags struct {
	Interfaces   []string
	CIDRs        []string
	Ports        []uint
	Protocol     string
	DelayBackend string
	LossBackend  string
}

// AddNetworkFlags registers the filters (and the backend flags the verb uses).
// cidrHelp lets partition say that its --cidr names peers.
func AddNetworkFlags(cmd *cobra.Command, n *NetworkFlags, cidrHelp string, delayBackend, lossBackend bool) {
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
		fl.StringVar(&n.DelayBackend, "delay-backend", "auto", "How delay is done: auto (netem if the node has it, else nfqueue), netem or nfqueue")
		_ = cmd.RegisterFlagCompletionFunc("delay-backend", cobra.FixedCompletions([]string{"auto", "netem", "nfqueue"}, cobra.ShellCompDirectiveNoFileComp))
	}
	if lossBackend {
		fl.StringVar(&n.LossBackend, "loss-backend", "auto", "How loss is done: auto (netem if the node has it, else nftables), netem or nft")
		_ = cmd.RegisterFlagCompletionFunc("loss-backend", cobra.FixedCompletions([]string{"auto", "netem", "nft"}, cobra.ShellCompDirectiveNoFileComp))
	}
}

// Apply validates the flags and fills the filter and backends of n. CIDRs go to the
// filter unless peers is set (partition), where they are peers.
func (f *NetworkFlags) Apply(n *plan.Network, cidrsArePeers bool) error {
	for _, i := range f.Interfaces {
		if i == "" || len(i) > 15 || strings.ContainsAny(i, "/ \t") {
			return fmt.Errorf("--interface must be an interface name (1-15 characters, no '/' or spaces), got %q", i)
		}
	}
	var cidrs []string
	for _, c := range f.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return fmt.Errorf("--cidr must be an IPv4 or IPv6 CIDR with a mask like 10.0.0.0/8 or fd00::/64, got %q", c)
		}
		cidrs = append(cidrs, p.Masked().String())
	}
	var ports []uint16
	for _, p := range f.Ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("--port must be between 1 and 65535, got %d", p)
		}
		ports = append(ports, uint16(p))
	}
	switch f.Protocol {
	case "", "tcp", "udp", "icmp":
	default:
		return fmt.Errorf("--protocol must be tcp, udp or icmp, got %q", f.Protocol)
	}
	if len(ports) > 0 && f.Protocol == "icmp" {
		return fmt.Errorf("--port cannot be used with --protocol icmp (ICMP has no ports)")
	}
	switch f.DelayBackend {
	case "", "auto", "netem", "nfqueue":
	default:
		return fmt.Errorf("--delay-backend must be auto, netem or nfqueue, got %q", f.DelayBackend)
	}
	switch f.LossBackend {
	case "", "auto", "netem", "nft":
	default:
		return fmt.Errorf("--loss-backend must be auto, netem or nft, got %q", f.LossBackend)
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
	if f.DelayBackend != "auto" {
		n.DelayBackend = f.DelayBackend
	}
	if f.LossBackend != "auto" {
		n.LossBackend = f.LossBackend
	}
	return nil
}

// CheckPercent checks a percentage flag: (0, 100].
func CheckPercent(flag string, v float64) error {
	if !(v > 0 && v <= 100) {
		return fmt.Errorf("%s must be in (0, 100], got %g", flag, v)
	}
	return nil
}

// CheckCorrelation checks a correlation flag: [0, 100].
func CheckCorrelation(flag string, v float64) error {
	if !(v >= 0 && v <= 100) {
		return fmt.Errorf("%s must be in [0, 100], got %g", flag, v)
	}
	return nil
}
