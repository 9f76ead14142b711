package network

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// tcStep is one tc object to create, in order. Exactly one of qdisc, class, filter is
// set. obj is what the agent reports for it; the u32 filters of one tcItem share the
// first one's object (the others have none).
type tcStep struct {
	qdisc  netlink.Qdisc
	class  netlink.Class
	filter netlink.Filter
	obj    plan.Object
}

// tcSetup is what one interface gets.
type tcSetup struct {
	steps []tcStep
	// netemAt is the index of the netem step, -1 if none.
	netemAt int
}

// netemAttrs converts the spec into netem parameters. withDelay/withLoss say whether
// netem does the delay and the loss (they may be done by nfqueue and nftables).
func netemAttrs(n *plan.Network, withDelay, withLoss bool) (netlink.NetemQdiscAttrs, error) {
	var a netlink.NetemQdiscAttrs
	if d := n.Delay; d != nil && withDelay {
		a.Latency = uint32(d.Latency.D().Microseconds())
		a.Jitter = uint32(d.Jitter.D().Microseconds())
		a.DelayCorr = float32(d.Correlation)
		// netem's latency and jitter are u32 scheduler ticks in TCA_OPTIONS.
		for _, v := range []struct {
			flag string
			us   uint32
		}{{"--latency", a.Latency}, {"--jitter", a.Jitter}} {
			if float64(v.us)*netlink.TickInUsec() > math.MaxUint32 {
				return a, fmt.Errorf("%s %s is above what netem accepts through this agent (%s)", v.flag,
					plan.Duration(int64(v.us)*1000).D(), plan.Duration(int64(math.MaxUint32/netlink.TickInUsec())*1000).D())
			}
		}
	}
	if l := n.Loss; l != nil && withLoss {
		a.Loss = float32(l.Percent)
		a.LossCorr = float32(l.Correlation)
	}
	if p := n.Duplicate; p != nil {
		a.Duplicate = float32(p.Percent)
		a.DuplicateCorr = float32(p.Correlation)
	}
	if p := n.Corrupt; p != nil {
		a.CorruptProb = float32(p.Percent)
		a.CorruptCorr = float32(p.Correlation)
	}
	if r := n.Reorder; r != nil {
		a.ReorderProb = float32(r.Percent)
		a.ReorderCorr = float32(r.Correlation)
		a.Gap = r.Gap
	}
	return a, nil
}

// buildTC turns the tc layout of link (tcLayout: the parts want says netem does, and
// the bandwidth) into netlink objects, in creation order.
func buildTC(link netlink.Link, n *plan.Network, want netemWant) (tcSetup, error) {
	idx := link.Attrs().Index
	setup := tcSetup{netemAt: -1}
	for _, it := range tcLayout(n, want, link.Attrs().Name) {
		switch {
		case it.qdisc != "":
			q, err := newQdisc(it, idx, n, want)
			if err != nil {
				return setup, err
			}
			if it.qdisc == "netem" {
				setup.netemAt = len(setup.steps)
			}
			setup.steps = append(setup.steps, tcStep{qdisc: q, obj: it.obj})
		case it.class != 0:
			cl := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Parent: netlink.MakeHandle(RootHandleMajor, 0), Handle: netlink.MakeHandle(RootHandleMajor, it.class)},
				netlink.HtbClassAttrs{Rate: it.rate, Ceil: it.rate, Buffer: it.burst, Cbuffer: it.burst, Quantum: htbQuantum(it.rate)})
			setup.steps = append(setup.steps, tcStep{class: cl, obj: it.obj})
		case it.filter:
			alts, err := u32Alternatives(n.Filter)
			if err != nil {
				return setup, err
			}
			for i, alt := range alts {
				prio := uint16(1)
				if alt.proto == unix.ETH_P_IPV6 {
					prio = 2
				}
				s := tcStep{filter: &netlink.U32{
					FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: netlink.MakeHandle(RootHandleMajor, 0), Priority: prio, Protocol: alt.proto},
					ClassId:     netlink.MakeHandle(RootHandleMajor, 1),
					Sel:         &netlink.TcU32Sel{Flags: nl.TC_U32_TERMINAL, Keys: alt.keys},
				}}
				if i == 0 {
					s.obj = it.obj
				}
				setup.steps = append(setup.steps, s)
			}
		}
	}
	return setup, nil
}

// newQdisc is the netlink qdisc of a tcItem on the interface idx.
func newQdisc(it tcItem, idx int, n *plan.Network, want netemWant) (netlink.Qdisc, error) {
	attrs := netlink.QdiscAttrs{LinkIndex: idx, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(it.major, 0)}
	if it.parent != 0 {
		attrs.Parent = netlink.MakeHandle(RootHandleMajor, it.parent)
	}
	switch it.qdisc {
	case "netem":
		na, err := netemAttrs(n, want.delay, want.loss)
		if err != nil {
			return nil, err
		}
		return netlink.NewNetem(attrs, na), nil
	case "tbf":
		burst, limit := TbfParams(n.Bandwidth)
		rate := n.Bandwidth.Rate / 8
		return &netlink.Tbf{QdiscAttrs: attrs, Rate: rate, Limit: limit, Buffer: netlink.Xmittime(rate, burst)}, nil
	default: // htb: unmatched traffic goes to class 2, the pass-through
		htb := netlink.NewHtb(attrs)
		htb.Defcls = 2
		return htb, nil
	}
}

