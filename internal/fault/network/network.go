// Package network implements network faults: netem (delay, loss, duplicate, corrupt,
// reorder), tbf (bandwidth) and nftables (partition, loss fallback, filters) inside the
// target's network namespace. Validate and Describe are portable (used by the CLI for
// validation and --dry-run); the kernel work is in *_linux.go.
package network

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network/nfqdelay"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Handles the tool owns. Every qdisc it creates uses one of these, so recovery deletes
// only qdiscs with our handle. 0x4b43 is "KC".
const (
	// RootHandleMajor is the root qdisc (netem, tbf, or the htb that steers filtered traffic).
	RootHandleMajor = 0x4b43
	// ChildHandleMajor is the qdisc under the root (tbf under netem, or the faulty leaf
	// under htb).
	ChildHandleMajor = 0x4b44
)

// Limits of the accepted values.
const (
	MaxLatency = time.Hour
	MinRate    = 8               // bit/s
	MaxRate    = 100_000_000_000 // 100gbit
	maxIfName  = 15              // IFNAMSIZ-1
	condNetem  = "if sch_netem is available"
	condNoNet  = "if sch_netem is missing (fallback)"
	ownedTable = "kubectl_chaos_<experiment>_<hash>" // one per experiment and pod
)

// Backends.
const (
	BackendAuto    = "auto"
	BackendNetem   = "netem"
	BackendNFQueue = "nfqueue"
	BackendNFT     = "nft"
)

