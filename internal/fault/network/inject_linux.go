package network

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network/nfqdelay"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Journal entry types of this package.
const (
	EntryQdisc    = "tc-qdisc"
	EntryNFTTable = "nft-table"
)

// nftPriority puts our netdev chains before anything else on the device.
const nftPriority = -500

func init() {
	fault.Register(plan.KindNetwork, func(f plan.Fault) (fault.Injector, error) {
		if f.Network == nil {
			return nil, errors.New("network fault without a spec")
		}
		if err := Validate(f.Network); err != nil {
			return nil, err
		}
		if p := f.Network.Partition; p != nil && len(p.To) > 0 {
			return nil, fmt.Errorf("partition peers %s were not resolved to addresses by the CLI", strings.Join(p.To, ","))
		}
		return &Injector{N: *f.Network}, nil
	})
	journal.RegisterRecoverer(EntryQdisc, recoverQdisc)
	journal.RegisterRecoverer(EntryNFTTable, recoverTable)
}

// qdiscData is the journal record of a root qdisc: enough to delete it, and only it.
type qdiscData struct {
	IfIndex int    `json:"ifindex"`
	IfName  string `json:"ifname"`
	Parent  string `json:"parent"` // "root"
	Handle  uint32 `json:"handle"`
	// Kind is the root qdisc's type (tbf, netem, htb): recovery leaves a root with our
	// handle but another type alone. Empty in journals of older agents.
	Kind string `json:"kind,omitempty"`
	// Nonce names this entry; see neverCreated.
	Nonce string `json:"nonce,omitempty"`
}

// tableData is the journal record of an nft table.
type tableData struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	// PID owns the table through its netlink socket; the kernel deletes the table when
	// that socket closes.
	PID int `json:"pid"`
	// Nonce names this entry; see neverCreated.
	Nonce string `json:"nonce,omitempty"`
}

// neverCreated holds the nonces of journal entries whose object this process tried to
// create and the kernel refused (EEXIST, EPERM, ...: a root qdisc add and an nft batch
// are all-or-nothing, so a refused create left nothing of ours). Recovering such an entry
// must remove nothing: the object with that name or handle, if any, belongs to someone
// else (another experiment on the same pod). The journal has no way to drop an entry, so
// the recoverers consult this set; the agent recovers a failed apply's journal in the
// same process right away.
var neverCreated sync.Map // nonce → struct{}

func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func markNeverCreated(nonce string) { neverCreated.Store(nonce, struct{}{}) }

func wasNeverCreated(nonce string) bool {
	if nonce == "" {
		return false
	}
	_, ok := neverCreated.Load(nonce)
	return ok
}

// netemMissing caches, per netns inode, that creating a netem qdisc failed with ENOENT.
var netemMissing sync.Map // uint64 → bool

// Injector applies one network fault.
type Injector struct {
	N plan.Network
}

