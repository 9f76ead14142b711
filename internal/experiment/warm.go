package experiment

// A fault command on warm helpers (kubectl chaos warm; docs/agent.md, "Warm helpers"):
// the lookup of this owner's warm helpers runs while the targets resolve, and so do the
// attaches to the helpers it found (one per node, at most maxEarlyAttach: the attach
// through the API server and the kubelet is ≈50 ms of a warm fault's start). On each
// target node with a usable one the experiment's plan goes to it as a step (plan line,
// the step's events, stop STEP at the end, detach), and the other nodes get helper pods
// of their own as before. An attach opened early to a helper the resolved fault does
// not take (another node, a deadline too early for it) is closed unused.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/warmkeys"
)

// WarmMargin is how long a warm helper must outlive the fault's deadline to take it:
// the step's recovery and the CLI's stop fit in it.
const WarmMargin = 30 * time.Second

// maxEarlyAttach bounds the attaches opened before the targets are known: one per node
// with a warm helper. With more warm nodes than this, the command attaches after the
// targets resolved, to the helpers of its own nodes only.
const maxEarlyAttach = 8

// warmFound is the lookup's answer: this owner's usable warm helpers (key held here,
// running), not yet checked against the fault, and the pool whose attaches to them were
// opened while the targets resolved (nil: none).
type warmFound struct {
	pods  []warmCandidate
	err   error
	early *earlyWarm
}

// earlyWarm is the pool of warm helpers attached before the targets were known.
type earlyWarm struct {
	pool *session.Pool
	use  map[string]session.WarmHelper // node -> the helper the pool attached to
}

// warmLookup is a fault command's lookup of its warm helpers, under way while the
// targets resolve. A nil *warmLookup is a command that uses none.
type warmLookup struct {
	ch    <-chan warmFound
	found *warmFound
	taken bool // the early pool went to the warm step
}

type warmCandidate struct {
	pod  *corev1.Pod
	plan *plan.Plan
	key  string
}

// findWarm lists the warm helpers in the helper namespace in the background, and
// attaches to them (earlyAttach), while the targets resolve; nil when the command
// cannot use any (--warm=false). With --detach it only says that it does not use them.
// A kubectl chaos run's step uses them too: on their nodes instead of the run's
// helpers. The caller releases the lookup (release) on every path.
func (o *Options) findWarm(ctx context.Context, c kubernetes.Interface) *warmLookup {
	if !o.Warm || o.WarmKeys == nil {
		return nil
	}
	ch := make(chan warmFound, 1)
	owner := "unknown"
	if o.Owner != nil {
		owner = o.Owner()
	}
	// The fault's deadline as Prepare will stamp it, or earlier (the clock moves on):
	// a helper too short for this is too short for the fault.
	deadline := o.clock().Add(o.Duration)
	early := o.attachEarly()
	go func() {
		found := listWarm(ctx, c, o.HelperNamespace, owner, o.WarmKeys())
		session.Step("cli-warm-listed", time.Now())
		if found.err == nil && early {
			found.early = o.openEarly(ctx, c, owner, found.pods, deadline)
		}
		ch <- found
	}()
	return &warmLookup{ch: ch}
}

// attachEarly: the command may attach to its warm helpers before its targets are
// known. Not for a dry run (it attaches to nothing), --detach (no warm helper), an
// API-only fault (no helper at all), or a confirmation prompt (the user decides first).
func (o *Options) attachEarly() bool {
	if o.DryRun || o.Detach || (!o.Yes && o.IO != nil && o.IO.CanPrompt()) {
		return false
	}
	e, err := catalog.For(o.Fault)
	return err == nil && !e.APIOnly()
}

// openEarly starts the pool of the warm helpers the fault could use on any node (the
// latest-deadline one per node, as pickWarm chooses) so their attaches open while the
// targets resolve; nil when there are none, or more nodes than maxEarlyAttach, or the
// pool cannot start (the command then attaches after the targets resolved).
func (o *Options) openEarly(ctx context.Context, c kubernetes.Interface, owner string, found []warmCandidate, deadline time.Time) *earlyWarm {
	// Silent: the pick after the targets resolved says why a helper is not used, once.
	use := pickWarmFor(found, func(string) bool { return true }, deadline, o.RuntimeSocket, false)
	if len(use) == 0 || len(use) > maxEarlyAttach || o.Attacher == nil {
		return nil
	}
	att, err := o.Attacher()
	if err != nil {
		return nil
	}
	pool, err := startWarmPool(ctx, o, c, att, owner, use)
	if err != nil {
		slog.Info("not attaching to the warm helpers early", "error", err)
		return nil
	}
	return &earlyWarm{pool: pool, use: use}
}

