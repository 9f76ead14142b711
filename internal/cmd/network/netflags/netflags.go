// Package netflags is what the network verbs share: the traffic filter and backend
// flags, and tc's rate and size units. The verbs only parse their flags into the spec;
// every range is checked by the network kind's Validate (internal/fault/network), which
// the engine runs before anything is created and the agent runs again.
package netflags

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Flags are the traffic filters and backend choices shared by every network verb.
type Flags struct {
	Interfaces       []string
	CIDRs            []string
	Ports            []uint
	Protocol         string
	DelayBackend     string
	LossBackend      string
	DuplicateBackend string
	CorruptBackend   string
	ReorderBackend   string
	// To, External and Direction name the peers: every verb has them, as Chaos Mesh's
	// target, externalTargets and direction.
	To        []string
	External  []string
	Direction string
}

// Backend names one --X-backend flag a verb has.
type Backend int

// The backend flags.
const (
	Delay Backend = iota
	Loss
	Duplicate
	Corrupt
	Reorder
)

// backendFlag is one --X-backend flag: its name, help and choices.
type backendFlag struct {
	name, help string
	choices    []string
	field      func(*Flags) *string
}

var backendFlags = map[Backend]backendFlag{
	Delay: {"delay-backend", "How delay is done: auto (netem if the node has it, else nfqueue), netem or nfqueue",
		[]string{network.BackendAuto, network.BackendNetem, network.BackendNFQueue}, func(f *Flags) *string { return &f.DelayBackend }},
	Loss: {"loss-backend", "How loss is done: auto (netem if the node has it, else nftables), netem or nft",
		[]string{network.BackendAuto, network.BackendNetem, network.BackendNFT}, func(f *Flags) *string { return &f.LossBackend }},
	Duplicate: {"duplicate-backend", "How duplicate is done: auto (netem if the node has it, else nftables dup at the netdev egress hook), netem or nft",
		[]string{network.BackendAuto, network.BackendNetem, network.BackendNFT}, func(f *Flags) *string { return &f.DuplicateBackend }},
	Corrupt: {"corrupt-backend", "How corrupt is done: auto (netem if the node has it, else a bit flipped in userspace through NFQUEUE), netem or nfqueue",
		[]string{network.BackendAuto, network.BackendNetem, network.BackendNFQueue}, func(f *Flags) *string { return &f.CorruptBackend }},
	Reorder: {"reorder-backend", "How reorder (and its delay) is done: auto (netem if the node has it, else nfqueue), netem or nfqueue",
		[]string{network.BackendAuto, network.BackendNetem, network.BackendNFQueue}, func(f *Flags) *string { return &f.ReorderBackend }},
}

// Add registers the filters, the peers and the backend flags the verb uses. cidrHelp
// lets partition say that its --cidr names peers; partition's --direction defaults to
// both, the other verbs' to to (egress).
func Add(cmd *cobra.Command, f *factory.Factory, n *Flags, cidrHelp string, backends ...Backend) {
	fl := cmd.Flags()
	fl.StringSliceVar(&n.Interfaces, "interface", nil, "Interface inside the target pod to act on, a name of 1-15 characters (repeatable; default: all but lo)")
	partition := cidrHelp != ""
	if !partition {
		cidrHelp = "Only traffic to/from this remote CIDR, IPv4 or IPv6 (repeatable)"
	}
	fl.StringSliceVar(&n.CIDRs, "cidr", nil, cidrHelp)
	refuseEmpty(cmd, "interface", "cidr")
	fl.UintSliceVar(&n.Ports, "port", nil, "Only traffic with this local or remote port, 1-65535 (repeatable)")
	fl.StringVar(&n.Protocol, "protocol", "", "Only this protocol: tcp, udp or icmp (default all)")
	_ = cmd.RegisterFlagCompletionFunc("protocol", cobra.FixedCompletions([]string{"tcp", "udp", "icmp"}, cobra.ShellCompDirectiveNoFileComp))
	addPeers(cmd, f, n, partition)
	for _, b := range backends {
		bf := backendFlags[b]
		fl.StringVar(bf.field(n), bf.name, network.BackendAuto, bf.help)
		_ = cmd.RegisterFlagCompletionFunc(bf.name, cobra.FixedCompletions(bf.choices, cobra.ShellCompDirectiveNoFileComp))
	}
}

