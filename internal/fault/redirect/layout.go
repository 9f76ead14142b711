// Package redirect is what the dns and http fault kinds share: an owned nftables table in
// the target's network namespace that steers a port's traffic to a listener the agent
// serves inside that namespace (NAT redirect on the output hook, or TPROXY on prerouting
// with its policy rule and local route), the mark that exempts the agent's own upstream
// connections, and the removal of our conntrack entries.
//
// The rules are data (Rule); --dry-run renders them as text here (portable) and the
// agent turns the same Rules into nftables expressions (rules_linux.go), so what the
// dry-run says is what the kernel gets.
package redirect

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Object kinds this package renders, beyond nftables' own.
const (
	KindTable     = "nft-table"
	KindChain     = "nft-chain"
	KindRule      = "ip-rule"
	KindRoute     = "ip-route"
	KindListener  = "listener"
	KindConntrack = "conntrack"
)

// RulePriority is the priority of our policy routing rules ("fwmark M lookup M"): after
// the local table (0), before main (32766). 0x4b43 is "KC".
const RulePriority = 0x4b43

// Mark is the packet and conntrack mark of one experiment on one target: its upstream
// sockets carry it (SO_MARK) so our rules let them through, redirected connections carry
// it as ct mark so recovery can delete exactly their conntrack entries, and it is the
// number of the routing table of a TPROXY layout. The high half is "KC".
func Mark(experiment, target string) uint32 {
	sum := sha256.Sum256([]byte("mark\x00" + experiment + "\x00" + target))
	low := binary.BigEndian.Uint16(sum[:2])
	if low == 0 {
		low = 1
	}
	return 0x4b430000 | uint32(low)
}

// Hooks of the chains.
const (
	HookOutput     = "output"
	HookPrerouting = "prerouting"
	HookInput      = "input"
)

// Chain is a base chain of the table.
type Chain struct {
	Name     string
	Type     string // "filter", "nat", "route"
	Hook     string
	Priority int32
}

// Rule is one rule of a chain. Matches are ANDed in the order written here; exactly one
// verdict or action ends the rule.
type Rule struct {
	Chain string
	// Matches.
	Mark      uint32   // meta mark == Mark
	CtMark    uint32   // ct mark == CtMark
	NotCtMark uint32   // ct mark != NotCtMark
	IifLo     bool     // iifname "lo"
	OifLo     bool     // oifname "lo"
	Family    string   // "ip" or "ip6": meta nfproto
	Sources   []string // ip/ip6 saddr in (CIDRs of Family)
	Proto     string   // "tcp" or "udp": meta l4proto
	DPort     uint16   // th dport
	// Actions.
	SetCtMark uint32 // ct mark set
	SetMark   uint32 // meta mark set (also: ct mark set from it, see CtFromMark)
	// MarkFromCt: meta mark set ct mark (the reply of a marked connection is rerouted).
	MarkFromCt bool
	Redirect   uint16 // redirect to :Redirect
	TProxy     uint16 // tproxy ip|ip6 to :TProxy (needs Family)
	Verdict    string // "return", "accept", "drop" or ""
}

// String is the rule in nft words.
func (r Rule) String() string {
	var w []string
	hex := markString
	if r.Mark != 0 {
		w = append(w, "meta mark "+hex(r.Mark))
	}
	if r.CtMark != 0 {
		w = append(w, "ct mark "+hex(r.CtMark))
	}
	if r.NotCtMark != 0 {
		w = append(w, "ct mark != "+hex(r.NotCtMark))
	}
	if r.IifLo {
		w = append(w, `iifname "lo"`)
	}
	if r.OifLo {
		w = append(w, `oifname "lo"`)
	}
	if r.Family != "" && len(r.Sources) == 0 {
		w = append(w, "meta nfproto "+map[string]string{"ip": "ipv4", "ip6": "ipv6"}[r.Family])
	}
	if len(r.Sources) > 0 {
		w = append(w, fmt.Sprintf("%s saddr { %s }", r.Family, strings.Join(r.Sources, ", ")))
	}
	if r.Proto != "" {
		w = append(w, "meta l4proto "+r.Proto)
	}
	if r.DPort != 0 {
		w = append(w, "th dport "+port(r.DPort))
	}
	if r.SetCtMark != 0 {
		w = append(w, "ct mark set "+hex(r.SetCtMark))
	}
	if r.SetMark != 0 {
		w = append(w, "meta mark set "+hex(r.SetMark))
	}
	if r.MarkFromCt {
		w = append(w, "meta mark set ct mark")
	}
	if r.Redirect != 0 {
		w = append(w, fmt.Sprintf("redirect to :%s", port(r.Redirect)))
	}
	if r.TProxy != 0 {
		w = append(w, fmt.Sprintf("tproxy %s to :%s", r.Family, port(r.TProxy)))
	}
	if r.Verdict != "" {
		w = append(w, r.Verdict)
	}
	return strings.Join(w, " ")
}

