package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network/netobj"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// tableData is the journal record of an nft table.
type tableData struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	// PID owns the table through its netlink socket; the kernel deletes the table when
	// that socket closes.
	PID int `json:"pid"`
}

// Hook numbers of the hook names in a drops layout.
var nftHooks = map[string]uint32{"ingress": nft.HookIngress, "egress": nft.HookEgress, "postrouting": nft.HookPostrouting}

// applyNFT creates the owned tables for partition, nft loss or nft duplicate (nftLayout) in one
// atomic batch, trying the variants for older kernels in turn: without the netdev egress
// hook (< 5.16) egress drops go to an inet table's postrouting hook (the sender then sees
// EPERM; said in the notes); without owned tables (< 5.12) the tables are plain and only
// the journal removes them after a crash. A refused attempt leaves nothing.
func (a *Active) applyNFT(t fault.Target, n *plan.Network, b backends, links []netlink.Link, rec fault.Recorder) error {
	// One table per experiment and pod netns: another experiment on the same pod gets its
	// own table (nft faults compose), and an owned table can only ever be ours.
	name := nft.ExperimentTableName("", t.Experiment, fmt.Sprintf("%s/%s/%d", t.Namespace, t.Pod, a.ino))
	ifnames := make([]string, len(links))
	ifindex := map[string]uint32{}
	for i, l := range links {
		ifnames[i] = l.Attrs().Name
		ifindex[l.Attrs().Name] = uint32(l.Attrs().Index)
	}
	c, err := nft.Dial(int(a.ns.Fd()))
	if err != nil {
		return err
	}
	// Refuse before journaling if the name is taken: only this experiment uses it, so this
	// experiment is already active on the target (a second agent of it?).
	if !skipCollisionCheck {
		if err := checkTableFree(c, name, t, a.ino); err != nil {
			c.Close()
			return err
		}
	}
	var firstErr error
	for _, v := range nftVariants(n, b) {
		d := nftLayout(n, b, ifnames, name, v)
		sent, err := a.createDrops(c, d, ifindex, rec)
		if err != nil {
			c.Close()
			return err
		}
		if sent == nil {
			a.conn = c
			a.notes = append(a.notes, variantNotes(v)...)
			return nil
		}
		if firstErr == nil {
			firstErr = sent
		}
		if !errors.Is(sent, unix.EOPNOTSUPP) && !errors.Is(sent, unix.EINVAL) && !errors.Is(sent, unix.ENOENT) {
			break
		}
	}
	c.Close()
	if b.nftDup && errors.Is(firstErr, unix.EOPNOTSUPP) {
		return fmt.Errorf("creating table %s in net:[%d]: duplicate without sch_netem needs the netdev egress hook (linux 5.16+) and nft_dup_netdev: %w", name, a.ino, firstErr)
	}
	return fmt.Errorf("creating table %s in net:[%d]: %w", name, a.ino, firstErr)
}

// nftVariants are the ways to build the nft work of n, best first. Duplicates exist only
// at the netdev egress hook: no inet fallback for them.
func nftVariants(n *plan.Network, b backends) []nftVariant {
	_, egress, _ := dropSides(n)
	var out []nftVariant
	for _, owner := range []bool{true, false} {
		if owner && forceNoOwnerFlag {
			continue
		}
		for _, inetEgress := range []bool{false, true} {
			if inetEgress && (!egress || b.nftDup) || !inetEgress && (egress || b.nftDup) && forceNoEgressHook {
				continue
			}
			out = append(out, nftVariant{owner: owner, inetEgress: inetEgress})
		}
	}
	return out
}

func variantNotes(v nftVariant) []string {
	var notes []string
	if v.inetEgress {
		notes = append(notes, "this kernel has no netdev egress hook (linux < 5.16): egress drops are at inet postrouting, where the sending socket sees EPERM")
	}
	if !v.owner {
		notes = append(notes, "this kernel has no owned nft tables (linux < 5.12): if the agent is killed, the table stays until the journal is recovered (restarted agent, next agent on the node, or kubectl chaos gc)")
	}
	return notes
}