// u32Alt is one u32 filter: all keys must match (AND); alternatives are ORed.
type u32Alt struct {
	proto uint16 // ETH_P_IP or ETH_P_IPV6
	keys  []netlink.TcU32Key
}

// u32Alternatives matches egress traffic of f: remote = destination; as many as
// matchRules(f, f.CIDRs) counts (Validate bounds it). Port keys assume a header without
// IPv4 options or IPv6 extension headers (like tc's `match ip dport`). Values are in host
// order; the netlink library converts them.
func u32Alternatives(f plan.Filter) ([]u32Alt, error) {
	type addr struct {
		v6   bool
		keys []netlink.TcU32Key
	}
	addrs := []addr{{v6: false}, {v6: true}}
	if len(f.CIDRs) > 0 {
		addrs = nil
	}
	for _, c := range f.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("--cidr %q: %w", c, err)
		}
		p = p.Masked()
		a, bits := p.Addr().Unmap(), p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		if a.Is4() {
			addrs = append(addrs, addr{keys: addrKeys(a.AsSlice(), bits, 16)})
		} else {
			addrs = append(addrs, addr{v6: true, keys: addrKeys(a.AsSlice(), bits, 24)})
		}
	}
	protos := []string{""}
	switch {
	case f.Protocol != "":
		protos = []string{f.Protocol}
	case len(f.Ports) > 0:
		protos = []string{"tcp", "udp"}
	}
	var out []u32Alt
	for _, a := range addrs {
		for _, proto := range protos {
			keys := append(append([]netlink.TcU32Key{}, a.keys...), protoKeys(proto, a.v6)...)
			for _, pk := range portKeys(f.Ports, a.v6) {
				k := append(append([]netlink.TcU32Key{}, keys...), pk...)
				if len(k) == 0 {
					// Match all of this IP version.
					k = []netlink.TcU32Key{{Off: 0, Mask: 0, Val: 0}}
				}
				alt := u32Alt{proto: unix.ETH_P_IP, keys: k}
				if a.v6 {
					alt.proto = unix.ETH_P_IPV6
				}
				out = append(out, alt)
			}
		}
	}
	return out, nil
}

// protoKeys match the IP protocol (IPv6: next header) proto; none for "".
func protoKeys(proto string, v6 bool) []netlink.TcU32Key {
	if proto == "" {
		return nil
	}
	num := map[string]uint32{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "icmp": unix.IPPROTO_ICMP}[proto]
	if v6 {
		if proto == "icmp" {
			num = unix.IPPROTO_ICMPV6
		}
		return []netlink.TcU32Key{{Off: 4, Mask: 0x0000ff00, Val: num << 8}}
	}
	return []netlink.TcU32Key{{Off: 8, Mask: 0x00ff0000, Val: num << 16}}
}

// portKeys are the alternatives of the port match: source or destination port, for each
// port; one empty alternative without ports.
func portKeys(ports []uint16, v6 bool) [][]netlink.TcU32Key {
	if len(ports) == 0 {
		return [][]netlink.TcU32Key{nil}
	}
	off := int32(20)
	if v6 {
		off = 40
	}
	var out [][]netlink.TcU32Key
	for _, p := range ports {
		out = append(out,
			[]netlink.TcU32Key{{Off: off, Mask: 0xffff0000, Val: uint32(p) << 16}}, // sport
			[]netlink.TcU32Key{{Off: off, Mask: 0x0000ffff, Val: uint32(p)}})       // dport
	}
	return out
}

// addrKeys matches bits of addr at byte offset off, one key per 32-bit word.
func addrKeys(addr []byte, bits int, off int32) []netlink.TcU32Key {
	var keys []netlink.TcU32Key
	for w := 0; w*32 < bits; w++ {
		n := bits - w*32
		if n > 32 {
			n = 32
		}
		mask := uint32(0xffffffff) << (32 - n)
		val := binary.BigEndian.Uint32(addr[w*4:]) & mask
		keys = append(keys, netlink.TcU32Key{Off: off + int32(w*4), Mask: mask, Val: val})
	}
	if len(keys) == 0 { // /0
		keys = append(keys, netlink.TcU32Key{Off: off, Mask: 0, Val: 0})
	}
	return keys
}

// htbQuantum is the bytes a class may send per round: rate/10 (htb's r2q) bounded to
// [1 frame, 200000] to avoid the kernel's "quantum is big/small" warnings.
func htbQuantum(rate uint64) uint32 {
	q := rate / 8 / 10
	if q < 1600 {
		q = 1600
	}
	if q > 200000 {
		q = 200000
	}
	return uint32(q)
}
