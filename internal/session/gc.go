package session

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
)

// GCOptions for GC.
type GCOptions struct {
	Now    time.Time
	DryRun bool
	// AllNodes sweeps every Ready node; Nodes sweeps these (named by the user). Without
	// either, gc sweeps the nodes of the helper pods it finds.
	AllNodes bool
	Nodes    []string
	// Sweep are the sweep pods' settings (its Nodes are GC's to fill in).
	Sweep SweepOptions
	// DeleteTimeout bounds the wait for deleted helpers to go before the sweep (their
	// journal is locked while their agent lives); default DefaultStopTimeout.
	DeleteTimeout time.Duration
}

// GCReport is what gc did or, with DryRun, would do.
type GCReport struct {
	DryRun bool `json:"dryRun,omitempty"`
	// Deleted are the helper pods past their deadline (plus GCGrace) or finished.
	Deleted []HelperState `json:"deleted"`
	// Restored are the pods an API-only fault changed whose deadline has passed.
	Restored []ChangedPod `json:"restored"`
	// SweepPods are the sweep pods gc creates, one per node (with DryRun: would create).
	SweepPods []*corev1.Pod `json:"sweepPods,omitempty"`
	// Sweeps is what each sweep removed.
	Sweeps []NodeSweep `json:"sweeps"`
	// Skipped are nodes --all-nodes leaves out, with the reason (not Ready).
	Skipped []SkippedNode `json:"skipped,omitempty"`
}

// SkippedNode is a node gc did not sweep.
type SkippedNode struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

func gc(ctx context.Context, c kubernetes.Interface, o GCOptions) (*GCReport, error) {
	l, err := listOurs(ctx, c)
	if err != nil {
		return nil, err
	}
	rep := &GCReport{DryRun: o.DryRun, Deleted: []HelperState{}, Restored: []ChangedPod{}, Sweeps: []NodeSweep{}}
	helpers := map[string]*corev1.Pod{}
	var changed []*corev1.Pod
	helperNodes := map[string]bool{}
	var unreadable []error
	for i := range l.Items {
		p := &l.Items[i]
		if isHelper(p) {
			if n := podNode(p); n != "" {
				helperNodes[n] = true
			}
			if expired(p, o.Now) {
				helpers[p.Namespace+"/"+p.Name] = p
				rep.Deleted = append(rep.Deleted, helperState(p))
			}
			continue
		}
		rec, err := UndoRecordOf(p)
		if err != nil {
			rep.Restored = append(rep.Restored, ChangedPod{Namespace: p.Namespace, Pod: p.Name, Node: p.Spec.NodeName, Error: err.Error()})
			unreadable = append(unreadable, err)
			continue
		}
		if rec != nil && !rec.Deadline.IsZero() && o.Now.After(rec.Deadline) {
			changed = append(changed, p)
			if o.DryRun {
				rep.Restored = append(rep.Restored, changedPod(p, rec))
			}
		}
	}
	sortHelpers(rep.Deleted)
	nodes, skipped, err := sweepNodes(ctx, c, o, helperNodes, gcWords)
	if err != nil {
		return rep, err
	}
	rep.Skipped = skipped
	sw := o.Sweep
	sw.Nodes = nodes
	if sw.ID == "" {
		sw.ID = NewSweepID()
	}
	if rep.SweepPods, err = SweepPods(sw, o.Now); err != nil {
		return rep, err
	}
	if o.DryRun {
		return rep, nil
	}
	err = collect(ctx, c, o, rep, helpers, changed)
	if len(unreadable) > 0 {
		// A pod we changed that cannot be restored from its record: something is left.
		err = joinExit(append([]error{exit.FaultError(fmt.Errorf("restore these pods by hand: %w", errors.Join(unreadable...)))}, errOrNone(err)...))
	}
	return rep, err
}

func errOrNone(err error) []error {
	if err == nil {
		return nil
	}
	return []error{err}
}