// createDrops journals the tables of d, then sends d as one batch. sent is the kernel's
// answer to the batch (a refusal created nothing); err is a failure before it.
func (a *Active) createDrops(c *nft.Conn, d drops, ifindex map[string]uint32, rec fault.Recorder) (sent, err error) {
	b, tables, err := d.batch(ifindex)
	if err != nil {
		return nil, err
	}
	objs := d.objects()
	for i := range objs {
		objs[i].Netns = netnsName(a.ino)
	}
	var entries []journal.Entry
	for i, tbl := range tables {
		e, err := journal.NewEntry(EntryNFTTable, a.ino, tableData{Family: nft.FamilyName(tbl.Family), Table: tbl.Name, PID: os.Getpid()}, objs[i])
		if err == nil {
			err = rec.Record(e)
		}
		if err != nil {
			journal.MarkNeverCreated(entries...)
			return nil, fmt.Errorf("journaling table %s: %w", tbl.Name, err)
		}
		entries = append(entries, e)
	}
	if err := c.Send(b); err != nil {
		// One transaction: a refused batch created nothing. A table of that name, if
		// any, is not ours to delete.
		journal.MarkNeverCreated(entries...)
		return err, nil
	}
	a.tables, a.tableObjs = tables, objs[:len(tables)]
	a.objs = append(a.objs, objs...)
	return nil, nil
}

// batch is d as one nft transaction: the tables, their chains and the rules that drop
// (or duplicate out of the device with index ifindex[device]) what each chain matches.
func (d drops) batch(ifindex map[string]uint32) (*nft.Batch, []nft.Table, error) {
	var b nft.Batch
	var tables []nft.Table
	for _, t := range d.tables {
		nt := nftTable(t)
		b.AddTable(nt)
		tables = append(tables, nt)
	}
	// Counters read back while the fault runs (Active.Counters): what the rule
	// matched, and what it dropped after the random pick.
	verdict := []expr.Any{nft.Counter()}
	if d.percent > 0 {
		verdict = append(append(verdict, nft.Random(d.percent)...), nft.Counter())
	}
	verdict = append(verdict, nft.Drop())
	for _, ch := range d.chains {
		nt := nftTable(ch.table)
		c := nft.Chain{Table: nt, Name: ch.name, Hook: &nft.Hook{Hooknum: nftHooks[ch.hook.Name], Priority: int32(ch.hook.Priority), Device: ch.hook.Device}}
		b.AddChain(c)
		sel := nft.Selector{Family: nt.Family, Direction: nft.Egress, Remote: ch.match.Remote, Ports: ch.match.Ports,
			Protocol: ch.match.Protocol, Interfaces: ch.match.Interfaces}
		if ch.match.Ingress {
			sel.Direction = nft.Ingress
		}
		alts, err := sel.Rules()
		if err != nil {
			return nil, nil, err
		}
		v := verdict
		if ch.dup {
			v = nft.Duplicate(d.dupPercent, netobj.DupMark, ifindex[ch.hook.Device])
		}
		for _, alt := range alts {
			b.AddRule(c, append(alt, v...))
		}
	}
	return &b, tables, b.Err()
}

func nftTable(t netobj.Table) nft.Table {
	fam := nft.FamilyNetdev
	if t.Family == "inet" {
		fam = nft.FamilyINet
	}
	return nft.Table{Family: fam, Name: t.Name, Owner: t.Owner}
}

// checkTableFree refuses when a table named name exists in the netns already.
func checkTableFree(c *nft.Conn, name string, t fault.Target, ino uint64) error {
	ts, err := c.Tables(unix.NFPROTO_UNSPEC)
	if err != nil {
		return fmt.Errorf("listing the nft tables of net:[%d]: %w", ino, err)
	}
	for _, ti := range ts {
		if ti.Name == name {
			return fmt.Errorf("table %s %s already exists in the netns of pod %s (owner port %d): experiment %s is already active on this pod",
				nft.FamilyName(ti.Family), name, podName(t), ti.Owner, t.Experiment)
		}
	}
	return nil
}

// recoverTable is the journal recoverer of EntryNFTTable. After a crash the kernel has
// already deleted the owned table; this deletes it if it is somehow still there.
func recoverTable(ctx context.Context, e journal.Entry) error {
	var d tableData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("nft-table entry: %w", err)
	}
	f, err := nsutil.OpenByInode(e.NetnsInode)
	if err != nil || f == nil {
		return err
	}
	defer f.Close()
	c, err := nft.Dial(int(f.Fd()))
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.DeleteTable(nftTable(netobj.Table{Family: d.Family, Name: d.Table}))
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("table %s %s in net:[%d] is owned by a live netlink socket (agent pid %d still running?): %w", d.Family, d.Table, e.NetnsInode, d.PID, err)
	}
	return err
}