// addPeers registers --to, --external and --direction.
func addPeers(cmd *cobra.Command, f *factory.Factory, n *Flags, partition bool) {
	fl := cmd.Flags()
	toHelp := "Only traffic to/from this peer: pod/NAME, svc/NAME, deploy/NAME… or a label selector k=v, resolved to pod and service IPs in the target namespace when the fault starts (repeatable)"
	dirDefault, dirHelp := "to", "Which traffic: to (target -> peers); from (peers -> target) and both for loss only, the other faults act on egress"
	if partition {
		toHelp = "Peer to cut off: pod/NAME, svc/NAME, deploy/NAME… or a label selector k=v (repeatable)"
		dirDefault, dirHelp = "both", "Which traffic is dropped: to (target -> peers), from (peers -> target) or both"
	}
	fl.StringArrayVar(&n.To, "to", nil, toHelp)
	fl.StringArrayVar(&n.External, "external", nil, "Peer outside the cluster: a host name (resolved by the CLI when the fault starts), an IPv4/IPv6 address or a CIDR, no port (repeatable)")
	fl.StringVar(&n.Direction, "direction", dirDefault, dirHelp)
	_ = cmd.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions([]string{"to", "from", "both"}, cobra.ShellCompDirectiveNoFileComp))
	if f != nil {
		_ = cmd.RegisterFlagCompletionFunc("to", complete.TargetArgs(f))
	}
}

// refuseEmpty makes the named list flags refuse an empty value: pflag reads
// `--interface ""` (an unset shell variable) as "no value", which would widen the fault
// to every interface or every address instead of narrowing it.
func refuseEmpty(cmd *cobra.Command, names ...string) {
	for _, name := range names {
		fl := cmd.Flags().Lookup(name)
		fl.Value = nonEmpty{fl.Value}
	}
}

type nonEmpty struct{ pflag.Value }

func (v nonEmpty) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			return errors.New("an empty value is not allowed (leave the flag out to mean all)")
		}
	}
	return v.Value.Set(s)
}

// Fill puts the filters, the peers and the backends into n. CIDRs go to the filter, or
// are partition peers when cidrsArePeers (as --to is then). A CIDR is written masked
// (10.1.2.3/8 → 10.0.0.0/8); one that does not parse is kept as given, for Validate to
// refuse with the accepted form. The only check here is for --port values the spec's 16
// bits cannot hold. --direction to/from/both is the filter's egress/ingress/both (a
// value it does not know is kept, for Validate to refuse).
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
	n.Filter.External = append([]string(nil), f.External...)
	if cidrsArePeers {
		if n.Partition == nil {
			n.Partition = &plan.Partition{}
		}
		n.Partition.Peers = append(n.Partition.Peers, cidrs...)
		n.Partition.PeerNames = append(n.Partition.PeerNames, cidrs...)
		n.Partition.To = append(n.Partition.To, f.To...)
		n.Partition.Direction = f.Direction
	} else {
		n.Filter.CIDRs = cidrs
		n.Filter.To = append([]string(nil), f.To...)
		n.Filter.Direction = network.FilterDirection(f.Direction)
	}
	for _, b := range []struct {
		from string
		to   *string
	}{
		{f.DelayBackend, &n.DelayBackend}, {f.LossBackend, &n.LossBackend}, {f.DuplicateBackend, &n.DuplicateBackend},
		{f.CorruptBackend, &n.CorruptBackend}, {f.ReorderBackend, &n.ReorderBackend},
	} {
		if b.from != network.BackendAuto {
			*b.to = b.from
		}
	}
	return nil
}
