package session

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
)

// GCGrace is how long after its deadline a helper pod is left alone by GC: its agent
// and activeDeadlineSeconds act first. A pod changed by an API-only fault has no agent:
// gc restores it as soon as its deadline has passed.
const GCGrace = 30 * time.Second

var managedSelector = labels.Set{plan.LabelManagedBy: plan.ManagedByValue}.AsSelector()

// experimentSelector finds everything of ours in one List: helper pods and pods an
// API-only fault changed both carry the experiment label.
var experimentSelector = func() labels.Selector {
	r, err := labels.NewRequirement(plan.LabelExperiment, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*r)
}()

// listOurs lists helper pods and changed pods across all namespaces with one List.
func listOurs(ctx context.Context, c kubernetes.Interface) (*corev1.PodList, error) {
	sel := experimentSelector.String()
	l, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		if apierrors.IsForbidden(err) {
			return nil, exit.APIError(fmt.Errorf("you may not list pods across namespaces (RBAC), which finding experiments needs: %w", err))
		}
		return nil, exit.APIError(fmt.Errorf("listing the pods of experiments (label %s): %w", sel, err))
	}
	return l, nil
}

func isHelper(p *corev1.Pod) bool { return p.Labels[plan.LabelManagedBy] == plan.ManagedByValue }

func helperState(p *corev1.Pod) HelperState {
	hs := HelperState{Namespace: p.Namespace, Pod: p.Name, Node: podNode(p), Phase: string(p.Status.Phase)}
	if st := agentStatus(p); st != nil {
		hs.Restarts = st.RestartCount
	}
	hs.Result, hs.Terminated = podResult(p)
	if hs.Terminated && hs.Result != nil {
		if st := agentStatus(p); st != nil && st.State.Terminated != nil {
			if r, err := decodeResult(st.State.Terminated.Message); err != nil || r == nil {
				hs.Result = nil // the previous container's: this one ended without a word
			}
		}
	}
	hs.PodReason = p.Status.Reason
	hs.Deleting = p.DeletionTimestamp != nil
	hs.Plan, hs.Annotations = podPlan(p), p.Annotations
	return hs
}

// group turns helper pods and changed pods into experiments, sorted by ID, helpers by
// node, changed pods by namespace/name. Pods with the label but neither a helper nor an
// undo record are not ours.
func group(pods []corev1.Pod) []Experiment {
	byID := map[string]*Experiment{}
	var ids []string
	for i := range pods {
		p := &pods[i]
		id := p.Labels[plan.LabelExperiment]
		if id == "" {
			continue
		}
		var rec *plan.UndoRecord
		var recErr error
		if !isHelper(p) {
			if rec, recErr = UndoRecordOf(p); rec == nil && recErr == nil {
				continue
			}
		}
		e := byID[id]
		if e == nil {
			e = &Experiment{ID: id}
			byID[id] = e
			ids = append(ids, id)
		}
		switch {
		case isHelper(p):
			addHelper(e, p)
		case recErr != nil:
			e.Pods = append(e.Pods, ChangedPod{Namespace: p.Namespace, Pod: p.Name, Node: p.Spec.NodeName, Error: recErr.Error()})
		default:
			addChanged(e, p, rec)
		}
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
		sort.Slice(e.Pods, func(i, j int) bool {
			return e.Pods[i].Namespace+"/"+e.Pods[i].Pod < e.Pods[j].Namespace+"/"+e.Pods[j].Pod
		})
		out = append(out, *e)
	}
	return out
}

func addHelper(e *Experiment, p *corev1.Pod) {
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
	if d := PodDeadline(p); d.After(e.Deadline) {
		e.Deadline = d
	}
	e.Helpers = append(e.Helpers, helperState(p))
}

func addChanged(e *Experiment, p *corev1.Pod, rec *plan.UndoRecord) {
	if e.Owner == "" {
		e.Owner = rec.Owner
	}
	if e.Fault == "" {
		e.Fault = rec.Fault
	}
	e.Detached = e.Detached || rec.Detached
	if rec.Deadline.After(e.Deadline) {
		e.Deadline = rec.Deadline
	}
	e.Pods = append(e.Pods, changedPod(p, rec))
}

