package network

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Limits of a network fault, one constant each. Validate is the only place that checks
// them: the verbs only parse flags into the spec, the CLI runs Validate before anything
// is created and the agent runs it again on the plan it receives (it may be forged).
const (
	// MaxLatency bounds --latency, for every backend alike: the backend is chosen on the
	// node (netem where sch_netem exists, else the userspace NFQUEUE delay), so a fault
	// the CLI accepts must not be refused there. A minute is past what any protocol
	// lives with (a TCP connect gives up after ~127 s of SYN retries, and 120 s is TCP's
	// longest retransmission timeout); netem's queue of 1000 packets already overflows
	// into loss at 17 packets/s; and the NFQUEUE backend holds every packet in kernel
	// memory for that long. Longer outages are a partition.
	MaxLatency = time.Minute
	// MaxPercent bounds --percent (loss, duplicate, corrupt, reorder), in (0, MaxPercent].
	MaxPercent = 100
	// MaxCorrelation bounds --correlation, in [0, MaxCorrelation].
	MaxCorrelation = 100
	// MaxGap bounds --gap of reorder (netem sends every gap-th packet at once).
	MaxGap = 1_000_000
	// MinRate and MaxRate bound --rate, in bit/s: tc's smallest rate, and 100gbit (the
	// rate of our pass-through htb class, which must not shape).
	MinRate = 8
	MaxRate = passRate
	// MinPort and MaxPort bound --port.
	MinPort = 1
	MaxPort = 65535
	// MaxIfName is the longest interface name (IFNAMSIZ-1).
	MaxIfName = 15
	// MaxMatchRules bounds what a filter expands to: one tc u32 filter or nft rule per
	// remote CIDR (or IP version), protocol (tcp and udp when only ports are given), port
	// and side (source or destination), and interface (nfqueue rules name it).
	MaxMatchRules = 512
)

// Validate checks a network fault spec before anything is created. Errors name the CLI
// flag and the accepted range (e.g. "--percent must be in (0, 100], got 101").
func Validate(n *plan.Network) error {
	if n == nil {
		return fmt.Errorf("network fault without a spec")
	}
	for _, check := range []func(*plan.Network) error{
		validateShape, validateDelay, validatePercents, validateReorder, validateBandwidth,
		validateFilter, validatePeers, validateDirection, validateBackends, validatePartition,
	} {
		if err := check(n); err != nil {
			return err
		}
	}
	return nil
}

func validateShape(n *plan.Network) error {
	tc := n.Delay != nil || n.Loss != nil || n.Duplicate != nil || n.Corrupt != nil || n.Reorder != nil || n.Bandwidth != nil
	if !tc && n.Partition == nil {
		return fmt.Errorf("network fault: nothing to do (give delay, loss, duplicate, corrupt, reorder, bandwidth or partition)")
	}
	if n.Partition != nil && tc {
		return fmt.Errorf("partition cannot be combined with delay, loss, duplicate, corrupt, reorder or bandwidth: run them as separate experiments")
	}
	return nil
}

func validateDelay(n *plan.Network) error {
	d := n.Delay
	if d == nil {
		return nil
	}
	if d.Latency <= 0 || d.Latency.D() > MaxLatency {
		return fmt.Errorf("--latency must be in (0, %s], got %s", plan.FormatDuration(MaxLatency), plan.FormatDuration(d.Latency.D()))
	}
	// The NFQUEUE backend cannot hold a packet for less than no time; netem would clamp
	// such draws to 0 and reorder. One rule for both, as for the latency.
	if d.Jitter < 0 || d.Jitter > d.Latency {
		return fmt.Errorf("--jitter must be in [0, --latency (%s)], got %s", plan.FormatDuration(d.Latency.D()), plan.FormatDuration(d.Jitter.D()))
	}
	return correlation(d.Correlation)
}

func validatePercents(n *plan.Network) error {
	for _, p := range []*plan.Percent{n.Loss, n.Duplicate, n.Corrupt} {
		if p == nil {
			continue
		}
		if err := percent(p.Percent); err != nil {
			return err
		}
		if err := correlation(p.Correlation); err != nil {
			return err
		}
	}
	return nil
}

func validateReorder(n *plan.Network) error {
	r := n.Reorder
	if r == nil {
		return nil
	}
	if err := percent(r.Percent); err != nil {
		return err
	}
	if err := correlation(r.Correlation); err != nil {
		return err
	}
	if n.Delay == nil {
		return fmt.Errorf("reorder needs --latency: netem reorders by sending --percent of the packets at once while the others wait the delay")
	}
	if r.Gap > MaxGap {
		return fmt.Errorf("--gap must be in [0, %d], got %d", MaxGap, r.Gap)
	}
	return nil
}