// listWarm lists the warm helpers of owner that are running and whose key this CLI
// holds; each one it passes over is said at -v.
func listWarm(ctx context.Context, c kubernetes.Interface, ns, owner string, keys warmkeys.Store) warmFound {
	sel := labels.Set{plan.LabelManagedBy: plan.ManagedByValue, plan.LabelWarm: "true"}.String()
	list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return warmFound{err: err}
	}
	var out warmFound
	for i := range list.Items {
		pod := &list.Items[i]
		pl := warmPlan(pod)
		var why string
		e, haveKey := keys.Get(string(pod.UID))
		switch {
		case pl == nil:
			why = "no warm plan in its environment"
		case pod.Annotations[plan.AnnotationOwner] != owner:
			why = fmt.Sprintf("its owner is %s, not %s", pod.Annotations[plan.AnnotationOwner], owner)
		case !haveKey:
			why = "its step key is not in this CLI's state directory (warmed by another user or machine)"
		case !warmkeys.Matches(e.Key, pl.StepKey):
			why = "the key kept here does not match its stepKey"
		case pod.DeletionTimestamp != nil || !session.AgentRunning(pod):
			why = "it is not running"
		}
		if why != "" {
			slog.Info("not using warm helper", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName, "why", why)
			continue
		}
		out.pods = append(out.pods, warmCandidate{pod: pod, plan: pl, key: e.Key})
	}
	return out
}

// pickWarm chooses, per node of p, the warm helper with the latest deadline that
// outlives the fault's deadline by WarmMargin and mounts the same runtime socket.
func pickWarm(found []warmCandidate, p *Prepared, socket string) map[string]session.WarmHelper {
	return pickWarmFor(found, func(node string) bool { return p.Selection.ByNode[node] != nil }, p.Deadline, socket, true)
}

// pickWarmFor is pickWarm on the nodes onNode says, for a fault ending at deadline;
// explain logs (-v) why a helper is not used.
func pickWarmFor(found []warmCandidate, onNode func(string) bool, deadline time.Time, socket string, explain bool) map[string]session.WarmHelper {
	use := map[string]session.WarmHelper{}
	best := map[string]time.Time{}
	for _, wc := range found {
		node := wc.plan.Node
		var why string
		switch {
		case !onNode(node):
			continue
		case wc.plan.Deadline.Before(deadline.Add(WarmMargin)):
			why = fmt.Sprintf("its deadline %s is too early for the fault's %s (+%s)", wc.plan.Deadline.Format(time.RFC3339), deadline.Format(time.RFC3339), WarmMargin)
		case wc.plan.Runtime.Endpoint != socket:
			why = fmt.Sprintf("it mounts runtime socket %s, not --runtime-socket %s", wc.plan.Runtime.Endpoint, socket)
		}
		if why != "" {
			if explain {
				slog.Info("not using warm helper", "pod", wc.pod.Namespace+"/"+wc.pod.Name, "node", node, "why", why)
			}
			continue
		}
		if wc.plan.Deadline.After(best[node]) {
			best[node] = wc.plan.Deadline
			use[node] = session.WarmHelper{Pod: wc.pod, Key: wc.key}
		}
	}
	return use
}

// warmPlan is a warm helper's plan, or nil.
func warmPlan(pod *corev1.Pod) *plan.Plan {
	for _, ct := range pod.Spec.Containers {
		if ct.Name != helperpod.ContainerName {
			continue
		}
		for _, e := range ct.Env {
			if e.Name == plan.EnvVar {
				if pl, err := plan.Decode(e.Value); err == nil && pl.Serve && pl.Warm {
					return pl
				}
			}
		}
	}
	return nil
}

// wait is the lookup's answer, once it came.
func (l *warmLookup) wait() *warmFound {
	if l.found == nil {
		f := <-l.ch
		l.found = &f
	}
	return l.found
}

// warmFor waits for the lookup and picks the warm helpers of p (none: an empty map).
func (o *Options) warmFor(l *warmLookup, p *Prepared) map[string]session.WarmHelper {
	if l == nil {
		return nil
	}
	found := l.wait()
	if found.err != nil {
		slog.Info("not using warm helpers: listing them failed", "error", found.err)
		return nil
	}
	return pickWarm(found.pods, p, o.RuntimeSocket)
}

// takeEarly hands the early pool to the warm step when it attached to every helper of
// use (the same pod on each node); else nil, and the step starts a pool of its own
// (release closes the early one).
func (l *warmLookup) takeEarly(use map[string]session.WarmHelper) *session.Pool {
	if l == nil || l.taken || l.found == nil || l.found.early == nil || len(use) == 0 {
		return nil
	}
	e := l.found.early
	for node, wh := range use {
		if got, ok := e.use[node]; !ok || got.Pod.UID != wh.Pod.UID {
			return nil
		}
	}
	l.taken = true
	return e.pool
}

// release closes the early pool's attaches unless the warm step took it: the helpers
// serve on (Detach), whatever ended the command (targets not found, Ctrl-C, a warm
// helper the fault did not take). It waits for the lookup when it is still under way.
func (l *warmLookup) release() {
	if l == nil || l.taken {
		return
	}
	if f := l.wait(); f.early != nil {
		f.early.pool.Detach()
		f.early = nil
	}
}

// WarmPlan is which warm helper each node of p would use (kubectl chaos run --dry-run):
// one List, read only, nothing attached; empty with --warm=false or when there are none.
func (o *Options) WarmPlan(ctx context.Context, c kubernetes.Interface, p *Prepared) map[string]session.WarmHelper {
	if !o.Warm || o.WarmKeys == nil {
		return nil
	}
	owner := "unknown"
	if o.Owner != nil {
		owner = o.Owner()
	}
	found := listWarm(ctx, c, o.HelperNamespace, owner, o.WarmKeys())
	if found.err != nil {
		slog.Info("not using warm helpers: listing them failed", "error", found.err)
		return nil
	}
	return pickWarm(found.pods, p, o.RuntimeSocket)
}