func list(ctx context.Context, c kubernetes.Interface) ([]Experiment, error) {
	l, err := listOurs(ctx, c)
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
	l, err := listOurs(ctx, c)
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
	helpers := map[string]*corev1.Pod{}
	var changed []*corev1.Pod
	for i := range l.Items {
		p := &l.Items[i]
		if id := p.Labels[plan.LabelExperiment]; id == "" || (len(ids) > 0 && !want[id]) {
			continue
		}
		if isHelper(p) {
			helpers[p.Namespace+"/"+p.Name] = p
		} else if _, ok := p.Annotations[plan.AnnotationUndo]; ok {
			changed = append(changed, p)
		}
	}
	if len(helpers) == 0 && len(changed) == 0 {
		return nil, nil
	}
	bg := context.WithoutCancel(ctx)
	rctx, rcancel := context.WithTimeout(bg, timeout)
	restored, rerr := restoreAll(rctx, c, changed)
	rcancel()
	var errs []string
	if rerr != nil {
		errs = append(errs, rerr.Error())
	}
	errs = append(errs, deleteAndWait(bg, c, helpers, timeout)...)

	pods := make([]corev1.Pod, 0, len(helpers)+len(changed))
	for _, p := range helpers {
		pods = append(pods, *p)
	}
	for _, p := range changed {
		pods = append(pods, *p)
	}
	out := group(pods)
	markRestored(out, restored)
	if len(errs) > 0 {
		return out, exit.APIError(fmt.Errorf("%s", strings.Join(errs, "; ")))
	}
	return out, nil
}

// markRestored copies the outcome of each restore onto the experiments' pods.
func markRestored(exps []Experiment, restored []ChangedPod) {
	by := map[string]ChangedPod{}
	for _, r := range restored {
		by[r.Namespace+"/"+r.Pod] = r
	}
	for i := range exps {
		for j := range exps[i].Pods {
			cp := &exps[i].Pods[j]
			if r, ok := by[cp.Namespace+"/"+cp.Pod]; ok {
				cp.Restored, cp.Error = r.Restored, r.Error
			}
		}
	}
}

// deleteAndWait deletes the helper pods (their agents recover on SIGTERM) and waits,
// bounded, until they are gone, updating each entry with its last state (its
// termination message). The deletes go out once the watch has its first list (so the
// final statuses are seen), or after deleteSoon if the watch is slow to start or
// refused. It returns what went wrong.
func deleteAndWait(ctx context.Context, c kubernetes.Interface, helpers map[string]*corev1.Pod, timeout time.Duration) []string {
	if len(helpers) == 0 {
		return nil
	}
	var mu sync.Mutex
	var errs []string
	remaining := map[string]bool{}
	keys := make([]string, 0, len(helpers))
	for k := range helpers {
		keys = append(keys, k)
	}
	var once sync.Once
	deleteAll := func() {
		once.Do(func() {
			dctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			for _, k := range keys {
				ns, name, _ := strings.Cut(k, "/")
				err := c.CoreV1().Pods(ns).Delete(dctx, name, metav1.DeleteOptions{})
				mu.Lock()
				switch {
				case err == nil:
					remaining[k] = true
				case apierrors.IsNotFound(err):
				default:
					errs = append(errs, fmt.Sprintf("deleting helper pod %s: %v", k, err))
				}
				mu.Unlock()
			}
		})
	}
	soon := time.AfterFunc(deleteSoon, deleteAll)
	defer soon.Stop()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	werr := watchPodsUntil(wctx, c, metav1.NamespaceAll, managedSelector,
		func(exists func(string) bool) bool {
			deleteAll()
			mu.Lock()
			defer mu.Unlock()
			for k := range remaining {
				if !exists(k) {
					delete(remaining, k)
				}
			}
			return len(remaining) == 0
		},
		func(p *corev1.Pod, gone bool) bool {
			mu.Lock()
			defer mu.Unlock()
			k := p.Namespace + "/" + p.Name
			if _, mine := helpers[k]; mine {
				helpers[k] = p
				if gone {
					delete(remaining, k)
				}
			}
			return len(remaining) == 0
		})
	deleteAll()
	mu.Lock()
	defer mu.Unlock()
	if werr != nil && len(remaining) > 0 {
		remaining = relist(ctx, c, remaining, helpers)
	}
	if len(remaining) > 0 {
		var left []string
		for k := range remaining {
			left = append(left, k)
		}
		sort.Strings(left)
		errs = append(errs, fmt.Sprintf("helper pods %s still terminating after %s (their agents recover on SIGTERM); check with kubectl chaos ls",
			strings.Join(left, ", "), timeout))
	}
	return errs
}

// relist is one List for whatever a watch missed (it ended early, or could not start):
// which of remaining still exist, with their latest state put into helpers.
func relist(ctx context.Context, c kubernetes.Interface, remaining map[string]bool, helpers map[string]*corev1.Pod) map[string]bool {
	l, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: managedSelector.String()})
	if err != nil {
		return remaining
	}
	still := map[string]bool{}
	for i := range l.Items {
		k := l.Items[i].Namespace + "/" + l.Items[i].Name
		if remaining[k] {
			still[k] = true
			helpers[k] = &l.Items[i]
		}
	}
	return still
}

// deleteSoon bounds how long deleteAndWait waits for its watch before deleting.
const deleteSoon = 2 * time.Second