// Validate checks a network fault spec before anything is created. Errors name the CLI
// flag (e.g. "--percent must be in (0, 100], got 101").
func Validate(n *plan.Network) error {
	if n == nil {
		return fmt.Errorf("network fault without a spec")
	}
	tc := n.Delay != nil || n.Loss != nil || n.Duplicate != nil || n.Corrupt != nil || n.Reorder != nil || n.Bandwidth != nil
	if !tc && n.Partition == nil {
		return fmt.Errorf("network fault: nothing to do (give delay, loss, duplicate, corrupt, reorder, bandwidth or partition)")
	}
	if n.Partition != nil && tc {
		return fmt.Errorf("partition cannot be combined with delay, loss, duplicate, corrupt, reorder or bandwidth: run them as separate experiments")
	}
	if d := n.Delay; d != nil {
		if d.Latency <= 0 || d.Latency.D() > MaxLatency {
			return fmt.Errorf("--latency must be in (0, %s], got %s", MaxLatency, d.Latency.D())
		}
		if d.Jitter < 0 || d.Jitter.D() > MaxLatency {
			return fmt.Errorf("--jitter must be in [0, %s], got %s", MaxLatency, d.Jitter.D())
		}
		if err := correlation("--correlation", d.Correlation); err != nil {
			return err
		}
	}
	for _, p := range []struct {
		flag string
		v    *plan.Percent
	}{{"loss", n.Loss}, {"duplicate", n.Duplicate}, {"corrupt", n.Corrupt}} {
		if p.v == nil {
			continue
		}
		if err := percent("--percent", p.flag, p.v.Percent); err != nil {
			return err
		}
		if err := correlation("--correlation", p.v.Correlation); err != nil {
			return err
		}
	}
	if r := n.Reorder; r != nil {
		if err := percent("--percent", "reorder", r.Percent); err != nil {
			return err
		}
		if err := correlation("--correlation", r.Correlation); err != nil {
			return err
		}
		if n.Delay == nil {
			return fmt.Errorf("reorder needs --latency: netem reorders by sending --percent of the packets at once while the others wait the delay")
		}
		if r.Gap > 1_000_000 {
			return fmt.Errorf("--gap must be in [0, 1000000], got %d", r.Gap)
		}
	}
	if b := n.Bandwidth; b != nil {
		if b.Rate < MinRate || b.Rate > MaxRate {
			return fmt.Errorf("--rate must be in [%s, %s], got %s", plan.FormatRate(MinRate), plan.FormatRate(MaxRate), plan.FormatRate(b.Rate))
		}
	}
	f := n.Filter
	for _, i := range f.Interfaces {
		if i == "" || len(i) > maxIfName || strings.ContainsAny(i, "/: \t\n") {
			return fmt.Errorf("--interface %q is not an interface name (1-%d characters, no '/', ':' or spaces)", i, maxIfName)
		}
	}
	if err := cidrs("--cidr", f.CIDRs); err != nil {
		return err
	}
	for _, p := range f.Ports {
		if p == 0 {
			return fmt.Errorf("--port must be in [1, 65535], got 0")
		}
	}
	switch f.Protocol {
	case "", "tcp", "udp":
	case "icmp":
		if len(f.Ports) > 0 {
			return fmt.Errorf("--port needs --protocol tcp or udp (or none), not icmp")
		}
	default:
		return fmt.Errorf("--protocol must be tcp, udp or icmp, got %q", f.Protocol)
	}
	switch f.Direction {
	case "", "egress":
	case "ingress", "both":
		if n.Delay != nil || n.Duplicate != nil || n.Corrupt != nil || n.Reorder != nil || n.Bandwidth != nil {
			return fmt.Errorf("--direction %s is supported for loss and partition only; delay, duplicate, corrupt, reorder and bandwidth act on egress", f.Direction)
		}
		if n.Loss != nil && n.LossBackend == BackendNetem {
			return fmt.Errorf("--direction %s needs --loss-backend nft or auto: netem acts on egress only", f.Direction)
		}
	default:
		return fmt.Errorf("--direction must be egress, ingress or both, got %q", f.Direction)
	}
	switch n.DelayBackend {
	case "", BackendAuto, BackendNetem, BackendNFQueue:
	default:
		return fmt.Errorf("--delay-backend must be auto, netem or nfqueue, got %q", n.DelayBackend)
	}
	switch n.LossBackend {
	case "", BackendAuto, BackendNetem, BackendNFT:
	default:
		return fmt.Errorf("--loss-backend must be auto, netem or nft, got %q", n.LossBackend)
	}
	if n.LossBackend == BackendNFT && n.Loss != nil && (n.Loss.Correlation > 0) {
		return fmt.Errorf("--correlation is not supported with --loss-backend nft (independent random drops)")
	}
	if p := n.Partition; p != nil {
		switch p.Direction {
		case "", "to", "from", "both":
		default:
			return fmt.Errorf("--direction must be to, from or both, got %q", p.Direction)
		}
		if err := cidrs("--to/--cidr", p.Peers); err != nil {
			return err
		}
		if len(p.Peers) == 0 && len(p.To) == 0 && len(f.CIDRs) == 0 && len(f.Ports) == 0 {
			return fmt.Errorf("partition needs at least one peer (--to pod/…|svc/…|-l …|--cidr …) or --port")
		}
	}
	return nil
}

func percent(flag, what string, v float64) error {
	if math.IsNaN(v) || v <= 0 || v > 100 {
		return fmt.Errorf("%s must be in (0, 100] for %s, got %g", flag, what, v)
	}
	return nil
}

func correlation(flag string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 100 {
		return fmt.Errorf("%s must be in [0, 100], got %g", flag, v)
	}
	return nil
}

func cidrs(flag string, cs []string) error {
	for _, c := range cs {
		if !strings.Contains(c, "/") {
			return fmt.Errorf("%s %q needs a mask, e.g. %s/32 (IPv4) or /128 (IPv6)", flag, c, c)
		}
		if _, err := netip.ParsePrefix(c); err != nil {
			return fmt.Errorf("%s %q is not a CIDR: %v", flag, c, err)
		}
	}
	return nil
}

// netemWant says which parts of a fault netem does on a node.
type netemWant struct{ delay, loss, other bool }

func (w netemWant) any() bool { return w.delay || w.loss || w.other }