func validateBandwidth(n *plan.Network) error {
	if b := n.Bandwidth; b != nil && (b.Rate < MinRate || b.Rate > MaxRate) {
		return fmt.Errorf("--rate must be in [%s, %s], got %s", plan.FormatRate(MinRate), plan.FormatRate(MaxRate), plan.FormatRate(b.Rate))
	}
	return nil
}

func validateFilter(n *plan.Network) error {
	f := n.Filter
	for _, name := range f.Interfaces {
		if why := ifNameProblem(name); why != "" {
			return fmt.Errorf("--interface %q is not an interface name: %s (1-%d characters, no '/', ':' or white space)", name, why, MaxIfName)
		}
	}
	if err := cidrs(f.CIDRs); err != nil {
		return err
	}
	for _, p := range f.Ports {
		if err := CheckPort(uint64(p)); err != nil {
			return err
		}
	}
	switch f.Protocol {
	case "", "tcp", "udp":
	case "icmp":
		if len(f.Ports) > 0 {
			return fmt.Errorf("--port needs --protocol tcp or udp (or none), not icmp: ICMP has no ports")
		}
	default:
		return fmt.Errorf("--protocol must be tcp, udp or icmp, got %q", f.Protocol)
	}
	remote := f.CIDRs
	if p := n.Partition; p != nil {
		remote = append(append([]string{}, p.Peers...), f.CIDRs...)
	}
	if k := matchRules(f, remote) * max(1, len(f.Interfaces)); k > MaxMatchRules {
		return fmt.Errorf("--cidr/--to, --port, --protocol and --interface expand to %d tc filters or nft rules, more than %d: give fewer values", k, MaxMatchRules)
	}
	return nil
}

// FilterDirection turns a verb's --direction (to, from, both; Chaos Mesh's words) into
// the filter's (egress, ingress, both). "to" is the default, left empty. A value it does
// not know is kept, for Validate to refuse.
func FilterDirection(d string) string {
	switch d {
	case "to":
		return ""
	case "from":
		return "ingress"
	}
	return d
}

// cliDirection is the --direction value a filter direction came from.
func cliDirection(d string) string {
	switch d {
	case "", "egress":
		return "to"
	case "ingress":
		return "from"
	}
	return d
}

func validateDirection(n *plan.Network) error {
	switch d := n.Filter.Direction; d {
	case "", "egress":
	case "ingress", "both":
		if n.Delay != nil || n.Duplicate != nil || n.Corrupt != nil || n.Reorder != nil || n.Bandwidth != nil {
			return fmt.Errorf("--direction %s is supported for loss and partition only; delay, duplicate, corrupt, reorder and bandwidth act on traffic to the peers (egress, as netem does; duplicates without netem are sent out of the interface, so only outgoing packets can be duplicated): to act on what a peer sends, target the peer with --to the target", cliDirection(d))
		}
		if n.Loss != nil && n.LossBackend == BackendNetem {
			return fmt.Errorf("--direction %s needs --loss-backend nft or auto: netem acts on egress only", cliDirection(d))
		}
	default:
		return fmt.Errorf("--direction must be to, from or both, got %q", d)
	}
	return nil
}

func validateBackends(n *plan.Network) error {
	for _, b := range []struct {
		flag, got string
		ok        []string
	}{
		{"--delay-backend", n.DelayBackend, []string{BackendAuto, BackendNetem, BackendNFQueue}},
		{"--loss-backend", n.LossBackend, []string{BackendAuto, BackendNetem, BackendNFT}},
		{"--duplicate-backend", n.DuplicateBackend, []string{BackendAuto, BackendNetem, BackendNFT}},
		{"--corrupt-backend", n.CorruptBackend, []string{BackendAuto, BackendNetem, BackendNFQueue}},
		{"--reorder-backend", n.ReorderBackend, []string{BackendAuto, BackendNetem, BackendNFQueue}},
	} {
		if b.got != "" && !slices.Contains(b.ok, b.got) {
			return fmt.Errorf("%s must be %s or %s, got %q", b.flag, strings.Join(b.ok[:len(b.ok)-1], ", "), b.ok[len(b.ok)-1], b.got)
		}
	}
	// The nft and nfqueue percentages are independent random draws.
	for _, c := range []struct {
		p             *plan.Percent
		backend, want string
		flag          string
	}{
		{n.Loss, n.LossBackend, BackendNFT, "--loss-backend nft"},
		{n.Duplicate, n.DuplicateBackend, BackendNFT, "--duplicate-backend nft"},
		{n.Corrupt, n.CorruptBackend, BackendNFQueue, "--corrupt-backend nfqueue"},
	} {
		if c.p != nil && c.backend == c.want && c.p.Correlation > 0 {
			return fmt.Errorf("--correlation is not supported with %s (independent random draws)", c.flag)
		}
	}
	// Reorder acts against its delay's queue: both in netem, or both in userspace.
	if n.Reorder != nil {
		d, r := n.DelayBackend, n.ReorderBackend
		if d == BackendNetem && r == BackendNFQueue || d == BackendNFQueue && r == BackendNetem {
			return fmt.Errorf("--reorder-backend %s cannot be combined with --delay-backend %s: reorder and its delay use one backend", r, d)
		}
	}
	return nil
}

