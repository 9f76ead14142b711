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

// passRate is the rate of the htb classes: high enough never to shape.
const passRate = 100_000_000_000

// tcStep is one tc object to create, in order. Exactly one of qdisc, class, filter is set.
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

// buildTC returns the qdiscs/classes/filters for link (egress). spec is the netem part
// (nil: no netem); bw the tbf part (nil: none).
func buildTC(link netlink.Link, n *plan.Network, want netemWant) (tcSetup, error) {
	idx := link.Attrs().Index
	name := link.Attrs().Name
	setup := tcSetup{netemAt: -1}
	var netemQ *netlink.Netem
	if want.any() {
		na, err := netemAttrs(n, want.delay, want.loss)
		if err != nil {
			return setup, err
		}
		netemQ = netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: idx}, na)
	}
	var tbfQ *netlink.Tbf
	if b := n.Bandwidth; b != nil {
		burst, limit := TbfParams(b)
		rate := b.Rate / 8
		tbfQ = &netlink.Tbf{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx},
			Rate:       rate,
			Limit:      limit,
			Buffer:     netlink.Xmittime(rate, burst),
		}
	}
	if netemQ == nil && tbfQ == nil {
		return setup, nil
	}
	rootDel := fmt.Sprintf("qdisc del dev %s root handle %x: (only while the root qdisc has that handle)", name, RootHandleMajor)
	sub := fmt.Sprintf("removed with the root qdisc %x: on %s", RootHandleMajor, name)
	add := func(s tcStep) {
		s.obj.Interface = name
		setup.steps = append(setup.steps, s)
	}
	addQ := func(q netlink.Qdisc, parent uint32, major uint16, spec, remove string) {
		q.Attrs().Parent = parent
		q.Attrs().Handle = netlink.MakeHandle(major, 0)
		where := "root"
		if parent != netlink.HANDLE_ROOT {
			where = "parent " + netlink.HandleStr(parent)
		}
		if _, ok := q.(*netlink.Netem); ok {
			setup.netemAt = len(setup.steps)
		}
		add(tcStep{qdisc: q, obj: plan.Object{Kind: "qdisc", Spec: fmt.Sprintf("%s handle %x: %s", spec, major, where), Remove: remove}})
	}
	netemSpec := NetemSpec(netemOnlyView(n, want), want.loss)
	if n.Filter.Empty() {
		switch {
		case netemQ != nil && tbfQ != nil:
			// tbf on top, netem below it: packets wait in netem's queue until tbf has
			// tokens. netem on top fed tbf in bursts that overflowed tbf's queue: TCP
			// reached 87% of the rate (measured under make test-netem).
			addQ(tbfQ, netlink.HANDLE_ROOT, RootHandleMajor, TbfSpec(n.Bandwidth), rootDel)
			addQ(netemQ, netlink.MakeHandle(RootHandleMajor, 1), ChildHandleMajor, netemSpec, sub)
		case netemQ != nil:
			addQ(netemQ, netlink.HANDLE_ROOT, RootHandleMajor, netemSpec, rootDel)
		default:
			addQ(tbfQ, netlink.HANDLE_ROOT, RootHandleMajor, TbfSpec(n.Bandwidth), rootDel)
		}
		return setup, nil
	}
	// Filtered: htb root; matching traffic → class 1 (the fault), the rest → class 2
	// (pass-through). prio is missing on some kernels (this one), htb is everywhere.
	root := netlink.MakeHandle(RootHandleMajor, 0)
	htb := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: idx})
	htb.Defcls = 2
	addQ(htb, netlink.HANDLE_ROOT, RootHandleMajor, "htb default 2", rootDel)
	// Bandwidth for filtered traffic is shaped by the htb class itself: tbf under an htb
	// class reached only ~85% of the rate here (htb polls a throttled child late).
	faultyRate, faultySpec := uint64(passRate), "rate 100gbit"
	var buf uint32
	if b := n.Bandwidth; b != nil {
		faultyRate = b.Rate
		buf, _ = TbfParams(b)
		faultySpec = fmt.Sprintf("rate %s ceil %s burst %db", plan.FormatRate(b.Rate), plan.FormatRate(b.Rate), buf)
	}
	for _, c := range []struct {
		minor uint16
		rate  uint64
		burst uint32
		what  string
	}{{1, faultyRate, buf, faultySpec + " (faulty)"}, {2, passRate, 0, "rate 100gbit (pass-through)"}} {
		cl := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Parent: root, Handle: netlink.MakeHandle(RootHandleMajor, c.minor)},
			netlink.HtbClassAttrs{Rate: c.rate, Ceil: c.rate, Buffer: c.burst, Cbuffer: c.burst, Quantum: htbQuantum(c.rate)})
		add(tcStep{class: cl, obj: plan.Object{Kind: "tc-class", Spec: fmt.Sprintf("htb classid %x:%d %s", RootHandleMajor, c.minor, c.what), Remove: sub}})
	}
	faulty := netlink.MakeHandle(RootHandleMajor, 1)
	if netemQ != nil {
		addQ(netemQ, faulty, ChildHandleMajor, netemSpec, sub)
	}
	alts, err := u32Alternatives(n.Filter)
	if err != nil {
		return setup, err
	}
	for _, alt := range alts {
		prio := uint16(1)
		if alt.proto == unix.ETH_P_IPV6 {
			prio = 2
		}
		f := &netlink.U32{
			FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: root, Priority: prio, Protocol: alt.proto},
			ClassId:     faulty,
			Sel:         &netlink.TcU32Sel{Flags: nl.TC_U32_TERMINAL, Keys: alt.keys},
		}
		add(tcStep{filter: f, obj: plan.Object{Kind: "tc-filter", Spec: fmt.Sprintf("u32 %s %s flowid %x:1", protoName(alt.proto), alt.text, RootHandleMajor), Remove: sub}})
	}
	return setup, nil
}

