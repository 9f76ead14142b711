package plan

import (
	"fmt"
	"strings"
)

// KindNetwork is the network fault family (tc, nftables, the userspace delay).
const KindNetwork = "network"

// Network is a network fault. Several of Delay/Loss/Duplicate/Corrupt/Reorder/Bandwidth
// may be set at once (they combine into one netem [+ tbf] setup); Partition stands alone.
type Network struct {
	Delay     *Delay     `json:"delay,omitempty"`
	Loss      *Percent   `json:"loss,omitempty"`
	Duplicate *Percent   `json:"duplicate,omitempty"`
	Corrupt   *Percent   `json:"corrupt,omitempty"`
	Reorder   *Reorder   `json:"reorder,omitempty"`
	Bandwidth *Bandwidth `json:"bandwidth,omitempty"`
	Partition *Partition `json:"partition,omitempty"`
	Filter    Filter     `json:"filter,omitempty"`
	// DelayBackend picks how delay is done: "auto" (netem if the node has it, else
	// nfqueue), "netem" or "nfqueue". Empty means auto.
	DelayBackend string `json:"delayBackend,omitempty"`
	// LossBackend picks how loss is done: "auto" (netem, else nftables), "netem" or "nft".
	LossBackend string `json:"lossBackend,omitempty"`
	// DuplicateBackend picks how duplicate is done: "auto" (netem, else nftables `dup
	// to` at the netdev egress hook), "netem" or "nft".
	DuplicateBackend string `json:"duplicateBackend,omitempty"`
	// CorruptBackend picks how corrupt is done: "auto" (netem, else the userspace
	// NFQUEUE engine flips a bit), "netem" or "nfqueue".
	CorruptBackend string `json:"corruptBackend,omitempty"`
	// ReorderBackend picks how reorder is done: "auto" (netem, else the userspace
	// NFQUEUE delay lets the reordered packets through at once), "netem" or "nfqueue".
	// Reorder and its delay always use the same backend.
	ReorderBackend string `json:"reorderBackend,omitempty"`
}

// Delay adds latency (and jitter) to matching packets.
type Delay struct {
	Latency     Duration `json:"latency"`
	Jitter      Duration `json:"jitter,omitempty"`
	Correlation float64  `json:"correlation,omitempty"` // percent, 0-100
}

// Percent is a probability in percent (0-100] with an optional correlation.
type Percent struct {
	Percent     float64 `json:"percent"`
	Correlation float64 `json:"correlation,omitempty"`
}

// Reorder sends Percent of packets at once while the others are delayed (netem reorder).
type Reorder struct {
	Percent     float64 `json:"percent"`
	Correlation float64 `json:"correlation,omitempty"`
	Gap         uint32  `json:"gap,omitempty"`
}

// Bandwidth limits the rate with a token bucket.
type Bandwidth struct {
	// Rate in bits per second.
	Rate uint64 `json:"rate"`
	// Limit is the queue size in bytes; Buffer the bucket size in bytes. 0 = derived.
	Limit  uint32 `json:"limit,omitempty"`
	Buffer uint32 `json:"buffer,omitempty"`
}

// Partition drops traffic between the target and its peers.
type Partition struct {
	// Direction: "to" (target -> peers dropped), "from" (peers -> target dropped), "both".
	Direction string `json:"direction"`
	// Peers are CIDRs resolved by the CLI from --to pod/…|svc/…|-l …|--cidr ….
	// Empty with Ports set means "all peers on those ports".
	Peers []string `json:"peers,omitempty"`
	// PeerNames are what the user asked for, for display.
	PeerNames []string `json:"peerNames,omitempty"`
	// To are the --to peers as the user gave them (pod/NAME, svc/NAME, a selector…).
	// The CLI resolves them into Peers before any plan leaves it; an agent refuses a
	// plan that still has them.
	To []string `json:"to,omitempty"`
}

// Filter narrows which traffic a fault hits. Empty fields match everything.
type Filter struct {
	// Interfaces inside the target netns; empty = all but lo.
	Interfaces []string `json:"interfaces,omitempty"`
	// CIDRs of the remote side (IPv4 or IPv6).
	CIDRs []string `json:"cidrs,omitempty"`
	// Ports of the remote side or the local side (either matches).
	Ports []uint16 `json:"ports,omitempty"`
	// Protocol: "" (all), "tcp", "udp", "icmp".
	Protocol string `json:"protocol,omitempty"`
	// Direction for non-partition faults: "egress" (default for tc faults), "ingress", "both".
	// The verbs' --direction says to, from, both.
	Direction string `json:"direction,omitempty"`
	// To are the --to peers of the verbs other than partition (whose peers are
	// Partition.To), as the user gave them (pod/NAME, svc/NAME, a selector…), and External
	// the --external hosts, IPs and CIDRs. The CLI resolves both into CIDRs (into CIDRs
	// here, into Partition.Peers for a partition) when the fault starts, before any plan
	// leaves it; an agent refuses a plan that still has them.
	To       []string `json:"to,omitempty"`
	External []string `json:"external,omitempty"`
	// PeerNames say what the resolved peers were (for display): "svc/db", "example.com".
	PeerNames []string `json:"peerNames,omitempty"`
}

// Unresolved lists the peers the CLI still has to resolve into addresses.
func (f Filter) Unresolved() []string {
	return append(append([]string(nil), f.To...), f.External...)
}

// Empty reports whether the filter matches all traffic.
func (f Filter) Empty() bool {
	return len(f.CIDRs) == 0 && len(f.Ports) == 0 && f.Protocol == "" && len(f.Unresolved()) == 0
}

// Summary is a short human description, e.g. "delay 100ms±10ms, loss 20%".
func (n *Network) Summary() string {
	var parts []string
	if d := n.Delay; d != nil {
		s := "delay " + d.Latency.D().String()
		if d.Jitter > 0 {
			s += "±" + d.Jitter.D().String()
		}
		parts = append(parts, s)
	}
	pct := func(name string, p *Percent) {
		if p != nil {
			parts = append(parts, fmt.Sprintf("%s %g%%", name, p.Percent))
		}
	}
	pct("loss", n.Loss)
	pct("duplicate", n.Duplicate)
	pct("corrupt", n.Corrupt)
	if r := n.Reorder; r != nil {
		parts = append(parts, fmt.Sprintf("reorder %g%% gap %d", r.Percent, r.Gap))
	}
	if b := n.Bandwidth; b != nil {
		parts = append(parts, "bandwidth "+FormatRate(b.Rate))
	}
	if p := n.Partition; p != nil {
		peers := p.PeerNames
		if len(peers) == 0 {
			peers = p.Peers
		}
		parts = append(parts, fmt.Sprintf("partition %s %s", p.Direction, strings.Join(peers, ",")))
	}
	if len(parts) == 0 {
		return "(nothing)"
	}
	return strings.Join(parts, ", ")
}

// FormatRate prints bits per second the way tc does: 1mbit, 500kbit, 2gbit.
func FormatRate(bps uint64) string {
	switch {
	case bps >= 1_000_000_000 && bps%1_000_000_000 == 0:
		return fmt.Sprintf("%dgbit", bps/1_000_000_000)
	case bps >= 1_000_000 && bps%1_000_000 == 0:
		return fmt.Sprintf("%dmbit", bps/1_000_000)
	case bps >= 1_000 && bps%1_000 == 0:
		return fmt.Sprintf("%dkbit", bps/1_000)
	}
	return fmt.Sprintf("%dbit", bps)
}
