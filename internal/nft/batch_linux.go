package nft

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

var bigEndian = binary.BigEndian

// Families used by the tool.
const (
	FamilyINet   = byte(unix.NFPROTO_INET)
	FamilyNetdev = byte(unix.NFPROTO_NETDEV)
)

// Hooks. inet: prerouting, input, forward, output, postrouting; netdev: ingress, egress.
const (
	HookPrerouting  = uint32(unix.NF_INET_PRE_ROUTING)
	HookInput       = uint32(unix.NF_INET_LOCAL_IN)
	HookForward     = uint32(unix.NF_INET_FORWARD)
	HookOutput      = uint32(unix.NF_INET_LOCAL_OUT)
	HookPostrouting = uint32(unix.NF_INET_POST_ROUTING)
	HookIngress     = uint32(unix.NF_NETDEV_INGRESS)
	HookEgress      = uint32(1) // NF_NETDEV_EGRESS, linux 5.16+
)

// Table is an nftables table. Owner sets NFT_TABLE_F_OWNER.
type Table struct {
	Family byte
	Name   string
	Owner  bool
}

// Chain is a chain of a table; with Hook set it is a base chain.
type Chain struct {
	Table Table
	Name  string
	Hook  *Hook
}

// Hook makes a base chain: where it is attached and what it does by default.
type Hook struct {
	Type     string // "filter" (default)
	Hooknum  uint32
	Priority int32
	// Device is the interface of a netdev ingress/egress chain.
	Device string
	// Drop sets the policy to drop; the default is accept.
	Drop bool
}

// Batch collects messages that Conn.Send commits as one transaction.
type Batch struct {
	msgs []netlink.Message
	what []string
	err  error
}

// Len is the number of messages in the batch.
func (b *Batch) Len() int { return len(b.msgs) }

// Messages returns the batch's messages (without the begin/end markers), for tests.
func (b *Batch) Messages() []netlink.Message { return b.msgs }

func (b *Batch) add(typ uint16, flags netlink.HeaderFlags, family byte, what string, attrs []netlink.Attribute) {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		if b.err == nil {
			b.err = fmt.Errorf("encoding %s: %w", what, err)
		}
		return
	}
	b.msgs = append(b.msgs, netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ),
			Flags: netlink.Request | netlink.Acknowledge | flags,
		},
		Data: append(nfgen(family, 0), data...),
	})
	b.what = append(b.what, what)
}

// Err is the first encoding error, also returned by Conn.Send.
func (b *Batch) Err() error { return b.err }

// AddTable creates t; it fails if t exists (NLM_F_EXCL), so we never adopt a table that
// someone else made.
func (b *Batch) AddTable(t Table) {
	var flags uint32
	if t.Owner {
		flags |= TableFlagOwner
	}
	b.add(unix.NFT_MSG_NEWTABLE, netlink.Create|netlink.Excl, t.Family, "table "+familyName(t.Family)+" "+t.Name, []netlink.Attribute{
		{Type: unix.NFTA_TABLE_NAME, Data: cstr(t.Name)},
		{Type: unix.NFTA_TABLE_FLAGS, Data: be32(flags)},
	})
}

// DelTable deletes t with everything in it.
func (b *Batch) DelTable(t Table) {
	b.add(unix.NFT_MSG_DELTABLE, 0, t.Family, "delete table "+familyName(t.Family)+" "+t.Name, []netlink.Attribute{
		{Type: unix.NFTA_TABLE_NAME, Data: cstr(t.Name)},
	})
}

// FlushTable deletes every rule of t (chains stay).
func (b *Batch) FlushTable(t Table) {
	b.add(unix.NFT_MSG_DELRULE, 0, t.Family, "flush table "+familyName(t.Family)+" "+t.Name, []netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: cstr(t.Name)},
	})
}

// FlushChain deletes every rule of c.
func (b *Batch) FlushChain(c Chain) {
	b.add(unix.NFT_MSG_DELRULE, 0, c.Table.Family, "flush chain "+c.Name, []netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: cstr(c.Table.Name)},
		{Type: unix.NFTA_RULE_CHAIN, Data: cstr(c.Name)},
	})
}

// AddChain creates c.
func (b *Batch) AddChain(c Chain) {
	attrs := []netlink.Attribute{
		{Type: unix.NFTA_CHAIN_TABLE, Data: cstr(c.Table.Name)},
		{Type: unix.NFTA_CHAIN_NAME, Data: cstr(c.Name)},
	}
	if h := c.Hook; h != nil {
		hook := []netlink.Attribute{
			{Type: unix.NFTA_HOOK_HOOKNUM, Data: be32(h.Hooknum)},
			{Type: unix.NFTA_HOOK_PRIORITY, Data: be32(uint32(h.Priority))},
		}
		if h.Device != "" {
			hook = append(hook, netlink.Attribute{Type: unix.NFTA_HOOK_DEV, Data: cstr(h.Device)})
		}
		hb, err := netlink.MarshalAttributes(hook)
		if err != nil && b.err == nil {
			b.err = err
		}
		policy := uint32(1) // NF_ACCEPT
		if h.Drop {
			policy = 0 // NF_DROP
		}
		typ := h.Type
		if typ == "" {
			typ = "filter"
		}
		attrs = append(attrs,
			netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_CHAIN_HOOK, Data: hb},
			netlink.Attribute{Type: unix.NFTA_CHAIN_POLICY, Data: be32(policy)},
			netlink.Attribute{Type: unix.NFTA_CHAIN_TYPE, Data: cstr(typ)},
		)
	}
	b.add(unix.NFT_MSG_NEWCHAIN, netlink.Create, c.Table.Family, "chain "+c.Table.Name+" "+c.Name, attrs)
}

// AddRule appends a rule made of exprs to c.
func (b *Batch) AddRule(c Chain, exprs []expr.Any) {
	list := make([]netlink.Attribute, 0, len(exprs))
	for _, e := range exprs {
		data, err := expr.Marshal(c.Table.Family, e)
		if err != nil {
			if b.err == nil {
				b.err = fmt.Errorf("encoding expression %T in chain %s: %w", e, c.Name, err)
			}
			return
		}
		list = append(list, netlink.Attribute{Type: unix.NLA_F_NESTED | unix.NFTA_LIST_ELEM, Data: data})
	}
	lb, err := netlink.MarshalAttributes(list)
	if err != nil {
		if b.err == nil {
			b.err = err
		}
		return
	}
	b.add(unix.NFT_MSG_NEWRULE, netlink.Create|netlink.Append, c.Table.Family, fmt.Sprintf("rule %d in chain %s", len(b.msgs), c.Name), []netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: cstr(c.Table.Name)},
		{Type: unix.NFTA_RULE_CHAIN, Data: cstr(c.Name)},
		{Type: unix.NLA_F_NESTED | unix.NFTA_RULE_EXPRESSIONS, Data: lb},
	})
}

func nfgen(family byte, resID uint16) []byte {
	return []byte{family, unix.NFNETLINK_V0, byte(resID >> 8), byte(resID)}
}

func cstr(s string) []byte { return append([]byte(s), 0) }

func be32(v uint32) []byte { return bigEndian.AppendUint32(nil, v) }

func familyName(f byte) string {
	switch f {
	case FamilyINet:
		return "inet"
	case FamilyNetdev:
		return "netdev"
	case unix.NFPROTO_IPV4:
		return "ip"
	case unix.NFPROTO_IPV6:
		return "ip6"
	}
	return fmt.Sprintf("family%d", f)
}

// FamilyName is the nft CLI's word for a table family ("inet", "netdev", ...).
func FamilyName(f byte) string { return familyName(f) }
