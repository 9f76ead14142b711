// Package network implements network faults: netem (delay, loss, duplicate, corrupt,
// reorder), tbf (bandwidth) and nftables (partition, loss fallback, filters) inside the
// target's network namespace, with the userspace NFQUEUE delay (nfqdelay) where sch_netem
// is missing.
//
// The portable files are what the CLI needs and the agent shares: Validate (every limit,
// validate.go), the choice of backends on a node (backendsOn), and the layout of the tc
// and nft objects a fault creates (tc.go, nftables.go), which --dry-run (Describe) and
// the agent's events render through netobj. The kernel work is in *_linux.go: the
// injector and its Active (inject_linux.go, active_linux.go), tc (tc_linux.go builds
// the netlink objects, tcapply_linux.go creates and removes them) and nftables
// (nft_linux.go).
package network

import (
	"fmt"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network/netobj"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network/nfqdelay"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Handles the tool owns. Every qdisc it creates uses one of these, so recovery deletes
// only qdiscs with our handle. 0x4b43 is "KC".
const (
	// RootHandleMajor is the root qdisc (netem, tbf, or the htb that steers filtered traffic).
	RootHandleMajor = 0x4b43
	// ChildHandleMajor is the qdisc under the root (netem under tbf, or the faulty leaf
	// under htb).
	ChildHandleMajor = 0x4b44
)

// Backends.
const (
	BackendAuto    = "auto"
	BackendNetem   = "netem"
	BackendNFQueue = "nfqueue"
	BackendNFT     = "nft"
)

// Conditions of the --dry-run alternatives, and the placeholder of the owned table's
// name (one per experiment and pod).
const (
	condNetem  = "if sch_netem is available"
	condNoNet  = "if sch_netem is missing (fallback)"
	ownedTable = "kubectl_chaos_<experiment>_<hash>"
)

// netemWant says which parts of a fault netem does on a node.
type netemWant struct{ delay, loss, other bool }

func (w netemWant) any() bool { return w.delay || w.loss || w.other }

// wantOnNetemKernel is what netem does where sch_netem exists.
func wantOnNetemKernel(n *plan.Network) netemWant {
	return netemWant{
		delay: n.Delay != nil && n.DelayBackend != BackendNFQueue,
		loss:  lossOnNetem(n),
		other: n.Duplicate != nil || n.Corrupt != nil || n.Reorder != nil,
	}
}

// lossOnNetem: whether loss uses netem where sch_netem is present.
func lossOnNetem(n *plan.Network) bool {
	if n.Loss == nil || n.LossBackend == BackendNFT {
		return false
	}
	d := n.Filter.Direction
	return d == "" || d == "egress"
}

// backends is how one node does a (non-partition) fault. Describe lists it for both
// kinds of node, the agent applies it for its own: one decision for both.
type backends struct {
	netem    netemWant // the parts netem does
	tc       bool      // a tc setup: netem, or tbf/htb for bandwidth
	nftLoss  bool      // loss by nftables random drops
	nfqDelay bool      // delay by the userspace NFQUEUE backend
	// refused lists the parts only netem can do, on a node without it: nothing is
	// created.
	refused []string
}

// backendsOn decides the backends on a node with (netem) or without sch_netem.
func backendsOn(n *plan.Network, netem bool) backends {
	b := backends{netem: wantOnNetemKernel(n)}
	if !netem {
		if b.refused = netemOnly(n); len(b.refused) > 0 {
			return backends{refused: b.refused}
		}
		b.netem = netemWant{}
	}
	b.tc = b.netem.any() || n.Bandwidth != nil
	b.nftLoss = n.Loss != nil && !b.netem.loss
	b.nfqDelay = n.Delay != nil && !b.netem.delay
	return b
}

// netemOnly lists the parts of n that only netem can do.
func netemOnly(n *plan.Network) []string {
	var s []string
	if n.Delay != nil && n.DelayBackend == BackendNetem {
		s = append(s, "delay with --delay-backend netem")
	}
	if n.Loss != nil && n.LossBackend == BackendNetem {
		s = append(s, "loss with --loss-backend netem")
	}
	if n.Duplicate != nil {
		s = append(s, "duplicate")
	}
	if n.Corrupt != nil {
		s = append(s, "corrupt")
	}
	if n.Reorder != nil {
		s = append(s, "reorder")
	}
	return s
}

// netemRefusal says why a fault cannot be done on node (e.g. "node w1", "the node").
func netemRefusal(refused []string, node string) string {
	return fmt.Sprintf("%s need(s) the sch_netem kernel module on %s (modprobe sch_netem)", strings.Join(refused, ", "), node)
}

// fallbackNotes say what the fallbacks do on node instead of netem.
func fallbackNotes(n *plan.Network, node string) []string {
	want := wantOnNetemKernel(n)
	var notes []string
	if want.loss {
		notes = append(notes, fmt.Sprintf("sch_netem is missing on %s: loss is done with nftables (numgen random drop at the netdev egress/ingress hook, silent to the sender)", node))
	}
	if want.delay {
		notes = append(notes, fmt.Sprintf("sch_netem is missing on %s: delay is done in userspace through NFQUEUE", node))
	}
	return notes
}

// Describe lists the kernel objects the fault would create and how each is removed, for
// --dry-run. Where the choice depends on the node (sch_netem present or not), both
// alternatives are listed with their Condition. The objects are rendered by the code
// that renders the agent's: they differ only in what the node decides (the interfaces,
// when --interface is not given, the table's name, the netns).
func Describe(n *plan.Network) []plan.Object {
	if n == nil {
		return nil
	}
	ifnames := n.Filter.Interfaces
	if len(ifnames) == 0 {
		ifnames = []string{netobj.AnyInterface}
	}
	var out []plan.Object
	if n.Partition != nil {
		out = dropLayout(n, ifnames, ownedTable, bestNFT).objects()
	} else if with := backendsOn(n, true); !with.netem.any() {
		// Bandwidth (tbf), nft loss and nfqueue delay work on every kernel.
		out = describeOn(n, with, ifnames, "")
	} else {
		out = describeOn(n, with, ifnames, condNetem)
		if without := backendsOn(n, false); len(without.refused) > 0 {
			out = append(out, plan.Object{Kind: "error", Spec: "refused: " + netemRefusal(without.refused, "the node"),
				Remove: "nothing is created", Condition: condNoNet})
		} else {
			out = append(out, describeOn(n, without, ifnames, condNoNet)...)
		}
	}
	for i := range out {
		if out[i].Interface == netobj.AnyInterface {
			out[i].Interface = netobj.EachInterface
		}
	}
	return out
}

// describeOn lists the objects of the backends b, in the order the agent creates them.
func describeOn(n *plan.Network, b backends, ifnames []string, cond string) []plan.Object {
	var out []plan.Object
	if b.tc {
		for _, name := range ifnames {
			for _, it := range tcLayout(n, b.netem, name) {
				out = append(out, it.obj)
			}
		}
	}
	if b.nftLoss {
		out = append(out, dropLayout(n, ifnames, ownedTable, bestNFT).objects()...)
	}
	if b.nfqDelay {
		out = append(out, nfqdelay.Describe(*n.Delay, n.Filter)...)
	}
	for i := range out {
		out[i].Condition = cond
	}
	return out
}