// collect does what gc found to do: delete, restore, then sweep.
func collect(ctx context.Context, c kubernetes.Interface, o GCOptions, rep *GCReport, helpers map[string]*corev1.Pod, changed []*corev1.Pod) error {
	var apiErrs []string
	for k, p := range helpers {
		err := c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			apiErrs = append(apiErrs, fmt.Sprintf("deleting helper pod %s: %v", k, err))
			delete(helpers, k)
		}
	}
	restored, rerr := restoreAll(ctx, c, changed)
	rep.Restored = append(rep.Restored, restored...)
	// The sweep skips a journal whose agent still holds its lock: let the deleted
	// helpers' agents recover and go first.
	timeout := o.DeleteTimeout
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	apiErrs = append(apiErrs, deleteAndWait(ctx, c, helpers, timeout)...)
	sweeps, serr := RunSweeps(ctx, c, rep.SweepPods, o.Sweep.Timeout)
	rep.Sweeps = append(rep.Sweeps, sweeps...)
	var errs []error
	if serr != nil {
		errs = append(errs, serr)
	}
	if rerr != nil {
		errs = append(errs, exit.FaultError(fmt.Errorf("restoring changed pods: %w", rerr)))
	}
	if len(apiErrs) > 0 {
		errs = append(errs, exit.APIError(errors.New(strings.Join(apiErrs, "; "))))
	}
	return joinExit(errs)
}

// joinExit joins errors, keeping the highest-priority exit code: a fault (something
// may be left) over an API error.
func joinExit(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	code := exit.API
	for _, e := range errs {
		if exit.Code(e) == exit.Fault {
			code = exit.Fault
		}
	}
	return &exit.Error{Code: code, Err: errors.Join(errs...)}
}

// expired: a helper past its deadline plus GCGrace, or finished.
func expired(p *corev1.Pod, now time.Time) bool {
	d := PodDeadline(p)
	if !d.IsZero() && now.After(d.Add(GCGrace)) {
		return true
	}
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func sortHelpers(hs []HelperState) {
	sort.Slice(hs, func(i, j int) bool { return hs[i].Namespace+"/"+hs[i].Pod < hs[j].Namespace+"/"+hs[j].Pod })
}

// nodeWords name, in sweepNodes' errors, how the user chose the nodes: gc's flags, or
// doctor's arguments.
type nodeWords struct{ all, one, instead string }

var (
	gcWords     = nodeWords{all: "--all-nodes", one: "--node ", instead: "name them with --node instead"}
	doctorWords = nodeWords{all: "all nodes", one: "node ", instead: "name them as arguments instead"}
)

// sweepNodes picks the nodes to sweep: every Ready node (AllNodes), the named ones
// (checked to exist), and the nodes of the helpers gc found.
func sweepNodes(ctx context.Context, c kubernetes.Interface, o GCOptions, helperNodes map[string]bool, w nodeWords) ([]string, []SkippedNode, error) {
	set := map[string]bool{}
	for n := range helperNodes {
		set[n] = true
	}
	var skipped []SkippedNode
	if o.AllNodes {
		l, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			if apierrors.IsForbidden(err) {
				return nil, nil, exit.APIError(fmt.Errorf("%s: you may not list nodes (RBAC); %s: %w", w.all, w.instead, err))
			}
			return nil, nil, exit.APIError(fmt.Errorf("%s: listing nodes: %w", w.all, err))
		}
		for i := range l.Items {
			n := &l.Items[i]
			if why := notReady(n); why != "" {
				skipped = append(skipped, SkippedNode{Node: n.Name, Reason: why})
				continue
			}
			set[n.Name] = true
		}
	}
	for _, n := range o.Nodes {
		_, err := c.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, nil, exit.Usagef("%s%s: no such node (kubectl get nodes lists them)", w.one, n)
		case err != nil && !apierrors.IsForbidden(err):
			return nil, nil, exit.APIError(fmt.Errorf("%s%s: reading the node: %w", w.one, n, err))
		}
		set[n] = true // may not read nodes: the sweep pod says whether it exists
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, skipped, nil
}

// notReady says why a node cannot run a sweep pod now ("" when it can).
func notReady(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			return fmt.Sprintf("node is not Ready (%s: %s)", c.Reason, c.Message)
		}
	}
	return ""
}

// SelectNodes is gc's node choice for other node-wide commands (doctor): the named
// nodes (checked to exist), or every Ready node when names is empty, with the nodes
// skipped as not Ready.
func SelectNodes(ctx context.Context, c kubernetes.Interface, names []string) ([]string, []SkippedNode, error) {
	return sweepNodes(ctx, c, GCOptions{AllNodes: len(names) == 0, Nodes: names}, nil, doctorWords)
}
