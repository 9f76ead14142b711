package experiment

// A fault command on warm helpers (kubectl chaos warm; docs/agent.md, "Warm helpers"):
// the lookup of this owner's warm helpers runs while the targets resolve; on each
// target node with a usable one the experiment's plan goes to it as a step (attach,
// plan line, the step's events, stop STEP at the end, detach), and the other nodes get
// helper pods of their own as before.

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/warmkeys"
)

// WarmMargin is how long a warm helper must outlive the fault's deadline to take it:
// the step's recovery and the CLI's stop fit in it.
const WarmMargin = 30 * time.Second

// warmFound is the lookup's answer: this owner's usable warm helpers (key held here,
// running), not yet checked against the fault.
type warmFound struct {
	pods []warmCandidate
	err  error
}

type warmCandidate struct {
	pod  *corev1.Pod
	plan *plan.Plan
	key  string
}

// findWarm lists the warm helpers in the helper namespace in the background (nil when
// the command cannot use any: --warm=false, a run's step). With --detach it only says
// that it does not use them.
func (o *Options) findWarm(ctx context.Context, c kubernetes.Interface) <-chan warmFound {
	if !o.Warm || o.Helpers != nil || o.WarmKeys == nil {
		return nil
	}
	ch := make(chan warmFound, 1)
	owner := "unknown"
	if o.Owner != nil {
		owner = o.Owner()
	}
	go func() {
		ch <- listWarm(ctx, c, o.HelperNamespace, owner, o.WarmKeys())
	}()
	return ch
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
	use := map[string]session.WarmHelper{}
	best := map[string]time.Time{}
	for _, wc := range found {
		node := wc.plan.Node
		var why string
		switch {
		case p.Selection.ByNode[node] == nil:
			continue
		case wc.plan.Deadline.Before(p.Deadline.Add(WarmMargin)):
			why = fmt.Sprintf("its deadline %s is too early for the fault's %s (+%s)", wc.plan.Deadline.Format(time.RFC3339), p.Deadline.Format(time.RFC3339), WarmMargin)
		case wc.plan.Runtime.Endpoint != socket:
			why = fmt.Sprintf("it mounts runtime socket %s, not --runtime-socket %s", wc.plan.Runtime.Endpoint, socket)
		}
		if why != "" {
			slog.Info("not using warm helper", "pod", wc.pod.Namespace+"/"+wc.pod.Name, "node", node, "why", why)
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

// warmFor waits for the lookup and picks the warm helpers of p (none: an empty map).
func (o *Options) warmFor(ch <-chan warmFound, p *Prepared) map[string]session.WarmHelper {
	if ch == nil {
		return nil
	}
	found := <-ch
	if found.err != nil {
		slog.Info("not using warm helpers: listing them failed", "error", found.err)
		return nil
	}
	return pickWarm(found.pods, p, o.RuntimeSocket)
}
