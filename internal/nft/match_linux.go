package nft

import (
	"fmt"
	"math"
	"net/netip"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// Direction of the packets a rule sees, relative to the target.
type Direction int

const (
	// Egress packets leave the target: the remote side is the destination.
	Egress Direction = iota
	// Ingress packets reach the target: the remote side is the source.
	Ingress
)

func (d Direction) String() string {
	if d == Ingress {
		return "ingress"
	}
	return "egress"
}

// Selector says which packets a rule hits. Fields are ANDed; values inside a field are
// ORed; an empty field matches anything.
type Selector struct {
	// Family of the table the rules go into: FamilyINet or FamilyNetdev.
	Family    byte
	Direction Direction
	// Remote are CIDRs of the remote side (IPv4 or IPv6, with a mask).
	Remote []string
	// Ports match the local or the remote port (either).
	Ports []uint16
	// Protocol: "", "tcp", "udp" or "icmp" (ICMPv6 for IPv6).
	Protocol string
	// Interfaces restricts inet rules to these interfaces (iifname/oifname). Not used for
	// netdev tables, whose chains are per device.
	Interfaces []string
	// SkipLoopback adds "iifname/oifname != lo" to inet rules (default interface set).
	SkipLoopback bool
}

// MaxRules bounds how many alternatives one Selector may expand to.
const MaxRules = 512

type ipVer int

const (
	anyIP ipVer = iota
	ip4
	ip6
)

// Rules expands the selector into alternatives: each is the AND of its expressions and
// a packet matches the selector when it matches any alternative. Append a verdict to
// each to make rules.
func (s Selector) Rules() ([][]expr.Any, error) {
	type alt struct {
		v ipVer
		e []expr.Any
	}
	addrs := []alt{{v: anyIP}}
	if len(s.Remote) > 0 {
		addrs = nil
		for _, c := range s.Remote {
			p, err := netip.ParsePrefix(c)
			if err != nil {
				return nil, fmt.Errorf("CIDR %q: %w", c, err)
			}
			p = p.Masked()
			v := ip4
			if p.Addr().Is6() && !p.Addr().Is4In6() {
				v = ip6
			}
			addrs = append(addrs, alt{v: v, e: append(s.ipVersion(v), addrMatch(p, s.Direction)...)})
		}
	}
	protos := []string{""}
	switch {
	case s.Protocol != "":
		protos = []string{s.Protocol}
	case len(s.Ports) > 0:
		protos = []string{"tcp", "udp"}
	}
	var out [][]expr.Any
	for _, a := range addrs {
		for _, proto := range protos {
			var protoAlts []alt
			switch proto {
			case "":
				protoAlts = []alt{{v: a.v}}
			case "tcp":
				protoAlts = []alt{{v: a.v, e: l4(unix.IPPROTO_TCP)}}
			case "udp":
				protoAlts = []alt{{v: a.v, e: l4(unix.IPPROTO_UDP)}}
			case "icmp":
				if a.v != ip6 {
					protoAlts = append(protoAlts, alt{v: ip4, e: l4(unix.IPPROTO_ICMP)})
				}
				if a.v != ip4 {
					protoAlts = append(protoAlts, alt{v: ip6, e: l4(unix.IPPROTO_ICMPV6)})
				}
			default:
				return nil, fmt.Errorf("protocol %q: want tcp, udp or icmp", proto)
			}
			for _, pa := range protoAlts {
				base := append([]expr.Any{}, a.e...)
				if a.v == anyIP && pa.v != anyIP {
					base = append(base, s.ipVersion(pa.v)...)
				}
				base = append(base, pa.e...)
				ports := [][]expr.Any{nil}
				if len(s.Ports) > 0 {
					if proto == "icmp" {
						return nil, fmt.Errorf("ports need protocol tcp or udp, not icmp")
					}
					ports = nil
					for _, p := range s.Ports {
						ports = append(ports, portMatch(0, p), portMatch(2, p))
					}
				}
				for _, pm := range ports {
					ifs := s.ifaceAlts()
					for _, im := range ifs {
						r := append(append(append([]expr.Any{}, im...), base...), pm...)
						out = append(out, r)
						if len(out) > MaxRules {
							return nil, fmt.Errorf("filter expands to more than %d rules: use fewer CIDRs, ports or interfaces", MaxRules)
						}
					}
				}
			}
		}
	}
	return out, nil
}

func (s Selector) ifaceAlts() [][]expr.Any {
	if s.Family != FamilyINet {
		return [][]expr.Any{nil}
	}
	key := expr.MetaKeyOIFNAME
	if s.Direction == Ingress {
		key = expr.MetaKeyIIFNAME
	}
	if len(s.Interfaces) > 0 {
		var out [][]expr.Any
		for _, i := range s.Interfaces {
			out = append(out, []expr.Any{
				&expr.Meta{Key: key, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(i)},
			})
		}
		return out
	}
	if s.SkipLoopback {
		return [][]expr.Any{{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname("lo")},
		}}
	}
	return [][]expr.Any{nil}
}

