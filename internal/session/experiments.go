package session

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// GCGrace is how long after its deadline a helper pod is left alone by GC: its agent
// and activeDeadlineSeconds act first.
const GCGrace = 30 * time.Second

var managedSelector = labels.Set{plan.LabelManagedBy: plan.ManagedByValue}.AsSelector().String()

// listHelpers lists every helper pod in the cluster with one List.
func listHelpers(ctx context.Context, c kubernetes.Interface) (*corev1.PodList, error) {
	l, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: managedSelector})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return nil, exit.APIError(fmt.Errorf("you may not list pods across namespaces (RBAC), which finding experiments needs: %w", err))
		}
		return nil, exit.APIError(fmt.Errorf("listing helper pods (label %s): %w", managedSelector, err))
	}
	return l, nil
}

func helperState(p *corev1.Pod) HelperState {
	hs := HelperState{Namespace: p.Namespace, Pod: p.Name, Node: podNode(p), Phase: string(p.Status.Phase)}
	if st := agentStatus(p); st != nil {
		hs.Restarts = st.RestartCount
	}
	hs.Result, _ = podResult(p)
	return hs
}

// group turns helper pods into experiments, sorted by ID, helpers by node.
func group(pods []corev1.Pod) []Experiment {
	byID := map[string]*Experiment{}
	var ids []string
	for i := range pods {
		p := &pods[i]
		id := p.Labels[plan.LabelExperiment]
		if id == "" {
			continue
		}
		e := byID[id]
		if e == nil {
			e = &Experiment{ID: id}
			byID[id] = e
			ids = append(ids, id)
		}
		if e.Owner == "" {
			e.Owner = p.Annotations[plan.AnnotationOwner]
		}
		if e.Fault == "" {
			e.Fault = podFault(p)
		}
		if p.Annotations[plan.AnnotationDetached] == "true" {
			e.Detached = true
		} else if pl := podPlan(p); pl != nil && pl.Detached {
			e.Detached = true
		}
		if d := podDeadline(p); d.After(e.Deadline) {
			e.Deadline = d
		}
		e.Helpers = append(e.Helpers, helperState(p))
	}
	sort.Strings(ids)
	out := make([]Experiment, 0, len(ids))
	for _, id := range ids {
		e := byID[id]
		sort.Slice(e.Helpers, func(i, j int) bool {
			a, b := e.Helpers[i], e.Helpers[j]
			if a.Node != b.Node {
				return a.Node < b.Node
			}
			return a.Namespace+"/"+a.Pod < b.Namespace+"/"+b.Pod
		})
		out = append(out, *e)
	}
	return out
}

func list(ctx context.Context, c kubernetes.Interface) ([]Experiment, error) {
	l, err := listHelpers(ctx, c)
	if err != nil {
		return nil, err
	}
	return group(l.Items), nil
}

func get(ctx context.Context, c kubernetes.Interface, id string) (*Experiment, error) {
	exps, err := list(ctx, c)
	if err != nil {
		return nil, err
	}
	for i := range exps {
		if exps[i].ID == id {
			return &exps[i], nil
		}
	}
	return nil, unknownExperiment(id, exps)
}

func unknownExperiment(id string, exps []Experiment) error {
	if len(exps) == 0 {
		return exit.Usagef("no experiment %q: there are no experiments running (kubectl chaos ls)", id)
	}
	ids := make([]string, len(exps))
	for i := range exps {
		ids[i] = exps[i].ID
	}
	return exit.Usagef("no experiment %q: running are %s (kubectl chaos ls)", id, strings.Join(ids, ", "))
}