func validatePartition(n *plan.Network) error {
	p := n.Partition
	if p == nil {
		return nil
	}
	switch p.Direction {
	case "", "to", "from", "both":
	default:
		return fmt.Errorf("--direction must be to, from or both, got %q", p.Direction)
	}
	if err := toPeers(p.To); err != nil {
		return err
	}
	if len(n.Filter.To) > 0 {
		return fmt.Errorf("partition peers are in its own --to, not the filter's")
	}
	if err := cidrs(p.Peers); err != nil {
		return err
	}
	if len(p.Peers) == 0 && len(p.To) == 0 && len(n.Filter.External) == 0 && len(n.Filter.CIDRs) == 0 && len(n.Filter.Ports) == 0 {
		return fmt.Errorf("partition needs at least one peer (--to pod/…|svc/…|deploy/…|a label selector, --external or --cidr) or --port")
	}
	return nil
}

// CheckPort checks one --port value. The verbs call it too, for values the spec (16
// bits) cannot hold.
func CheckPort(p uint64) error {
	if p < MinPort || p > MaxPort {
		return fmt.Errorf("--port must be in [%d, %d], got %d", MinPort, MaxPort, p)
	}
	return nil
}

func percent(v float64) error {
	if math.IsNaN(v) || v <= 0 || v > MaxPercent {
		return fmt.Errorf("--percent must be in (0, %d], got %g", MaxPercent, v)
	}
	return nil
}

func correlation(v float64) error {
	if math.IsNaN(v) || v < 0 || v > MaxCorrelation {
		return fmt.Errorf("--correlation must be in [0, %d], got %g", MaxCorrelation, v)
	}
	return nil
}

// cidrs checks remote CIDRs: --cidr, and the partition peers the CLI resolved from --to.
func cidrs(cs []string) error {
	for _, c := range cs {
		if !strings.Contains(c, "/") {
			return fmt.Errorf("--cidr %q needs a mask, e.g. %s/32 (IPv4) or /128 (IPv6)", c, c)
		}
		if _, err := netip.ParsePrefix(c); err != nil {
			return fmt.Errorf("--cidr must be an IPv4 or IPv6 CIDR like 10.0.0.0/8 or fd00::/64, got %q", c)
		}
	}
	return nil
}

// ifNameProblem says why name cannot name a Linux interface (the kernel's
// dev_valid_name), or "".
func ifNameProblem(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > MaxIfName:
		return fmt.Sprintf("longer than %d characters", MaxIfName)
	case name == "." || name == "..":
		return "'.' and '..' are not names"
	case strings.Contains(name, ":"):
		return "':' marks an address label (eth0:1 is an address on eth0), not an interface: give the interface itself"
	case strings.Contains(name, "/"):
		return "'/' is not allowed"
	case strings.ContainsFunc(name, func(r rune) bool { return r == ' ' || r >= '\t' && r <= '\r' }):
		return "white space is not allowed"
	}
	return ""
}

// matchRules is how many alternatives a filter expands to on one interface and side:
// one per remote CIDR (or per IP version without one), per protocol (tcp and udp when
// only ports are given), per port and side. It is the exact count of tc u32 filters,
// and at least the count of nft rules.
func matchRules(f plan.Filter, remote []string) int {
	n := len(remote)
	if n == 0 {
		n = 2
	}
	if f.Protocol == "" && len(f.Ports) > 0 {
		n *= 2
	}
	if len(f.Ports) > 0 {
		n *= 2 * len(f.Ports)
	}
	return n
}

// MaxLatencyText is MaxLatency as the help texts print it.
var MaxLatencyText = plan.FormatDuration(MaxLatency)