// ipVersion matches IPv4 or IPv6 packets: meta nfproto in inet tables, meta protocol
// (the ethertype) in netdev tables.
func (s Selector) ipVersion(v ipVer) []expr.Any {
	if s.Family == FamilyNetdev {
		et := uint16(unix.ETH_P_IP)
		if v == ip6 {
			et = unix.ETH_P_IPV6
		}
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: bigEndian.AppendUint16(nil, et)},
		}
	}
	np := byte(unix.NFPROTO_IPV4)
	if v == ip6 {
		np = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{np}},
	}
}

// SourceMatch matches the network header's source address against p (IPv4 or IPv6;
// p masked).
func SourceMatch(p netip.Prefix) []expr.Any { return addrMatch(p, Ingress) }

func addrMatch(p netip.Prefix, d Direction) []expr.Any {
	var off, n uint32
	a := p.Addr()
	if a.Is4() || a.Is4In6() {
		a = a.Unmap()
		off, n = 16, 4 // daddr
		if d == Ingress {
			off = 12 // saddr
		}
	} else {
		off, n = 24, 16
		if d == Ingress {
			off = 8
		}
	}
	bits := p.Bits()
	if a.Is4() && p.Addr().Is4In6() {
		bits -= 96
	}
	out := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}}
	if bits < int(n*8) {
		mask := make([]byte, n)
		for i := 0; i < bits; i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: mask, Xor: make([]byte, n)})
	}
	return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()})
}

func l4(proto byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// portMatch compares the transport header's source (off 0) or destination (off 2) port.
func portMatch(off uint32, port uint16) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: bigEndian.AppendUint16(nil, port)},
	}
}

func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// LossScale is the numgen modulus of Random: 0.01 % steps.
const LossScale = 10000

// Random matches a random percent of packets: numgen random mod 10000 → byteorder hton →
// cmp lt percent×100. The byteorder step is what the nft CLI emits: numgen writes host
// order and cmp compares bytes, so without it the comparison is wrong.
func Random(percent float64) []expr.Any {
	n := uint32(math.Round(percent * LossScale / 100))
	return []expr.Any{
		&expr.Numgen{Register: 1, Modulus: LossScale, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: bigEndian.AppendUint32(nil, n)},
	}
}

// Duplicate sends a copy of a random percent of the packets out of the interface with
// index ifindex (netdev family: nft_dup_netdev). The copy passes the hook again, so it
// is marked with mark and packets with that mark are skipped; the original leaves with
// the mark it had (saved in register 2 and set back after the dup). Its two counters
// count the packets it saw and the ones it duplicated.
func Duplicate(percent float64, mark, ifindex uint32) []expr.Any {
	out := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: nativeEndian.AppendUint32(nil, mark)},
	}
	out = append(out, Counter()) // matched: every packet that is not a copy
	out = append(out, Random(percent)...)
	return append(out,
		Counter(), // duplicated
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 2},
		&expr.Immediate{Register: 3, Data: nativeEndian.AppendUint32(nil, mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 3},
		&expr.Immediate{Register: 1, Data: nativeEndian.AppendUint32(nil, ifindex)},
		&expr.Dup{RegAddr: 1, RegDev: 1, IsRegDevSet: true},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 2},
	)
}

// Drop is the drop verdict.
func Drop() expr.Any { return &expr.Verdict{Kind: expr.VerdictDrop} }

// Accept is the accept verdict.
func Accept() expr.Any { return &expr.Verdict{Kind: expr.VerdictAccept} }

// Counter counts the packets and bytes that reach it in a rule (Conn.Rules reads it).
func Counter() expr.Any { return &expr.Counter{} }

// Queue flags.
const (
	// QueueBypass accepts packets when no program listens on the queue.
	QueueBypass uint16 = 0x1
	// QueueFanout spreads packets over num..num+total-1 by CPU.
	QueueFanout uint16 = 0x2
)

// QueueNative is the native nft `queue` expression (needs CONFIG_NFT_QUEUE).
func QueueNative(num, total, flags uint16) expr.Any {
	if total == 0 {
		total = 1
	}
	return &expr.Queue{Num: num, Total: total, Flag: expr.QueueFlag(flags)}
}

// QueueCompat is the xtables NFQUEUE target (revision 3) through nft_compat, for kernels
// without nft_queue. Info is struct xt_NFQ_info_v3: u16 queuenum, u16 queues_total,
// u16 flags, u16 pad (host byte order, as xtables does).
func QueueCompat(num, total, flags uint16) expr.Any {
	if total == 0 {
		total = 1
	}
	info := make([]byte, 8)
	nativeEndian.PutUint16(info[0:], num)
	nativeEndian.PutUint16(info[2:], total)
	nativeEndian.PutUint16(info[4:], flags)
	u := xt.Unknown(info)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}
}

// QueueVerdicts returns the ways to queue packets, best first: the native expression,
// then the compat target. Try each in a separate batch until the kernel accepts one.
func QueueVerdicts(num, total, flags uint16) []expr.Any {
	return []expr.Any{QueueNative(num, total, flags), QueueCompat(num, total, flags)}
}
