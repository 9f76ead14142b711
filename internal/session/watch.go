package session

import (
	"context"
	"fmt"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// podUpdate is one helper pod as the watch saw it.
type podUpdate struct {
	pod     *corev1.Pod
	deleted bool
}

// watchPods streams the experiment's helper pods (list+watch, re-listing on errors) to
// podCh until wctx ends; a watch that fails for good is said on watchCh.
func (r *runner) watchPods(wctx context.Context) {
	defer r.wg.Done()
	ns := r.ns()
	sel := r.watchSelector().AsSelector()
	selStr := sel.String()
	pods := r.o.Client.CoreV1().Pods(ns)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = selStr
			return pods.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = selStr
			return pods.Watch(ctx, opts)
		},
	}
	_, err := watchtools.UntilWithSync(wctx, cache.ToListWatcherWithWatchListSemantics(lw, r.o.Client), &corev1.Pod{}, nil,
		func(ev watch.Event) (bool, error) {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || !sel.Matches(labels.Set(p.Labels)) {
				return false, nil
			}
			select {
			case r.podCh <- podUpdate{pod: p, deleted: ev.Type == watch.Deleted}:
			case <-wctx.Done():
				return true, nil
			}
			return false, nil
		})
	if err != nil && wctx.Err() == nil {
		r.watchCh <- fmt.Errorf("watching helper pods of experiment %s in %s: %w", r.exp, ns, err)
	}
}

// canWatch checks that the user may list and watch the helper pods. The informer
// retries a refused list/watch forever: asking once first makes missing RBAC an error
// now rather than a ready timeout later.
func (r *runner) canWatch(ctx context.Context) error {
	ns := r.ns()
	pods := r.o.Client.CoreV1().Pods(ns)
	sel := labels.Set{plan.LabelExperiment: r.exp}.AsSelector().String()
	_, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel, Limit: 1})
	if err == nil {
		var w watch.Interface
		w, err = pods.Watch(ctx, metav1.ListOptions{LabelSelector: sel})
		if err == nil {
			w.Stop()
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted: the loop handles it
	}
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("you may not list and watch pods in namespace %s (RBAC), which following the helpers needs: ask for get, list, watch on pods there, or pass --helper-namespace: %v", ns, err)
	}
	return fmt.Errorf("watching helper pods in %s: %v", ns, err)
}