// MarkUnknown stands, in --dry-run, for the mark, which the agent derives from the
// experiment and the target (Mark).
const MarkUnknown = 0xffffffff

// NodeAddresses stands, in --dry-run, for the node's addresses, which the agent reads
// from the node's network namespace.
const NodeAddresses = "<node-addresses>"

func markString(v uint32) string {
	if v == MarkUnknown {
		return "0x4b43<hash>"
	}
	return fmt.Sprintf("0x%08x", v)
}

// PortUnknown stands, in --dry-run, for the listener's port, which the agent picks in
// the target's namespace.
const PortUnknown = 0xffff

func port(p uint16) string {
	if p == PortUnknown {
		return "<listener-port>"
	}
	return fmt.Sprint(p)
}

// Layout is everything one fault puts into the target's network namespace.
type Layout struct {
	Table string
	Mark  uint32
	// Listen is the listener's port (PortUnknown in --dry-run).
	Listen uint16
	// Protos are the redirected protocols ("udp", "tcp"), Port their destination port.
	Protos []string
	Port   uint16
	// TProxy: server side, by TPROXY on prerouting (keeps the client's address), with a
	// policy rule and a local route per IP version; else NAT redirect on output.
	TProxy bool
	// Exempt are source CIDRs left alone on the TPROXY path (the node's addresses:
	// kubelet probes).
	Exempt []string
	// SkipLoopback leaves traffic over lo alone on the redirect path.
	SkipLoopback bool
	// What the listener does, for its object ("DNS resolver", "HTTP/1.1 proxy").
	Serves string
}

// Chains of the layout.
func (l Layout) Chains() []Chain {
	if l.TProxy {
		return []Chain{
			{Name: "pre", Type: "filter", Hook: HookPrerouting, Priority: -150},
			{Name: "out", Type: "route", Hook: HookOutput, Priority: -150},
			{Name: "in", Type: "filter", Hook: HookInput, Priority: -150},
		}
	}
	return []Chain{
		{Name: "out", Type: "nat", Hook: HookOutput, Priority: -100},
		{Name: "in", Type: "filter", Hook: HookInput, Priority: -150},
	}
}

// Rules of the layout, chain by chain.
func (l Layout) Rules() []Rule {
	var rs []Rule
	if l.TProxy {
		rs = append(rs, Rule{Chain: "pre", Mark: l.Mark, Verdict: "return"},
			Rule{Chain: "pre", IifLo: true, Verdict: "return"})
		for _, fam := range []string{"ip", "ip6"} {
			if src := cidrsOf(l.Exempt, fam == "ip6"); len(src) > 0 {
				rs = append(rs, Rule{Chain: "pre", Family: fam, Sources: src, Verdict: "return"})
			}
		}
		for _, fam := range []string{"ip", "ip6"} {
			for _, p := range l.Protos {
				rs = append(rs, Rule{Chain: "pre", Family: fam, Proto: p, DPort: l.Port, TProxy: l.Listen, Verdict: "accept"})
			}
		}
		rs = append(rs,
			Rule{Chain: "out", Mark: l.Mark, SetCtMark: l.Mark},
			Rule{Chain: "out", CtMark: l.Mark, MarkFromCt: true})
		for _, p := range l.Protos {
			rs = append(rs, Rule{Chain: "in", Proto: p, DPort: l.Listen, Verdict: "drop"})
		}
		return rs
	}
	rs = append(rs, Rule{Chain: "out", Mark: l.Mark, Verdict: "return"})
	if l.SkipLoopback {
		rs = append(rs, Rule{Chain: "out", OifLo: true, Verdict: "return"})
	}
	for _, p := range l.Protos {
		rs = append(rs, Rule{Chain: "out", Proto: p, DPort: l.Port, SetCtMark: l.Mark, Redirect: l.Listen})
	}
	for _, p := range l.Protos {
		rs = append(rs, Rule{Chain: "in", Proto: p, DPort: l.Listen, NotCtMark: l.Mark, Verdict: "drop"})
	}
	return rs
}

