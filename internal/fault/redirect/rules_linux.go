package redirect

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
)

var be = binary.BigEndian

// hooknum maps our hook names to the kernel's.
var hooknum = map[string]uint32{
	HookOutput:     nft.HookOutput,
	HookPrerouting: nft.HookPrerouting,
	HookInput:      nft.HookInput,
}

// Batch is the nftables transaction that creates the layout's owned table.
func (l Layout) Batch() (*nft.Batch, error) {
	tbl := nft.Table{Family: nft.FamilyINet, Name: l.Table, Owner: true}
	chains := map[string]nft.Chain{}
	var b nft.Batch
	b.AddTable(tbl)
	for _, c := range l.Chains() {
		ch := nft.Chain{Table: tbl, Name: c.Name, Hook: &nft.Hook{Type: c.Type, Hooknum: hooknum[c.Hook], Priority: c.Priority}}
		chains[c.Name] = ch
		b.AddChain(ch)
	}
	for _, r := range l.Rules() {
		alts, err := r.exprs()
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", r, err)
		}
		for _, e := range alts {
			b.AddRule(chains[r.Chain], e)
		}
	}
	return &b, b.Err()
}

// exprs turns the rule into nftables expressions: one rule per source CIDR (or one).
func (r Rule) exprs() ([][]expr.Any, error) {
	head, nfproto := r.matches()
	tail, err := r.actions(nfproto)
	if err != nil {
		return nil, err
	}
	if len(r.Sources) == 0 {
		return [][]expr.Any{append(head, tail...)}, nil
	}
	var out [][]expr.Any
	for _, s := range r.Sources {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", s, err)
		}
		out = append(out, append(append(append([]expr.Any{}, head...), nft.SourceMatch(p.Masked())...), tail...))
	}
	return out, nil
}

func cmpExpr(op expr.CmpOp, data []byte) expr.Any {
	return &expr.Cmp{Op: op, Register: 1, Data: data}
}

// matches are the rule's matches before its source addresses, and its IP version.
func (r Rule) matches() ([]expr.Any, byte) {
	var head []expr.Any
	cmp := cmpExpr
	if r.Mark != 0 {
		head = append(head, &expr.Meta{Key: expr.MetaKeyMARK, Register: 1}, cmp(expr.CmpOpEq, native32(r.Mark)))
	}
	if r.CtMark != 0 {
		head = append(head, &expr.Ct{Key: expr.CtKeyMARK, Register: 1}, cmp(expr.CmpOpEq, native32(r.CtMark)))
	}
	if r.NotCtMark != 0 {
		head = append(head, &expr.Ct{Key: expr.CtKeyMARK, Register: 1}, cmp(expr.CmpOpNeq, native32(r.NotCtMark)))
	}
	if r.IifLo {
		head = append(head, &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, cmp(expr.CmpOpEq, ifname("lo")))
	}
	if r.OifLo {
		head = append(head, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, cmp(expr.CmpOpEq, ifname("lo")))
	}
	nfproto := byte(unix.NFPROTO_IPV4)
	if r.Family == "ip6" {
		nfproto = unix.NFPROTO_IPV6
	}
	if r.Family != "" {
		head = append(head, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, cmp(expr.CmpOpEq, []byte{nfproto}))
	}
	return head, nfproto
}

// actions are the rule's matches after its source addresses (protocol, port), its
// actions, a counter and its verdict.
func (r Rule) actions(nfproto byte) ([]expr.Any, error) {
	cmp := cmpExpr
	var tail []expr.Any
	switch r.Proto {
	case "":
	case "tcp", "udp":
		p := byte(unix.IPPROTO_TCP)
		if r.Proto == "udp" {
			p = unix.IPPROTO_UDP
		}
		tail = append(tail, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, cmp(expr.CmpOpEq, []byte{p}))
	default:
		return nil, fmt.Errorf("protocol %q: want tcp or udp", r.Proto)
	}
	if r.DPort != 0 {
		tail = append(tail,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			cmp(expr.CmpOpEq, be.AppendUint16(nil, r.DPort)))
	}
	if r.SetCtMark != 0 {
		tail = append(tail, &expr.Immediate{Register: 1, Data: native32(r.SetCtMark)},
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true})
	}
	if r.SetMark != 0 {
		tail = append(tail, &expr.Immediate{Register: 1, Data: native32(r.SetMark)},
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true})
	}
	if r.MarkFromCt {
		tail = append(tail, &expr.Ct{Key: expr.CtKeyMARK, Register: 1},
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true})
	}
	if r.Redirect != 0 {
		tail = append(tail, &expr.Immediate{Register: 1, Data: be.AppendUint16(nil, r.Redirect)},
			&expr.Redir{RegisterProtoMin: 1, Flags: unix.NF_NAT_RANGE_PROTO_SPECIFIED})
	}
	if r.TProxy != 0 {
		if r.Family == "" {
			return nil, fmt.Errorf("tproxy needs an IP version")
		}
		tail = append(tail, &expr.Immediate{Register: 1, Data: be.AppendUint16(nil, r.TProxy)},
			&expr.TProxy{Family: nfproto, TableFamily: nft.FamilyINet, RegPort: 1})
	}
	tail = append(tail, &expr.Counter{})
	switch r.Verdict {
	case "":
	case "return":
		tail = append(tail, &expr.Verdict{Kind: expr.VerdictReturn})
	case "accept":
		tail = append(tail, &expr.Verdict{Kind: expr.VerdictAccept})
	case "drop":
		tail = append(tail, &expr.Verdict{Kind: expr.VerdictDrop})
	default:
		return nil, fmt.Errorf("verdict %q", r.Verdict)
	}
	return tail, nil
}

// native32 is a 32-bit mark as the kernel keeps it (host byte order).
func native32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}
