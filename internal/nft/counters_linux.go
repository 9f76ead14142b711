package nft

import (
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// CounterValue is what one counter expression of a rule counted.
type CounterValue struct {
	Packets uint64
	Bytes   uint64
}

// RuleInfo is a rule as the kernel lists it: its chain, the names of its expressions
// in order ("meta", "cmp", "counter", "numgen", "dup", "queue", ...) and the values of
// its counter expressions in order.
type RuleInfo struct {
	Chain    string
	Exprs    []string
	Counters []CounterValue
}

// Has says whether the rule has an expression of that name.
func (r RuleInfo) Has(name string) bool {
	for _, e := range r.Exprs {
		if e == name {
			return true
		}
	}
	return false
}

// Rules lists the rules of table t with their counters: one dump, read-only.
func (c *Conn) Rules(t Table) ([]RuleInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nl == nil {
		return nil, errors.New("nft: connection closed")
	}
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = bigEndian
	ae.String(unix.NFTA_RULE_TABLE, t.Name)
	attrs, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: append(nfgen(t.Family, 0), attrs...),
	}
	replies, err := c.nl.Execute(req)
	if err != nil {
		return nil, fmt.Errorf("listing the rules of table %s %s: %w", familyName(t.Family), t.Name, err)
	}
	var out []RuleInfo
	for _, r := range replies {
		if len(r.Data) < 4 {
			continue
		}
		ri, table, err := decodeRule(r.Data[4:])
		if err != nil {
			return nil, fmt.Errorf("decoding a rule of table %s: %w", t.Name, err)
		}
		if table == t.Name { // older kernels ignore the table filter of a dump
			out = append(out, ri)
		}
	}
	return out, nil
}

func decodeRule(b []byte) (ri RuleInfo, table string, err error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return ri, "", err
	}
	ad.ByteOrder = bigEndian
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_RULE_TABLE:
			table = ad.String()
		case unix.NFTA_RULE_CHAIN:
			ri.Chain = ad.String()
		case unix.NFTA_RULE_EXPRESSIONS:
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				for nd.Next() {
					if nd.Type() == unix.NFTA_LIST_ELEM {
						nd.Nested(func(ed *netlink.AttributeDecoder) error {
							ed.ByteOrder = bigEndian
							decodeExpr(ed, &ri)
							return nil
						})
					}
				}
				return nil
			})
		}
	}
	return ri, table, ad.Err()
}

// decodeExpr appends one expression's name (and, for a counter, its values) to ri.
func decodeExpr(ed *netlink.AttributeDecoder, ri *RuleInfo) {
	var name string
	var data []byte
	for ed.Next() {
		switch ed.Type() {
		case unix.NFTA_EXPR_NAME:
			name = ed.String()
		case unix.NFTA_EXPR_DATA:
			data = ed.Bytes()
		}
	}
	ri.Exprs = append(ri.Exprs, name)
	if name != "counter" {
		return
	}
	var v CounterValue
	if cd, err := netlink.NewAttributeDecoder(data); err == nil {
		cd.ByteOrder = bigEndian
		for cd.Next() {
			switch cd.Type() {
			case unix.NFTA_COUNTER_PACKETS:
				v.Packets = cd.Uint64()
			case unix.NFTA_COUNTER_BYTES:
				v.Bytes = cd.Uint64()
			}
		}
	}
	ri.Counters = append(ri.Counters, v)
}

// Tally sums the counters of rules: each rule's first counter is what it matched; its
// second, when it has one, what it acted on after a random pick (a rule with a single
// counter acts on everything it matches).
func Tally(rules []RuleInfo) (matched, acted uint64) {
	for _, r := range rules {
		switch len(r.Counters) {
		case 0:
		case 1:
			matched += r.Counters[0].Packets
			acted += r.Counters[0].Packets
		default:
			matched += r.Counters[0].Packets
			acted += r.Counters[1].Packets
		}
	}
	return matched, acted
}