// wantOnNetemKernel is what netem does where sch_netem exists.
func wantOnNetemKernel(n *plan.Network) netemWant {
	return netemWant{
		delay: n.Delay != nil && n.DelayBackend != BackendNFQueue,
		loss:  lossOnNetem(n),
		other: n.Duplicate != nil || n.Corrupt != nil || n.Reorder != nil,
	}
}

// netemOnlyView hides from NetemSpec the delay that netem does not do.
func netemOnlyView(n *plan.Network, want netemWant) *plan.Network {
	v := *n
	if !want.delay {
		v.Delay = nil
	}
	return &v
}

// lossOnNetem: which backend loss uses when sch_netem is present.
func lossOnNetem(n *plan.Network) bool {
	if n.Loss == nil {
		return false
	}
	if n.LossBackend == BackendNFT {
		return false
	}
	d := n.Filter.Direction
	return d == "" || d == "egress"
}

// Describe lists the kernel objects the fault would create and how each is removed, for
// --dry-run. Where the choice depends on the node (sch_netem present or not), both
// alternatives are listed with their Condition.
func Describe(n *plan.Network) []plan.Object {
	if n == nil {
		return nil
	}
	ifs := "each interface but lo"
	if len(n.Filter.Interfaces) > 0 {
		ifs = strings.Join(n.Filter.Interfaces, ",")
	}
	if n.Partition != nil {
		return nftObjects(n, ifs, "")
	}
	want := wantOnNetemKernel(n)
	delayObjs := func(cond string) []plan.Object {
		objs := nfqdelay.Describe(*n.Delay, n.Filter)
		for i := range objs {
			objs[i].Condition = cond
		}
		return objs
	}
	if !want.any() {
		// Bandwidth (tbf), nft loss and nfqueue delay work on every kernel.
		out := tcObjects(n, ifs, want, "")
		if n.Loss != nil {
			out = append(out, nftObjects(n, ifs, "")...)
		}
		if n.Delay != nil {
			out = append(out, delayObjs("")...)
		}
		return out
	}
	out := tcObjects(n, ifs, want, condNetem)
	if n.Loss != nil && !want.loss {
		out = append(out, nftObjects(n, ifs, condNetem)...)
	}
	if n.Delay != nil && !want.delay {
		out = append(out, delayObjs(condNetem)...)
	}
	if bad := netemOnly(n); len(bad) > 0 {
		return append(out, plan.Object{
			Kind:      "error",
			Spec:      "refused: " + strings.Join(bad, ", ") + " need(s) the sch_netem kernel module on the node (modprobe sch_netem)",
			Remove:    "nothing is created",
			Condition: condNoNet,
		})
	}
	if n.Bandwidth != nil {
		out = append(out, tcObjects(n, ifs, netemWant{}, condNoNet)...)
	}
	if n.Loss != nil {
		out = append(out, nftObjects(n, ifs, condNoNet)...)
	}
	if n.Delay != nil {
		out = append(out, delayObjs(condNoNet)...)
	}
	return out
}

func netemOnly(n *plan.Network) []string {
	var s []string
	if n.Delay != nil && n.DelayBackend == BackendNetem {
		s = append(s, "delay with --delay-backend netem")
	}
	if n.Loss != nil && n.LossBackend == BackendNetem {
		s = append(s, "loss with --loss-backend netem")
	}
	if n.Duplicate != nil {
		s = append(s, "duplicate")
	}
	if n.Corrupt != nil {
		s = append(s, "corrupt")
	}
	if n.Reorder != nil {
		s = append(s, "reorder")
	}
	return s
}

func delayText(d *plan.Delay) string {
	s := d.Latency.D().String()
	if d.Jitter > 0 {
		s += " " + d.Jitter.D().String()
		if d.Correlation > 0 {
			s += fmt.Sprintf(" %g%%", d.Correlation)
		}
	}
	return s
}