// Apply creates the fault in t's network namespace. Every object is journaled before it
// is created. On error, whatever was created is removed before returning.
func (in *Injector) Apply(ctx context.Context, t fault.Target, rec fault.Recorder) (fault.Active, error) {
	n := &in.N
	if err := Validate(n); err != nil {
		return nil, err
	}
	nsf, err := os.Open(t.NetnsPath)
	if err != nil {
		return nil, fmt.Errorf("opening the network namespace of %s (%s): %w", t.Target, t.NetnsPath, err)
	}
	ino, err := inodeOf(nsf)
	if err != nil {
		nsf.Close()
		return nil, err
	}
	if t.NetnsInode != 0 && ino != t.NetnsInode {
		nsf.Close()
		return nil, fmt.Errorf("netns %s is net:[%d], the plan expects net:[%d]: the pod sandbox changed", t.NetnsPath, ino, t.NetnsInode)
	}
	if host, err := os.Stat("/proc/1/ns/net"); err == nil {
		if st, ok := host.Sys().(*syscall.Stat_t); ok && st.Ino == ino {
			nsf.Close()
			return nil, fmt.Errorf("refusing to act on the node's own network namespace (net:[%d]) for %s", ino, t.Target)
		}
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(nsf.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		nsf.Close()
		return nil, fmt.Errorf("netlink handle in netns net:[%d]: %w", ino, err)
	}
	a := &Active{ns: nsf, h: h, ino: ino, node: t.Node}
	links, err := resolveLinks(h, n.Filter.Interfaces, ino)
	if err != nil {
		a.close()
		return nil, err
	}
	if err := a.apply(ctx, t, n, links, rec); err != nil {
		if _, rerr := a.Recover(context.WithoutCancel(ctx)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		return nil, err
	}
	return a, nil
}

// resolveLinks finds the interfaces to act on before anything is created: the asked ones
// (each must exist) or all but loopback.
func resolveLinks(h *netlink.Handle, names []string, ino uint64) ([]netlink.Link, error) {
	if len(names) > 0 {
		var out []netlink.Link
		for _, name := range names {
			l, err := h.LinkByName(name)
			if err != nil {
				var nf netlink.LinkNotFoundError
				if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
					return nil, fmt.Errorf("--interface %s: no such interface in the target's network namespace net:[%d]", name, ino)
				}
				return nil, fmt.Errorf("--interface %s: looking it up in net:[%d]: %w", name, ino, err)
			}
			out = append(out, l)
		}
		return out, nil
	}
	all, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces in net:[%d]: %w", ino, err)
	}
	var out []netlink.Link
	for _, l := range all {
		if l.Attrs().Flags&unix.IFF_LOOPBACK != 0 || l.Attrs().Name == "lo" {
			continue
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the target's network namespace net:[%d] has no interface but lo", ino)
	}
	return out, nil
}

func (a *Active) apply(ctx context.Context, t fault.Target, n *plan.Network, links []netlink.Link, rec fault.Recorder) error {
	if n.Partition != nil {
		return a.applyNFT(t, n, links, rec)
	}
	// Decide the backends.
	missing, known := netemMissing.Load(a.ino)
	noNetem := known && missing.(bool)
	want := wantOnNetemKernel(n)
	if noNetem {
		if err := a.netemFallback(n, &want); err != nil {
			return err
		}
	}
	if want.any() || n.Bandwidth != nil {
		if err := a.applyAllTC(ctx, links, n, &want, t, rec); err != nil {
			return err
		}
	}
	if n.Loss != nil && !want.loss {
		if err := a.applyNFT(t, n, links, rec); err != nil {
			return err
		}
	}
	if n.Delay != nil && !want.delay {
		sub, err := nfqdelay.Apply(ctx, t, *n.Delay, n.Filter, rec)
		if err != nil {
			return err
		}
		a.subs = append(a.subs, sub)
		if nt, ok := sub.(fault.Notes); ok {
			a.notes = append(a.notes, nt.Notes()...)
		}
	}
	return nil
}

// applyAllTC creates the root qdiscs of every link, after checking that none of them
// already has a root qdisc that ours would collide with.
//
// Why this is safe against another experiment on the same pod: our root qdisc has a
// fixed handle (4b43:), so from the kernel alone a recoverer cannot tell our instance
// from another experiment's. Three things keep one experiment from ever deleting
// another's:
//  1. The check-journal-create sequence runs under an exclusive flock on the target's
//     netns inode (lockNetns), taken by every kubectl-chaos agent on the node, so no
//     other agent creates a root qdisc between our check and our create.
//  2. The check (checkRootsFree) refuses, before anything is journaled or created, when
//     any link already has our handle (another experiment) or any non-default root
//     qdisc (ours would have to replace it; the kernel refuses that too).
//  3. A create that fails anyway (EEXIST from a tool outside kubectl-chaos racing us)
//     marks the entry never-created, and journal recovery in this process removes
//     nothing for it; recovery also leaves a root with our handle but another qdisc
//     type alone.
//
// What is left: the agent killed in the microseconds between the journal fsync and the
// qdisc add (so nothing was created), then another experiment creating a root of the
// same type on that link before this experiment's journal is recovered (by its
// restarted agent, within seconds). That recovery would remove the other's qdisc.
func (a *Active) applyAllTC(ctx context.Context, links []netlink.Link, n *plan.Network, want *netemWant, t fault.Target, rec fault.Recorder) error {
	unlock, err := lockNetns(ctx, a.ns, a.ino)
	if err != nil {
		return err
	}
	defer unlock()
	if !skipCollisionCheck {
		if err := checkRootsFree(a.h, links, t, a.ino); err != nil {
			return err
		}
	}
	for i, l := range links {
		err := a.applyTC(l, n, *want, t, rec)
		if errors.Is(err, errNoNetem) && i == 0 {
			netemMissing.Store(a.ino, true)
			if ferr := a.netemFallback(n, want); ferr != nil {
				return ferr
			}
			if want.any() || n.Bandwidth != nil {
				err = a.applyTC(l, n, *want, t, rec)
			} else {
				err = nil
			}
		}
		if err != nil {
			return err
		}
	}
	if want.any() {
		netemMissing.Store(a.ino, false)
	}
	return nil
}

// checkRootsFree refuses when a link already has a non-default root qdisc: ours (another
// kubectl-chaos experiment on this pod) or anyone's (ours would have to replace it).
// Default qdiscs (handle 0: noqueue, pfifo_fast, mq, ...) are replaced by ours and come
// back when ours is deleted.
func checkRootsFree(h *netlink.Handle, links []netlink.Link, t fault.Target, ino uint64) error {
	for _, l := range links {
		qs, err := h.QdiscList(l)
		if err != nil {
			return fmt.Errorf("listing the qdiscs of %s in net:[%d]: %w", l.Attrs().Name, ino, err)
		}
		for _, q := range qs {
			at := q.Attrs()
			if at.Parent != netlink.HANDLE_ROOT || at.Handle == 0 {
				continue
			}
			if at.Handle>>16 == RootHandleMajor {
				return fmt.Errorf("%s in pod %s already has a kubectl-chaos qdisc (%s %s root; another experiment is active on this pod): stop it first",
					l.Attrs().Name, podName(t), q.Type(), netlink.HandleStr(at.Handle))
			}
			return fmt.Errorf("%s in pod %s already has a root qdisc %s %s that is not kubectl-chaos's; refusing to replace it",
				l.Attrs().Name, podName(t), q.Type(), netlink.HandleStr(at.Handle))
		}
	}
	return nil
}

func podName(t fault.Target) string {
	if t.Pod == "" {
		return "(unnamed target)"
	}
	if t.Namespace == "" {
		return t.Pod
	}
	return t.Namespace + "/" + t.Pod
}

// lockNetns takes an exclusive flock on the network namespace's nsfs inode: every open
// of that namespace (/proc/<pid>/ns/net, /run/netns/x) shares the inode, so all agents on
// the node contend for the same lock, and the kernel drops it when the holder dies. It
// is held for milliseconds (list, journal, create), so waiting is short; the wait gives
// up after lockWait.
func lockNetns(ctx context.Context, ns *os.File, ino uint64) (func(), error) {
	// A separate open file description, so two injections in one process exclude each
	// other too (flock locks belong to the description).
	f, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", ns.Fd()))
	if err != nil {
		return nil, fmt.Errorf("reopening net:[%d] to lock it: %w", ino, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking net:[%d]: %w", ino, err)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			f.Close()
			return nil, fmt.Errorf("locking net:[%d]: another kubectl-chaos agent held it for more than %s", ino, lockWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const lockWait = 10 * time.Second

var errNoNetem = errors.New("sch_netem is not available")

// netemFallback moves what netem would do to the fallbacks, or refuses.
func (a *Active) netemFallback(n *plan.Network, want *netemWant) error {
	node := a.node
	if node == "" {
		node = "this node"
	}
	var bad []string
	if want.other {
		bad = append(bad, strings.Join(netemOnly(&plan.Network{Duplicate: n.Duplicate, Corrupt: n.Corrupt, Reorder: n.Reorder}), ", "))
	}
	if want.loss && n.LossBackend == BackendNetem {
		bad = append(bad, "loss with --loss-backend netem")
	}
	if want.delay && n.DelayBackend == BackendNetem {
		bad = append(bad, "delay with --delay-backend netem")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s need(s) the sch_netem kernel module on node %s (modprobe sch_netem)", strings.Join(bad, "; "), node)
	}
	if want.loss {
		want.loss = false
		a.notes = append(a.notes, fmt.Sprintf("sch_netem is missing on node %s: loss is done with nftables (numgen random drop at the netdev egress/ingress hook, silent to the sender)", node))
	}
	if want.delay {
		want.delay = false
		a.notes = append(a.notes, fmt.Sprintf("sch_netem is missing on node %s: delay is done in userspace through NFQUEUE", node))
	}
	return nil
}

// applyTC creates the qdiscs of one interface. Only the root qdisc is journaled: deleting
// it removes its classes, filters and children with it.
func (a *Active) applyTC(l netlink.Link, n *plan.Network, want netemWant, t fault.Target, rec fault.Recorder) error {
	setup, err := buildTC(l, n, want)
	if err != nil {
		return err
	}
	if len(setup.steps) == 0 {
		return nil
	}
	name := l.Attrs().Name
	root := qdiscData{IfIndex: l.Attrs().Index, IfName: name, Parent: "root", Handle: netlink.MakeHandle(RootHandleMajor, 0),
		Kind: setup.steps[0].qdisc.Type(), Nonce: newNonce()}
	data, _ := json.Marshal(root)
	obj := setup.steps[0].obj
	obj.Netns = netnsName(a.ino)
	if err := rec.Record(journal.Entry{Type: EntryQdisc, NetnsInode: a.ino, Data: data, Object: obj}); err != nil {
		return fmt.Errorf("journaling root qdisc on %s: %w", name, err)
	}
	for i, s := range setup.steps {
		var err error
		switch {
		case s.qdisc != nil:
			err = a.h.QdiscAdd(s.qdisc)
		case s.class != nil:
			err = a.h.ClassAdd(s.class)
		case s.filter != nil:
			err = a.h.FilterAdd(s.filter)
		}
		if err != nil {
			if i == 0 {
				// The root qdisc add is all or nothing: nothing of ours exists, and whatever
				// has that handle now is someone else's.
				markNeverCreated(root.Nonce)
			}
			if i == 0 && errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("%s in pod %s already has a root qdisc (another experiment is active on this pod?): stop it first: %w", name, podName(t), err)
			}
			if i == setup.netemAt && errors.Is(err, unix.ENOENT) {
				// Remove what this interface got so far; the caller retries without netem.
				if i > 0 {
					if derr := deleteOurRoot(a.h, root); derr != nil {
						return fmt.Errorf("removing the partial setup on %s: %w", name, derr)
					}
					a.roots = a.roots[:len(a.roots)-1]
				}
				return errNoNetem
			}
			return fmt.Errorf("creating %s on %s in net:[%d]: %w", s.obj.Spec, name, a.ino, err)
		}
		if i == 0 {
			a.roots = append(a.roots, root)
		}
		o := s.obj
		o.Netns = netnsName(a.ino)
		a.objs = append(a.objs, o)
	}
	a.rootObjs = append(a.rootObjs, a.objs[len(a.objs)-len(setup.steps)])
	return nil
}

// Test hooks: pretend the kernel lacks the netdev egress hook (linux < 5.16) or owned
// tables (linux < 5.12), to exercise the fallbacks on this kernel.
var (
	forceNoEgressHook bool
	forceNoOwnerFlag  bool
)

// skipCollisionCheck is a test hook: skip the checks that refuse a colliding create
// before it is journaled, to exercise what happens when the kernel refuses it instead
// (the race those checks and the netns lock exist to prevent).
var skipCollisionCheck bool

// nftVariant is one way to build the nft part, best first.
type nftVariant struct {
	owner      bool // NFT_TABLE_F_OWNER
	inetEgress bool // egress drops at inet postrouting instead of the netdev egress hook
}

// applyNFT creates the owned netdev table for partition or nft loss: one chain per
// interface and direction, at the netdev ingress/egress hooks. Both are silent drops:
// ingress is where loss on the wire shows up, and a drop at the netdev egress hook
// happens below the IP layer, so the sending socket gets no EPERM (a drop at the inet
// output/postrouting hooks returns EPERM to the sender; measured in the tests).
//
// Older kernels: without the netdev egress hook (< 5.16) egress drops go to an inet
// table's postrouting hook (the sender then sees EPERM; said in the notes); without
// owned tables (< 5.12) the tables are plain and only the journal removes them after a
// crash. Each attempt is one atomic batch, so a refused attempt leaves nothing.
func (a *Active) applyNFT(t fault.Target, n *plan.Network, links []netlink.Link, rec fault.Recorder) error {
	// One table per experiment and pod netns: another experiment on the same pod gets its
	// own table (nft faults compose), and an owned table can only ever be ours.
	name := nft.ExperimentTableName("", t.Experiment, fmt.Sprintf("%s/%s/%d", t.Namespace, t.Pod, a.ino))
	var ingress, egress bool
	remote := append([]string{}, n.Filter.CIDRs...)
	var verdict []expr.Any
	what := "drop"
	if p := n.Partition; p != nil {
		remote = append(remote, p.Peers...)
		ingress = p.Direction == "from" || p.Direction == "both" || p.Direction == ""
		egress = p.Direction == "to" || p.Direction == "both" || p.Direction == ""
	} else {
		d := n.Filter.Direction
		ingress = d == "ingress" || d == "both"
		egress = d == "" || d == "egress" || d == "both"
		verdict = nft.Random(n.Loss.Percent)
		what = fmt.Sprintf("numgen random mod %d < %d drop", nft.LossScale, int(n.Loss.Percent*100+0.5))
	}
	verdict = append(verdict, nft.Drop())
	filterWords := func(side string) string {
		return filterText(plan.Filter{CIDRs: remote, Ports: n.Filter.Ports, Protocol: n.Filter.Protocol}, nil, side)
	}

	build := func(v nftVariant) ([]nft.Table, []plan.Object, *nft.Batch, error) {
		var tables []nft.Table
		var tableObjs, objs []plan.Object
		var b nft.Batch
		addTable := func(fam byte) nft.Table {
			tbl := nft.Table{Family: fam, Name: name, Owner: v.owner}
			b.AddTable(tbl)
			o := plan.Object{Kind: "nft-table", Netns: netnsName(a.ino), Spec: "table " + nft.FamilyName(fam) + " " + name}
			if v.owner {
				o.Spec += " flags owner"
				o.Remove = "nft delete table " + nft.FamilyName(fam) + " " + name + "; the kernel deletes it when the agent's netlink socket closes"
			} else {
				o.Remove = "nft delete table " + nft.FamilyName(fam) + " " + name + " (by the agent, or from the journal after a crash: this kernel has no owned tables)"
			}
			tables = append(tables, tbl)
			tableObjs = append(tableObjs, o)
			return tbl
		}
		var netdev, inet *nft.Table
		for _, l := range links {
			ifname := l.Attrs().Name
			for _, d := range []struct {
				on   bool
				dir  nft.Direction
				hook uint32
				name string
				side string
			}{{ingress, nft.Ingress, nft.HookIngress, "ingress", "saddr"}, {egress, nft.Egress, nft.HookEgress, "egress", "daddr"}} {
				if !d.on || (d.dir == nft.Egress && v.inetEgress) {
					continue
				}
				if netdev == nil {
					tbl := addTable(nft.FamilyNetdev)
					netdev = &tbl
				}
				ch := nft.Chain{Table: *netdev, Name: d.name + "_" + ifname, Hook: &nft.Hook{Hooknum: d.hook, Priority: nftPriority, Device: ifname}}
				b.AddChain(ch)
				alts, err := nft.Selector{Family: nft.FamilyNetdev, Direction: d.dir, Remote: remote, Ports: n.Filter.Ports, Protocol: n.Filter.Protocol}.Rules()
				if err != nil {
					return nil, nil, nil, err
				}
				for _, alt := range alts {
					b.AddRule(ch, append(alt, verdict...))
				}
				objs = append(objs, plan.Object{
					Kind: "nft-chain", Netns: netnsName(a.ino), Interface: ifname,
					Spec:   fmt.Sprintf("chain %s { type filter hook %s device %s priority %d; } %s %s (%d rules)", ch.Name, d.name, ifname, nftPriority, filterWords(d.side), what, len(alts)),
					Remove: "deleted with table netdev " + name,
				})
			}
		}
		if egress && v.inetEgress {
			tbl := addTable(nft.FamilyINet)
			inet = &tbl
			var ifnames []string
			for _, l := range links {
				ifnames = append(ifnames, l.Attrs().Name)
			}
			ch := nft.Chain{Table: *inet, Name: "postrouting", Hook: &nft.Hook{Hooknum: nft.HookPostrouting, Priority: nftPriority}}
			b.AddChain(ch)
			alts, err := nft.Selector{Family: nft.FamilyINet, Direction: nft.Egress, Remote: remote, Ports: n.Filter.Ports, Protocol: n.Filter.Protocol, Interfaces: ifnames}.Rules()
			if err != nil {
				return nil, nil, nil, err
			}
			for _, alt := range alts {
				b.AddRule(ch, append(alt, verdict...))
			}
			objs = append(objs, plan.Object{
				Kind: "nft-chain", Netns: netnsName(a.ino), Interface: strings.Join(ifnames, ","),
				Spec:   fmt.Sprintf("chain postrouting { type filter hook postrouting priority %d; } oifname {%s} %s %s (%d rules; the sender sees EPERM)", nftPriority, strings.Join(ifnames, ", "), filterWords("daddr"), what, len(alts)),
				Remove: "deleted with table inet " + name,
			})
		}
		return tables, append(tableObjs, objs...), &b, nil
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
	var variants []nftVariant
	for _, owner := range []bool{true, false} {
		if owner && forceNoOwnerFlag {
			continue
		}
		for _, inetEgress := range []bool{false, true} {
			if !inetEgress && egress && forceNoEgressHook {
				continue
			}
			if inetEgress && !egress {
				continue
			}
			variants = append(variants, nftVariant{owner: owner, inetEgress: inetEgress})
		}
	}
	var firstErr error
	for _, v := range variants {
		tables, objs, b, err := build(v)
		if err != nil {
			c.Close()
			return err
		}
		var nonces []string
		for i, tbl := range tables {
			nonce := newNonce()
			nonces = append(nonces, nonce)
			data, _ := json.Marshal(tableData{Family: nft.FamilyName(tbl.Family), Table: tbl.Name, PID: os.Getpid(), Nonce: nonce})
			if err := rec.Record(journal.Entry{Type: EntryNFTTable, NetnsInode: a.ino, Data: data, Object: objs[i]}); err != nil {
				for _, n := range nonces[:i] {
					markNeverCreated(n)
				}
				c.Close()
				return fmt.Errorf("journaling table %s: %w", tbl.Name, err)
			}
		}
		err = c.Send(b)
		if err != nil {
			// One transaction: a refused batch created nothing. A table of that name, if
			// any, is not ours to delete.
			for _, n := range nonces {
				markNeverCreated(n)
			}
		}
		if err == nil {
			a.conn, a.tables, a.tableObjs = c, tables, objs[:len(tables)]
			a.objs = append(a.objs, objs...)
			if v.inetEgress {
				a.notes = append(a.notes, "this kernel has no netdev egress hook (linux < 5.16): egress drops are at inet postrouting, where the sending socket sees EPERM")
			}
			if !v.owner {
				a.notes = append(a.notes, "this kernel has no owned nft tables (linux < 5.12): if the agent is killed, the table stays until the journal is recovered (restarted agent, next agent on the node, or kubectl chaos gc)")
			}
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			break
		}
	}
	c.Close()
	return fmt.Errorf("creating table %s in net:[%d]: %w", name, a.ino, firstErr)
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

// Active is an applied network fault. It keeps the nft socket open: the owned table
// lives as long as it does.
type Active struct {
	ns   *os.File
	h    *netlink.Handle
	ino  uint64
	node string

	roots     []qdiscData
	rootObjs  []plan.Object
	conn      *nft.Conn
	tables    []nft.Table
	tableObjs []plan.Object
	subs      []fault.Active
	objs      []plan.Object
	notes     []string

	mu      sync.Mutex
	done    bool
	removed []plan.Object
}

// Objects lists what was created.
func (a *Active) Objects() []plan.Object {
	out := append([]plan.Object{}, a.objs...)
	for _, s := range a.subs {
		out = append(out, s.Objects()...)
	}
	return out
}

// Notes says which fallbacks were chosen.
func (a *Active) Notes() []string { return a.notes }

// Recover removes everything in reverse order of creation and reports what it removed.
// Idempotent: a second call returns what the first removed.
func (a *Active) Recover(ctx context.Context) ([]plan.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return a.removed, nil
	}
	var errs []error
	for i := len(a.subs) - 1; i >= 0; i-- {
		objs, err := a.subs[i].Recover(ctx)
		a.removed = append(a.removed, objs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	a.subs = nil
	if a.conn != nil {
		var failed bool
		for i := len(a.tables) - 1; i >= 0; i-- {
			if err := a.conn.DeleteTable(a.tables[i]); err != nil {
				errs = append(errs, err)
				failed = true
			} else {
				a.removed = append(a.removed, a.tableObjs[i])
			}
		}
		if !failed {
			// Closing the socket deletes owned tables anyway.
			a.conn.Close()
			a.conn = nil
		}
	}
	for i := len(a.roots) - 1; i >= 0; i-- {
		if err := deleteOurRoot(a.h, a.roots[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		if i < len(a.rootObjs) {
			a.removed = append(a.removed, a.rootObjs[i])
		}
	}
	a.roots = nil
	err := errors.Join(errs...)
	if err == nil {
		a.done = true
		a.close()
	}
	return a.removed, err
}

func (a *Active) close() {
	if a.h != nil {
		a.h.Close()
		a.h = nil
	}
	if a.ns != nil {
		a.ns.Close()
		a.ns = nil
	}
}

// deleteOurRoot deletes the root qdisc of q.IfIndex if, and only if, it still has our
// handle. A missing interface or another root qdisc means ours is gone: success.
func deleteOurRoot(h *netlink.Handle, q qdiscData) error {
	l, err := h.LinkByIndex(q.IfIndex)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return nil
		}
		return fmt.Errorf("looking up interface %d (%s): %w", q.IfIndex, q.IfName, err)
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		return fmt.Errorf("listing qdiscs of %s: %w", l.Attrs().Name, err)
	}
	for _, x := range qs {
		if x.Attrs().Parent == netlink.HANDLE_ROOT && x.Attrs().Handle == q.Handle {
			if q.Kind != "" && x.Type() != q.Kind {
				return nil // our handle, but not the qdisc we made: not ours to delete
			}
			err := h.QdiscDel(x)
			if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("deleting root qdisc %s on %s: %w", netlink.HandleStr(q.Handle), l.Attrs().Name, err)
			}
			return nil
		}
	}
	return nil
}

// recoverQdisc is the journal recoverer of EntryQdisc.
func recoverQdisc(ctx context.Context, e journal.Entry) error {
	var q qdiscData
	if err := json.Unmarshal(e.Data, &q); err != nil {
		return fmt.Errorf("tc-qdisc entry: %w", err)
	}
	if q.Handle>>16 != RootHandleMajor && q.Handle>>16 != ChildHandleMajor {
		return fmt.Errorf("tc-qdisc entry with handle %s: not a handle kubectl-chaos owns; left alone", netlink.HandleStr(q.Handle))
	}
	if wasNeverCreated(q.Nonce) {
		return nil // the create was refused: the qdisc with that handle is another's
	}
	f, err := openNetns(e.NetnsInode)
	if err != nil || f == nil {
		return err // gone: its qdiscs went with it
	}
	defer f.Close()
	// Under the netns lock, so the delete never falls between another agent's check and
	// create.
	unlock, err := lockNetns(ctx, f, e.NetnsInode)
	if err != nil {
		return err
	}
	defer unlock()
	h, err := netlink.NewHandleAt(netns.NsHandle(f.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink handle in net:[%d]: %w", e.NetnsInode, err)
	}
	defer h.Close()
	return deleteOurRoot(h, q)
}

// recoverTable is the journal recoverer of EntryNFTTable. After a crash the kernel has
// already deleted the owned table; this deletes it if it is somehow still there.
func recoverTable(ctx context.Context, e journal.Entry) error {
	var d tableData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("nft-table entry: %w", err)
	}
	if wasNeverCreated(d.Nonce) {
		return nil // the create was refused: a table of that name is not ours
	}
	fam := nft.FamilyNetdev
	if d.Family == "inet" {
		fam = nft.FamilyINet
	}
	f, err := openNetns(e.NetnsInode)
	if err != nil || f == nil {
		return err
	}
	defer f.Close()
	c, err := nft.Dial(int(f.Fd()))
	if err != nil {
		return err
	}
	defer c.Close()
	err = c.DeleteTable(nft.Table{Family: fam, Name: d.Table})
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("table %s %s in net:[%d] is owned by a live netlink socket (agent pid %d still running?): %w", d.Family, d.Table, e.NetnsInode, d.PID, err)
	}
	return err
}

func netnsName(ino uint64) string { return fmt.Sprintf("net:[%d]", ino) }

func inodeOf(f *os.File) (uint64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat netns %s: %w", f.Name(), err)
	}
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, fmt.Errorf("stat netns %s: no inode", f.Name())
	}
	return s.Ino, nil
}

// openNetns opens the network namespace with inode ino: through a process in it, a bind
// mount under /run/netns, or a descriptor someone holds. nil, nil when none is left
// (the namespace is gone, and every object in it).
func openNetns(ino uint64) (*os.File, error) {
	if ino == 0 {
		return nil, errors.New("journal entry without a netns inode")
	}
	try := func(p string) *os.File {
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		if i, err := inodeOf(f); err == nil && i == ino {
			return f
		}
		f.Close()
		return nil
	}
	var cands []string
	if ps, err := filepath.Glob("/proc/[0-9]*/ns/net"); err == nil {
		cands = append(cands, ps...)
	}
	if ps, err := filepath.Glob("/run/netns/*"); err == nil {
		cands = append(cands, ps...)
	}
	for _, p := range cands {
		if f := try(p); f != nil {
			return f, nil
		}
	}
	want := netnsName(ino)
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, p := range fds {
		if l, err := os.Readlink(p); err == nil && l == want {
			if f := try(p); f != nil {
				return f, nil
			}
		}
	}
	return nil, nil
}