func cidrsOf(cidrs []string, v6 bool) []string {
	var out []string
	for _, c := range cidrs {
		if c == NodeAddresses {
			out = append(out, c)
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			continue
		}
		if is6 := p.Addr().Is6() && !p.Addr().Is4In6(); is6 == v6 {
			out = append(out, p.String())
		}
	}
	return out
}

// Families are the IP versions of the policy routing objects.
var Families = []string{"inet", "inet6"}

// RouteSpec and RuleSpec are the policy routing objects of a TPROXY layout in ip words.
func RuleSpec(family string, mark uint32) string {
	return fmt.Sprintf("ip %s rule add fwmark %s lookup %s priority %d", famFlag(family), markString(mark), tableString(mark), RulePriority)
}

// RouteSpec is the local default route of our table.
func RouteSpec(family string, mark uint32) string {
	dst := "0.0.0.0/0"
	if family == "inet6" {
		dst = "::/0"
	}
	return fmt.Sprintf("ip %s route add local %s dev lo table %s", famFlag(family), dst, tableString(mark))
}

func tableString(mark uint32) string {
	if mark == MarkUnknown {
		return "<mark>"
	}
	return fmt.Sprint(mark)
}

func famFlag(family string) string {
	if family == "inet6" {
		return "-6"
	}
	return "-4"
}

// Objects lists what the layout creates and how each goes, in the order the agent
// creates them (the journal's order).
func (l Layout) Objects() []plan.Object {
	var out []plan.Object
	if !l.TProxy {
		out = append(out, plan.Object{Kind: KindConntrack,
			Spec:   "conntrack entries of redirected connections (ct mark " + markString(l.Mark) + ")",
			Remove: "deleted after the table (netlink conntrack, by mark), so a client that reuses its source port is not stuck on the dead listener; after a crash by the restarted agent or the sweep"})
	}
	if l.TProxy {
		for _, fam := range Families {
			out = append(out, plan.Object{Kind: KindRoute, Spec: RouteSpec(fam, l.Mark),
				Remove: strings.Replace(RouteSpec(fam, l.Mark), " add ", " del ", 1) + " (by the agent, or from the journal after a crash)"})
			out = append(out, plan.Object{Kind: KindRule, Spec: RuleSpec(fam, l.Mark),
				Remove: strings.Replace(RuleSpec(fam, l.Mark), " add ", " del ", 1) + " (by the agent, or from the journal after a crash)"})
		}
	}
	out = append(out, plan.Object{Kind: KindTable, Spec: "table inet " + l.Table + " { flags owner; }",
		Remove: "nft delete table inet " + l.Table + "; the kernel deletes it when the agent's netlink socket closes (agent killed)"})
	for _, c := range l.Chains() {
		var rules []string
		for _, r := range l.Rules() {
			if r.Chain == c.Name {
				rules = append(rules, r.String())
			}
		}
		out = append(out, plan.Object{Kind: KindChain,
			Spec: fmt.Sprintf("chain %s { type %s hook %s priority %d; policy accept; %s; }", c.Name, c.Type, c.Hook, c.Priority,
				strings.Join(rules, "; ")),
			Remove: "deleted with table inet " + l.Table})
	}
	out = append(out, plan.Object{Kind: KindListener, Spec: l.ListenerSpec(), Remove: "closed by the agent after the table is gone; the kernel closes it when the agent exits"})
	return out
}

// ListenerSpec says where the agent listens and what it accepts.
func (l Layout) ListenerSpec() string {
	addrs := "127.0.0.1, ::1"
	how := "redirected connections only (others: dropped by chain in)"
	if l.TProxy {
		addrs = "0.0.0.0, :: (IP_TRANSPARENT)"
		how = "TPROXY'd connections only (a direct connection to the port is dropped by chain in); upstream connections keep the client's address and carry meta mark " + markString(l.Mark)
	} else {
		how += "; upstream connections carry meta mark " + markString(l.Mark) + " (SO_MARK) and are not redirected"
	}
	return fmt.Sprintf("%s on %s port %s inside the target's network namespace (%s): %s",
		l.Serves, strings.Join(l.Protos, "+"), port(l.Listen), addrs, how)
}