// NetemSpec is the netem part in tc words, e.g. "netem delay 100ms 10ms 25% loss 20%".
// netemLoss says whether loss is done by netem.
func NetemSpec(n *plan.Network, netemLoss bool) string {
	parts := []string{"netem"}
	if d := n.Delay; d != nil {
		parts = append(parts, "delay "+delayText(d))
	}
	pc := func(name string, p *plan.Percent) {
		if p == nil {
			return
		}
		s := fmt.Sprintf("%s %g%%", name, p.Percent)
		if p.Correlation > 0 {
			s += fmt.Sprintf(" %g%%", p.Correlation)
		}
		parts = append(parts, s)
	}
	if netemLoss {
		pc("loss", n.Loss)
	}
	pc("duplicate", n.Duplicate)
	pc("corrupt", n.Corrupt)
	if r := n.Reorder; r != nil {
		s := fmt.Sprintf("reorder %g%%", r.Percent)
		if r.Correlation > 0 {
			s += fmt.Sprintf(" %g%%", r.Correlation)
		}
		if r.Gap > 0 {
			s += fmt.Sprintf(" gap %d", r.Gap)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// TbfParams returns the tbf bucket (burst) and queue (limit) sizes in bytes: the asked
// values, or derived: a bucket of 50 ms of tokens plus room for one GSO packet (64 KiB,
// or another 50 ms at low rates, where TCP sizes its GSO packets to ~1 ms of pacing and
// a large bucket would let a long burst through), at least two frames; and a queue of
// 50 ms on top of it, as `tc ... latency 50ms` would. tbf passes a GSO
// packet whole when it fits the bucket, and tokens beyond the bucket are lost whenever
// the qdisc watchdog fires late, so a bucket barely larger than such a packet starves:
// measured with TCP at 10mbit, a 10 ms bucket gave 82-87% of the rate under qemu/TCG and
// 96% on this host, 50 ms alone 83-97%, 50 ms + 64 KiB 100% (VM) and 98-99% (host).
func TbfParams(b *plan.Bandwidth) (burst, limit uint32) {
	bps := float64(b.Rate) / 8
	burst = b.Buffer
	if burst == 0 {
		burst = uint32(math.Min(math.Max(bps*0.05+math.Min(65536, bps*0.05), 3200), math.MaxUint32/4))
	}
	limit = b.Limit
	if limit == 0 {
		limit = uint32(math.Min(math.Max(bps*0.05, 3200)+float64(burst), math.MaxUint32/2))
	}
	return burst, limit
}

// TbfSpec is the tbf in tc words.
func TbfSpec(b *plan.Bandwidth) string {
	burst, limit := TbfParams(b)
	return fmt.Sprintf("tbf rate %s burst %db limit %db", plan.FormatRate(b.Rate), burst, limit)
}

func handle(major uint16) string { return fmt.Sprintf("%x:", major) }

// tcObjects describes the qdisc setup of one interface.
func tcObjects(n *plan.Network, ifs string, want netemWant, cond string) []plan.Object {
	netem := want.any()
	netemLoss := want.loss
	n = netemOnlyView(n, want)
	if !netem && n.Bandwidth == nil {
		return nil
	}
	rootDel := "qdisc del dev <if> root handle " + handle(RootHandleMajor) + " (only if the root qdisc has that handle)"
	sub := "removed with the root qdisc " + handle(RootHandleMajor)
	var out []plan.Object
	obj := func(kind, spec, remove string) {
		out = append(out, plan.Object{Kind: kind, Interface: ifs, Spec: spec, Remove: remove, Condition: cond})
	}
	if n.Filter.Empty() {
		switch {
		case netem && n.Bandwidth != nil:
			obj("qdisc", TbfSpec(n.Bandwidth)+" handle "+handle(RootHandleMajor)+" root", rootDel)
			obj("qdisc", NetemSpec(n, netemLoss)+" handle "+handle(ChildHandleMajor)+" parent "+handle(RootHandleMajor)+"1", sub)
		case netem:
			obj("qdisc", NetemSpec(n, netemLoss)+" handle "+handle(RootHandleMajor)+" root", rootDel)
		default:
			obj("qdisc", TbfSpec(n.Bandwidth)+" handle "+handle(RootHandleMajor)+" root", rootDel)
		}
		return out
	}
	obj("qdisc", "htb handle "+handle(RootHandleMajor)+" root default 2", rootDel)
	faulty := "rate 100gbit"
	if b := n.Bandwidth; b != nil {
		burst, _ := TbfParams(b)
		faulty = fmt.Sprintf("rate %s ceil %s burst %db", plan.FormatRate(b.Rate), plan.FormatRate(b.Rate), burst)
	}
	obj("tc-class", "htb classid "+handle(RootHandleMajor)+"1 "+faulty+" (faulty) and "+handle(RootHandleMajor)+"2 rate 100gbit (pass-through)", sub)
	if netem {
		obj("qdisc", NetemSpec(n, netemLoss)+" handle "+handle(ChildHandleMajor)+" parent "+handle(RootHandleMajor)+"1", sub)
	}
	obj("tc-filter", "u32 "+filterText(n.Filter, nil, "dst")+" flowid "+handle(RootHandleMajor)+"1 (IPv4 and IPv6; ports assume no IP options/extension headers)", sub)
	return out
}

func filterText(f plan.Filter, peers []string, side string) string {
	var parts []string
	remote := append(append([]string{}, peers...), f.CIDRs...)
	if len(remote) > 0 {
		parts = append(parts, "ip "+side+" {"+strings.Join(remote, ", ")+"}")
	}
	if f.Protocol != "" {
		parts = append(parts, "protocol "+f.Protocol)
	}
	if len(f.Ports) > 0 {
		ps := make([]string, len(f.Ports))
		for i, p := range f.Ports {
			ps[i] = fmt.Sprint(p)
		}
		parts = append(parts, "sport or dport {"+strings.Join(ps, ", ")+"}")
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// nftObjects describes the owned netdev table used for partition and nft loss.
func nftObjects(n *plan.Network, ifs, cond string) []plan.Object {
	table := "netdev " + ownedTable
	out := []plan.Object{{
		Kind:      "nft-table",
		Spec:      "table " + table + " flags owner",
		Remove:    "nft delete table " + table + "; the kernel deletes it when the agent's netlink socket closes (agent killed)",
		Condition: cond,
	}}
	sub := "deleted with table " + table
	chain := func(hook, verdict, why string) {
		out = append(out, plan.Object{
			Kind:      "nft-chain",
			Interface: ifs,
			Spec:      fmt.Sprintf("chain %s_<if> { type filter hook %s device <if> priority -500; } %s (%s)", hook, hook, verdict, why),
			Remove:    sub,
			Condition: cond,
		})
	}
	if p := n.Partition; p != nil {
		dir := p.Direction
		if dir == "" {
			dir = "both"
		}
		if dir == "from" || dir == "both" {
			chain("ingress", filterText(n.Filter, p.Peers, "saddr")+" drop", "silent, like loss on the wire")
		}
		if dir == "to" || dir == "both" {
			chain("egress", filterText(n.Filter, p.Peers, "daddr")+" drop", "silent: dropped below the IP layer, the sender gets no EPERM")
		}
		return out
	}
	if l := n.Loss; l != nil {
		v := fmt.Sprintf("%s numgen random mod 10000 < %d drop", filterText(n.Filter, nil, "addr"), int(math.Round(l.Percent*100)))
		d := n.Filter.Direction
		if d == "ingress" || d == "both" {
			chain("ingress", v, "silent")
		}
		if d == "" || d == "egress" || d == "both" {
			chain("egress", v, "silent: the sender gets no EPERM")
		}
	}
	return out
}
