// Package netobj renders the kernel objects that network faults create (tc qdiscs,
// classes and filters, nftables tables, chains and rules, nfqueues) as plan.Objects: what
// each object is, in tc/nft words, and how it goes away. --dry-run (the catalog's
// Describe) and the agent's injected/recovered events both render through these
// functions, from the same layout of the fault, so their texts cannot drift apart.
//
// Portable: the CLI uses it on every OS.
package netobj

import (
	"fmt"
	"math"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Object kinds.
const (
	KindQdisc  = "qdisc"
	KindClass  = "tc-class"
	KindFilter = "tc-filter"
	KindTable  = "nft-table"
	KindChain  = "nft-chain"
	KindRule   = "nft-rule"
	KindQueue  = "nfqueue"
)

// Placeholders for what only the node knows, in --dry-run.
const (
	// AnyInterface stands for each interface the fault acts on when --interface is not
	// given (the agent lists them in the target's namespace).
	AnyInterface = "<if>"
	// EachInterface is what an object's Interface says in --dry-run for AnyInterface.
	EachInterface = "each interface but lo"
)

// Handle is a tc handle in tc's words: "4b43:" (a qdisc) or "4b43:1" (a class).
func Handle(major, minor uint16) string {
	if minor == 0 {
		return fmt.Sprintf("%x:", major)
	}
	return fmt.Sprintf("%x:%x", major, minor)
}

// TC renders the tc objects of one interface, all below one root qdisc of ours.
type TC struct {
	Interface string
	// Root is the major of the root qdisc: deleting it removes everything below it.
	Root uint16
}

func (tc TC) sub() string {
	return "removed with the root qdisc " + Handle(tc.Root, 0) + " of " + tc.Interface
}

// Qdisc is a qdisc with its parameters in tc words ("netem delay 100ms", "tbf rate
// 1mbit burst 9600b limit 15850b", "htb default 2"), its handle major and its parent
// class ("" = the root).
func (tc TC) Qdisc(params string, major uint16, parent string) plan.Object {
	o := plan.Object{Kind: KindQdisc, Interface: tc.Interface}
	if parent == "" {
		o.Spec = fmt.Sprintf("%s handle %s root", params, Handle(major, 0))
		o.Remove = fmt.Sprintf("tc qdisc del dev %s root handle %s (only while the root qdisc has that handle and type)", tc.Interface, Handle(major, 0))
		return o
	}
	o.Spec = fmt.Sprintf("%s handle %s parent %s", params, Handle(major, 0), parent)
	o.Remove = tc.sub()
	return o
}

// Class is an htb class of the root qdisc with its parameters ("rate 1mbit ceil 1mbit
// burst 1600b (faulty)").
func (tc TC) Class(minor uint16, params string) plan.Object {
	return plan.Object{Kind: KindClass, Interface: tc.Interface,
		Spec: fmt.Sprintf("htb classid %s %s", Handle(tc.Root, minor), params), Remove: tc.sub()}
}

// Filter is the set of u32 filters (count of them: one per IP version, protocol, port
// and side) that steer the packets m matches to class flowid.
func (tc TC) Filter(m Match, flowid uint16, count int) plan.Object {
	return plan.Object{Kind: KindFilter, Interface: tc.Interface,
		Spec: fmt.Sprintf("u32 %s flowid %s (%d filters; ports assume no IP options or extension headers)",
			m, Handle(tc.Root, flowid), count),
		Remove: tc.sub()}
}

// Table is an nftables table the agent owns.
type Table struct {
	Family string // "inet", "netdev"
	Name   string
	// Owner is the kernel's owner flag: the table dies with the agent's netlink socket.
	Owner bool
}

func (t Table) String() string { return t.Family + " " + t.Name }

// Object is the table itself. how is the agent's own way of removing it ("" = a plain
// delete); what happens when the agent is killed follows from Owner.
func (t Table) Object(how string) plan.Object {
	if how == "" {
		how = "nft delete table " + t.String()
	}
	o := plan.Object{Kind: KindTable, Spec: "table " + t.String()}
	if t.Owner {
		o.Spec += " { flags owner; }"
		o.Remove = how + "; the kernel deletes it when the agent's netlink socket closes (agent killed)"
	} else {
		o.Remove = how + " (by the agent, or from the journal after a crash: this kernel has no owned tables)"
	}
	return o
}

// Hook is where a base chain is attached.
type Hook struct {
	Name     string // "ingress", "egress" (netdev), "prerouting", "output", "postrouting"
	Device   string // the interface of a netdev chain
	Priority int
}

// Chain is a base chain of the table; rules, if not "", says in words what it does
// (for a chain whose rules are not listed as objects of their own).
func (t Table) Chain(name string, h Hook, rules string) plan.Object {
	dev := ""
	if h.Device != "" {
		dev = "device " + h.Device + " "
	}
	spec := fmt.Sprintf("chain %s { type filter hook %s %spriority %d; policy accept; }", name, h.Name, dev, h.Priority)
	if rules != "" {
		spec += " " + rules
	}
	return plan.Object{Kind: KindChain, Interface: h.Device, Spec: spec, Remove: "deleted with table " + t.String()}
}

// Rule is one rule of a chain of the table, in words; first, if not "", is what the
// agent does to it before the table goes ("flushed first on recovery").
func (t Table) Rule(chain, words, first string) plan.Object {
	rm := "deleted with table " + t.String()
	if first != "" {
		rm = first + ", then " + rm
	}
	return plan.Object{Kind: KindRule, Spec: "chain " + chain + ": " + words, Remove: rm}
}

// Queue is an nfqueue the agent reads; what says what it does with the packets.
func Queue(num uint16, what string) plan.Object {
	return plan.Object{Kind: KindQueue, Spec: fmt.Sprintf("nfqueue %d: %s", num, what),
		Remove: "agent accepts every held packet and unbinds; the kernel unbinds when the agent exits"}
}

// LossScale is the numgen modulus of a random drop: 0.01 % steps (nft.LossScale).
const LossScale = 10000

// LossThreshold is the numgen value below which a packet is dropped for percent.
func LossThreshold(percent float64) uint32 {
	return uint32(math.Round(percent * LossScale / 100))
}

// RandomDrop says in nft words that percent of the packets are dropped.
func RandomDrop(percent float64) string {
	return fmt.Sprintf("numgen random mod %d < %d drop", LossScale, LossThreshold(percent))
}

// Match is what a rule or filter matches. Fields are ANDed, values in a field ORed.
type Match struct {
	// Ingress: packets reaching the target (the remote side is the source, the
	// interface the input one); else leaving it.
	Ingress bool
	// Interfaces, if any, restrict the match to these interfaces; SkipLoopback, without
	// Interfaces, excludes lo.
	Interfaces   []string
	SkipLoopback bool
	Remote       []string // CIDRs of the remote side
	Protocol     string   // "", "tcp", "udp", "icmp"
	NotTCP       bool     // everything but TCP
	Ports        []uint16 // the local or the remote port
}

// String is the match in nft-like words, e.g. `oifname != "lo" ip/ip6 daddr
// { 10.0.0.0/8 } meta l4proto tcp th sport/dport { 80 }`; "" matches everything.
func (m Match) String() string {
	ifKey, addrKey := "oifname", "daddr"
	if m.Ingress {
		ifKey, addrKey = "iifname", "saddr"
	}
	var w []string
	switch {
	case len(m.Interfaces) > 0:
		w = append(w, fmt.Sprintf("%s { %s }", ifKey, strings.Join(m.Interfaces, ", ")))
	case m.SkipLoopback:
		w = append(w, ifKey+` != "lo"`)
	}
	if len(m.Remote) > 0 {
		w = append(w, fmt.Sprintf("ip/ip6 %s { %s }", addrKey, strings.Join(m.Remote, ", ")))
	}
	switch {
	case m.NotTCP:
		w = append(w, "meta l4proto != tcp")
	case m.Protocol != "":
		w = append(w, "meta l4proto "+m.Protocol)
	}
	if len(m.Ports) > 0 {
		ps := make([]string, len(m.Ports))
		for i, p := range m.Ports {
			ps[i] = fmt.Sprint(p)
		}
		w = append(w, fmt.Sprintf("th sport/dport { %s }", strings.Join(ps, ", ")))
	}
	return strings.Join(w, " ")
}