func stop(ctx context.Context, c kubernetes.Interface, ids []string, all bool, timeout time.Duration) ([]Experiment, error) {
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	if len(ids) == 0 && !all {
		return nil, exit.Usagef("stop: name an experiment ID (kubectl chaos ls lists them) or pass --all")
	}
	l, err := listHelpers(ctx, c)
	if err != nil {
		return nil, err
	}
	exps := group(l.Items)
	want := map[string]bool{}
	for _, id := range ids {
		found := false
		for _, e := range exps {
			found = found || e.ID == id
		}
		if !found {
			return nil, unknownExperiment(id, exps)
		}
		want[id] = true
	}
	latest := map[types.NamespacedName]*corev1.Pod{}
	for i := range l.Items {
		p := &l.Items[i]
		if id := p.Labels[plan.LabelExperiment]; id != "" && (len(ids) == 0 || want[id]) {
			latest[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}] = p
		}
	}
	if len(latest) == 0 {
		return nil, nil
	}
	bg := context.WithoutCancel(ctx)
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Watch before deleting, so the final statuses (termination messages) are seen.
	w, werr := c.CoreV1().Pods(metav1.NamespaceAll).Watch(wctx, metav1.ListOptions{LabelSelector: managedSelector, ResourceVersion: l.ResourceVersion})
	remaining := map[types.NamespacedName]bool{}
	var errs []string
	dctx, dcancel := context.WithTimeout(bg, timeout)
	for k := range latest {
		err := c.CoreV1().Pods(k.Namespace).Delete(dctx, k.Name, metav1.DeleteOptions{})
		switch {
		case err == nil:
			remaining[k] = true
		case apierrors.IsNotFound(err):
		default:
			errs = append(errs, fmt.Sprintf("deleting helper pod %s: %v", k, err))
		}
	}
	dcancel()
	if werr == nil {
		defer w.Stop()
	wait:
		for len(remaining) > 0 {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					break wait
				}
				p, isPod := ev.Object.(*corev1.Pod)
				if !isPod {
					continue
				}
				k := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
				if _, mine := latest[k]; !mine {
					continue
				}
				latest[k] = p
				if ev.Type == watch.Deleted {
					delete(remaining, k)
				}
			case <-wctx.Done():
				break wait
			}
		}
	}
	// Whatever the watch missed (closed early, or could not start): one more List.
	if len(remaining) > 0 {
		if l2, err := listHelpers(bg, c); err == nil {
			still := map[types.NamespacedName]bool{}
			for i := range l2.Items {
				k := types.NamespacedName{Namespace: l2.Items[i].Namespace, Name: l2.Items[i].Name}
				if remaining[k] {
					still[k] = true
					latest[k] = &l2.Items[i]
				}
			}
			remaining = still
		}
	}
	if len(remaining) > 0 {
		var left []string
		for k := range remaining {
			left = append(left, k.String())
		}
		sort.Strings(left)
		errs = append(errs, fmt.Sprintf("helper pods %s still terminating after %s (their agents recover on SIGTERM); check with kubectl chaos ls",
			strings.Join(left, ", "), timeout))
	}
	pods := make([]corev1.Pod, 0, len(latest))
	for _, p := range latest {
		pods = append(pods, *p)
	}
	out := group(pods)
	if len(errs) > 0 {
		return out, exit.APIError(fmt.Errorf("%s", strings.Join(errs, "; ")))
	}
	return out, nil
}

func gc(ctx context.Context, c kubernetes.Interface, now time.Time) ([]HelperState, error) {
	l, err := listHelpers(ctx, c)
	if err != nil {
		return nil, err
	}
	var removed []HelperState
	var errs []string
	for i := range l.Items {
		p := &l.Items[i]
		d := podDeadline(p)
		expired := !d.IsZero() && now.After(d.Add(GCGrace))
		finished := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		if !expired && !finished {
			continue
		}
		err := c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Sprintf("deleting helper pod %s/%s: %v", p.Namespace, p.Name, err))
			continue
		}
		removed = append(removed, helperState(p))
	}
	if len(errs) > 0 {
		return removed, exit.APIError(fmt.Errorf("%s", strings.Join(errs, "; ")))
	}
	return removed, nil
}
