package nft

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Prefix starts the name of every table the tool owns. Recovery deletes only tables whose
// name has this prefix.
const Prefix = "kubectl_chaos_"

// Kernel constants missing from x/sys/unix.
const (
	// TableFlagOwner is NFT_TABLE_F_OWNER (linux 5.12+).
	TableFlagOwner uint32 = 0x2
	// nftaTableOwner is NFTA_TABLE_OWNER: the owning socket's netlink port id.
	nftaTableOwner = 7
)

// TableName returns Prefix + id, with id reduced to [a-z0-9_] and at most 48 bytes so the
// name stays readable in `nft list tables`.
func TableName(id string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(id) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 48 {
			break
		}
	}
	return Prefix + b.String()
}

// ExperimentTableName names the table an experiment owns on one target: Prefix, kind
// (e.g. "delay", may be empty, cut to 8 bytes), the experiment ID (readable, cut to 24
// bytes) and a 12-hex-digit hash of the full experiment ID and target, which decides. Two experiments on the same target get two names, so
// each can own its table (an owned table of another socket cannot be replaced), and the
// same experiment on two targets in one netns too. At most 14+8+1+24+1+12 = 60 bytes
// (the kernel allows 256), and within TableName's 48-byte cut so the hash is never lost.
func ExperimentTableName(kind, experiment, target string) string {
	sum := sha256.Sum256([]byte(experiment + "\x00" + target))
	exp := experiment
	if exp == "" {
		exp = "x"
	}
	if len(exp) > 24 {
		exp = exp[:24]
	}
	id := exp + "_" + hex.EncodeToString(sum[:6])
	if kind != "" {
		if len(kind) > 8 {
			kind = kind[:8]
		}
		id = kind + "_" + id
	}
	return TableName(id)
}

// Conn is one NETLINK_NETFILTER socket opened inside a network namespace. Owned tables
// created through it live as long as it is open.
type Conn struct {
	mu sync.Mutex
	nl *netlink.Conn
}

// Dial opens the socket in the network namespace open as netnsFD (e.g. from
// /proc/<pid>/ns/net). netnsFD < 0 means the caller's own namespace. The namespace switch
// happens on a locked OS thread that is switched back before it is released
// (mdlayher/socket).
func Dial(netnsFD int) (*Conn, error) {
	cfg := &netlink.Config{}
	if netnsFD >= 0 {
		cfg.NetNS = netnsFD
	}
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening a netfilter netlink socket in netns fd %d: %w", netnsFD, err)
	}
	// Extended acks give the kernel's reason for a refused message.
	_ = nl.SetOption(netlink.ExtendedAcknowledge, true)
	return &Conn{nl: nl}, nil
}

// DialPath is Dial for a namespace path such as /proc/123/ns/net or /run/netns/x.
func DialPath(path string) (*Conn, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening netns %s: %w", path, err)
	}
	defer f.Close()
	return Dial(int(f.Fd()))
}

// PortID is the socket's netlink port id: the owner of the tables it creates.
func (c *Conn) PortID() uint32 { return c.nl.PID() }

// Close closes the socket. The kernel deletes every owned table created through it.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nl == nil {
		return nil
	}
	err := c.nl.Close()
	c.nl = nil
	return err
}

// Send commits the batch as one nftables transaction: all of it or nothing. The error
// names the first refused message.
func (c *Conn) Send(b *Batch) error {
	if b == nil || len(b.msgs) == 0 {
		return nil
	}
	if b.err != nil {
		return b.err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nl == nil {
		return errors.New("nft: connection closed")
	}
	msgs := make([]netlink.Message, 0, len(b.msgs)+2)
	msgs = append(msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request},
		Data:   nfgen(unix.NFPROTO_UNSPEC, unix.NFNL_SUBSYS_NFTABLES),
	})
	msgs = append(msgs, b.msgs...)
	msgs = append(msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
		Data:   nfgen(unix.NFPROTO_UNSPEC, unix.NFNL_SUBSYS_NFTABLES),
	})
	sent, err := c.nl.SendMessages(msgs)
	if err != nil {
		return fmt.Errorf("sending nftables batch: %w", err)
	}
	// One ack (or error) per inner message; each arrives as its own datagram.
	bySeq := map[uint32]string{}
	for i, m := range sent[1 : len(sent)-1] {
		bySeq[m.Header.Sequence] = b.what[i]
	}
	_ = c.nl.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.nl.SetReadDeadline(time.Time{})
	var first error
	for acks := 0; acks < len(b.msgs); {
		replies, err := c.nl.Receive()
		if err != nil {
			var oe *netlink.OpError
			if errors.As(err, &oe) && oe.Sequence != 0 {
				acks++
				if first == nil {
					first = fmt.Errorf("nftables refused %s: %w", bySeq[oe.Sequence], err)
				}
				continue
			}
			if first == nil {
				first = fmt.Errorf("reading nftables acks: %w", err)
			}
			break
		}
		for _, r := range replies {
			if r.Header.Type == netlink.Error {
				acks++
			}
		}
	}
	return first
}

// TableInfo is a table as listed by the kernel.
type TableInfo struct {
	Family byte
	Name   string
	Flags  uint32
	// Owner is the owning socket's port id (0 = not owned).
	Owner uint32
}

// Tables lists the tables of family (unix.NFPROTO_UNSPEC = all) in the socket's netns.
func (c *Conn) Tables(family byte) ([]TableInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nl == nil {
		return nil, errors.New("nft: connection closed")
	}
	req := netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETTABLE),
			Flags: netlink.Request | netlink.Dump,
		},
		Data: nfgen(family, 0),
	}
	replies, err := c.nl.Execute(req)
	if err != nil {
		return nil, fmt.Errorf("listing nftables tables: %w", err)
	}
	var out []TableInfo
	for _, r := range replies {
		if len(r.Data) < 4 {
			continue
		}
		ti := TableInfo{Family: r.Data[0]}
		ad, err := netlink.NewAttributeDecoder(r.Data[4:])
		if err != nil {
			return nil, fmt.Errorf("decoding nftables table: %w", err)
		}
		ad.ByteOrder = bigEndian
		for ad.Next() {
			switch ad.Type() {
			case unix.NFTA_TABLE_NAME:
				ti.Name = ad.String()
			case unix.NFTA_TABLE_FLAGS:
				ti.Flags = ad.Uint32()
			case nftaTableOwner:
				ti.Owner = ad.Uint32()
			}
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("decoding nftables table: %w", err)
		}
		out = append(out, ti)
	}
	return out, nil
}

// DeleteTable deletes a table of ours (name with Prefix). A table that does not exist is
// not an error, so recovery is idempotent. An owned table can only be deleted through the
// socket that owns it (the kernel answers EPERM otherwise).
func (c *Conn) DeleteTable(t Table) error {
	if !strings.HasPrefix(t.Name, Prefix) {
		return fmt.Errorf("nft: refusing to delete table %q: not owned by kubectl-chaos (prefix %s)", t.Name, Prefix)
	}
	var b Batch
	b.DelTable(t)
	err := c.Send(&b)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
