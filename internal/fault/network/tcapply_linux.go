package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// qdiscData is the journal record of a root qdisc: enough to delete it, and only it.
type qdiscData struct {
	IfIndex int    `json:"ifindex"`
	IfName  string `json:"ifname"`
	Parent  string `json:"parent"` // "root"
	Handle  uint32 `json:"handle"`
	// Kind is the root qdisc's type (tbf, netem, htb): recovery leaves a root with our
	// handle but another type alone. Empty in journals of older agents.
	Kind string `json:"kind,omitempty"`
}

var errNoNetem = errors.New("sch_netem is not available")

// applyAllTC creates the root qdiscs of every link, after checking that none of them
// already has a root qdisc that ours would collide with. It returns the backends as they
// turned out: a first netem create that finds sch_netem missing switches to the
// fallbacks (or refuses), for this and every later apply in that namespace.
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
//     marks the entry never-created (journal.MarkNeverCreated), and journal recovery in
//     this process removes nothing for it; recovery also leaves a root with our handle
//     but another qdisc type alone.
//
// What is left: the agent killed in the microseconds between the journal fsync and the
// qdisc add (so nothing was created), then another experiment creating a root of the
// same type on that link before this experiment's journal is recovered (by its
// restarted agent, within seconds). That recovery would remove the other's qdisc.
func (a *Active) applyAllTC(ctx context.Context, links []netlink.Link, n *plan.Network, b backends, t fault.Target, rec fault.Recorder) (backends, error) {
	unlock, err := lockNetns(ctx, a.ns, a.ino)
	if err != nil {
		return b, err
	}
	defer unlock()
	if !skipCollisionCheck {
		if err := checkRootsFree(a.h, links, t, a.ino); err != nil {
			return b, err
		}
	}
	for i, l := range links {
		err := a.applyTC(l, n, b.netem, t, rec)
		if errors.Is(err, errNoNetem) && i == 0 {
			netemMissing.Store(a.ino, true)
			b = backendsOn(n, false)
			if ferr := a.netemFallback(n, b); ferr != nil {
				return b, ferr
			}
			err = a.applyTC(l, n, b.netem, t, rec) // bandwidth alone, if asked
		}
		if err != nil {
			return b, err
		}
	}
	if b.netem.any() {
		netemMissing.Store(a.ino, false)
	}
	return b, nil
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

// applyTC creates the qdiscs of one interface. Only the root qdisc is journaled: deleting
// it removes its classes, filters and children with it.
func (a *Active) applyTC(l netlink.Link, n *plan.Network, want netemWant, t fault.Target, rec fault.Recorder) error {
	setup, err := buildTC(l, n, want)
	if err != nil || len(setup.steps) == 0 {
		return err
	}
	name := l.Attrs().Name
	root := qdiscData{IfIndex: l.Attrs().Index, IfName: name, Parent: "root", Handle: netlink.MakeHandle(RootHandleMajor, 0),
		Kind: setup.steps[0].qdisc.Type()}
	rootObj := setup.steps[0].obj
	rootObj.Netns = netnsName(a.ino)
	entry, err := journal.NewEntry(EntryQdisc, a.ino, root, rootObj)
	if err != nil {
		return err
	}
	if err := rec.Record(entry); err != nil {
		return fmt.Errorf("journaling root qdisc on %s: %w", name, err)
	}
	objStart := len(a.objs)
	for i, s := range setup.steps {
		if err := a.addStep(s); err != nil {
			if i == 0 {
				// The root qdisc add is all or nothing: nothing of ours exists, and whatever
				// has that handle now is someone else's.
				journal.MarkNeverCreated(entry)
				if errors.Is(err, unix.EEXIST) {
					return fmt.Errorf("%s in pod %s already has a root qdisc (another experiment is active on this pod?): stop it first: %w", name, podName(t), err)
				}
			}
			if i == setup.netemAt && errors.Is(err, unix.ENOENT) {
				// Remove what this interface got so far; the caller retries without netem.
				if i > 0 {
					if derr := deleteOurRoot(a.h, root); derr != nil {
						return fmt.Errorf("removing the partial setup on %s: %w", name, derr)
					}
					a.roots = a.roots[:len(a.roots)-1]
					a.rootObjs = a.rootObjs[:len(a.rootObjs)-1]
					a.objs = a.objs[:objStart]
				}
				return errNoNetem
			}
			return fmt.Errorf("creating %s on %s in net:[%d]: %w", s.obj.Spec, name, a.ino, err)
		}
		if i == 0 {
			a.roots = append(a.roots, root)
			a.rootObjs = append(a.rootObjs, rootObj)
		}
		if s.obj.Kind != "" {
			o := s.obj
			o.Netns = netnsName(a.ino)
			a.objs = append(a.objs, o)
		}
	}
	return nil
}

func (a *Active) addStep(s tcStep) error {
	switch {
	case s.qdisc != nil:
		return a.h.QdiscAdd(s.qdisc)
	case s.class != nil:
		return a.h.ClassAdd(s.class)
	default:
		return a.h.FilterAdd(s.filter)
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
	f, err := nsutil.OpenByInode(e.NetnsInode)
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