func protoName(p uint16) string {
	if p == unix.ETH_P_IPV6 {
		return "protocol ipv6"
	}
	return "protocol ip"
}

// u32Alt is one u32 filter: all keys must match (AND); alternatives are ORed.
type u32Alt struct {
	proto uint16 // ETH_P_IP or ETH_P_IPV6
	keys  []netlink.TcU32Key
	text  string
}

// u32Alternatives matches egress traffic of f: remote = destination. Port keys assume
// a header without IPv4 options or IPv6 extension headers (like tc's `match ip dport`).
// Values are in host order; the netlink library converts them.
func u32Alternatives(f plan.Filter) ([]u32Alt, error) {
	type addr struct {
		v6   bool
		keys []netlink.TcU32Key
		text string
	}
	var addrs []addr
	if len(f.CIDRs) == 0 {
		addrs = []addr{{v6: false}, {v6: true}}
	}
	for _, c := range f.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("--cidr %q: %w", c, err)
		}
		p = p.Masked()
		a := p.Addr().Unmap()
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		if a.Is4() {
			addrs = append(addrs, addr{keys: addrKeys(a.AsSlice(), bits, 16), text: "match ip dst " + c})
		} else {
			addrs = append(addrs, addr{v6: true, keys: addrKeys(a.AsSlice(), bits, 24), text: "match ip6 dst " + c})
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
			keys := append([]netlink.TcU32Key{}, a.keys...)
			text := a.text
			if proto != "" {
				num := map[string]uint32{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "icmp": unix.IPPROTO_ICMP}[proto]
				if a.v6 {
					if proto == "icmp" {
						num = unix.IPPROTO_ICMPV6
					}
					keys = append(keys, netlink.TcU32Key{Off: 4, Mask: 0x0000ff00, Val: num << 8})
				} else {
					keys = append(keys, netlink.TcU32Key{Off: 8, Mask: 0x00ff0000, Val: num << 16})
				}
				text = join(text, "protocol "+proto)
			}
			portOff := int32(20)
			if a.v6 {
				portOff = 40
			}
			ports := []struct {
				k    []netlink.TcU32Key
				text string
			}{{}}
			if len(f.Ports) > 0 {
				ports = ports[:0]
				for _, p := range f.Ports {
					ports = append(ports,
						struct {
							k    []netlink.TcU32Key
							text string
						}{[]netlink.TcU32Key{{Off: portOff, Mask: 0xffff0000, Val: uint32(p) << 16}}, fmt.Sprintf("sport %d", p)},
						struct {
							k    []netlink.TcU32Key
							text string
						}{[]netlink.TcU32Key{{Off: portOff, Mask: 0x0000ffff, Val: uint32(p)}}, fmt.Sprintf("dport %d", p)})
				}
			}
			for _, pk := range ports {
				k := append(append([]netlink.TcU32Key{}, keys...), pk.k...)
				if len(k) == 0 {
					// Match all of this IP version.
					k = []netlink.TcU32Key{{Off: 0, Mask: 0, Val: 0}}
				}
				proto := uint16(unix.ETH_P_IP)
				if a.v6 {
					proto = unix.ETH_P_IPV6
				}
				out = append(out, u32Alt{proto: proto, keys: k, text: join(text, pk.text)})
			}
		}
	}
	if len(out) > 256 {
		return nil, fmt.Errorf("filter expands to %d tc filters (more than 256): use fewer --cidr or --port values", len(out))
	}
	return out, nil
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

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + " " + b
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
