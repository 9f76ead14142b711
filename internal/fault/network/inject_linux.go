package network

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network/nfqdelay"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Journal entry types of this package.
const (
	EntryQdisc    = "tc-qdisc"
	EntryNFTTable = "nft-table"
)

func init() {
	fault.Register(plan.KindNetwork, func(f plan.Fault) (fault.Injector, error) {
		if f.Network == nil {
			return nil, errors.New("network fault without a spec")
		}
		if err := Validate(f.Network); err != nil {
			return nil, err
		}
		// The one thing Validate cannot refuse: the CLI validates before its completion
		// step resolves --to, so only the agent knows that they must be gone.
		if p := f.Network.Partition; p != nil && len(p.To) > 0 {
			return nil, fmt.Errorf("partition peers %s were not resolved to addresses by the CLI", strings.Join(p.To, ","))
		}
		if u := f.Network.Filter.Unresolved(); len(u) > 0 {
			return nil, fmt.Errorf("peers %s were not resolved to addresses by the CLI", strings.Join(u, ","))
		}
		return &Injector{N: *f.Network}, nil
	})
	journal.RegisterRecoverer(EntryQdisc, recoverQdisc)
	journal.RegisterRecoverer(EntryNFTTable, recoverTable)
}

// netemMissing caches, per netns inode, that creating a netem qdisc failed with ENOENT.
var netemMissing sync.Map // uint64 → bool

// Injector applies one network fault.
type Injector struct {
	N plan.Network
}

// Apply creates the fault in t's network namespace. Every object is journaled before it
// is created. On error, whatever was created is removed before returning.
//
// Beyond Validate (run again here: an Injector may be built without the registry), what
// only the node can tell is checked here and in the tc and nft steps: the namespace is
// the planned sandbox and not the node's own, the asked interfaces exist, netem's
// latency fits this kernel's scheduler ticks, and no other root qdisc or table is in
// the way.
func (in *Injector) Apply(ctx context.Context, t fault.Target, rec fault.Recorder) (fault.Active, error) {
	n := &in.N
	if err := Validate(n); err != nil {
		return nil, err
	}
	a, err := openTarget(t)
	if err != nil {
		return nil, err
	}
	links, err := resolveLinks(a.h, n.Filter.Interfaces, a.ino)
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

// openTarget opens t's network namespace and a netlink handle in it, refusing the node's
// own namespace and a sandbox that is not the planned one.
func openTarget(t fault.Target) (*Active, error) {
	nsf, err := os.Open(t.NetnsPath)
	if err != nil {
		return nil, fmt.Errorf("opening the network namespace of %s (%s): %w", t.Target, t.NetnsPath, err)
	}
	ino, err := nsutil.FileInode(nsf)
	if err != nil {
		nsf.Close()
		return nil, err
	}
	if t.NetnsInode != 0 && ino != t.NetnsInode {
		nsf.Close()
		return nil, fmt.Errorf("netns %s is net:[%d], the plan expects net:[%d]: the pod sandbox changed", t.NetnsPath, ino, t.NetnsInode)
	}
	if host, err := nsutil.HostInode("/proc", "net"); err != nil || host == ino {
		nsf.Close()
		if err != nil {
			return nil, fmt.Errorf("refusing to act on %s: %w", t.Target, err)
		}
		return nil, fmt.Errorf("refusing to act on the node's own network namespace (net:[%d]) for %s", ino, t.Target)
	}
	h, err := netlink.NewHandleAt(netns.NsHandle(nsf.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		nsf.Close()
		return nil, fmt.Errorf("netlink handle in netns net:[%d]: %w", ino, err)
	}
	return &Active{ns: nsf, h: h, ino: ino, node: t.Node}, nil
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

// apply creates what backendsOn decides for this node, in Describe's order: tc, nft
// loss and duplicate, the userspace NFQUEUE engine (delay, reorder, corrupt). Whether the node has sch_netem is known once a netem
// create failed here (cached per netns), or found out by the first one.
func (a *Active) apply(ctx context.Context, t fault.Target, n *plan.Network, links []netlink.Link, rec fault.Recorder) error {
	if n.Partition != nil {
		return a.applyNFT(t, n, backends{}, links, rec)
	}
	v, _ := netemMissing.Load(a.ino)
	noNetem, _ := v.(bool)
	b := backendsOn(n, !noNetem)
	if noNetem {
		if err := a.netemFallback(n, b); err != nil {
			return err
		}
	}
	if b.tc {
		var err error
		if b, err = a.applyAllTC(ctx, links, n, b, t, rec); err != nil {
			return err
		}
	}
	if b.nftWork() {
		if err := a.applyNFT(t, n, b, links, rec); err != nil {
			return err
		}
	}
	if b.nfq.Any() {
		t.NetnsInode = a.ino // the namespace opened above, for its journal entry and table
		sub, err := nfqdelay.ApplySpec(ctx, t, b.nfq, n.Filter, rec)
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

// netemFallback refuses what only netem can do on this node (b, decided without
// sch_netem), or notes what the fallbacks do instead.
func (a *Active) netemFallback(n *plan.Network, b backends) error {
	node := "this node"
	if a.node != "" {
		node = "node " + a.node
	}
	if len(b.refused) > 0 {
		return errors.New(netemRefusal(b.refused, node))
	}
	a.notes = append(a.notes, fallbackNotes(n, node)...)
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

func netnsName(ino uint64) string { return fmt.Sprintf("net:[%d]", ino) }

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
