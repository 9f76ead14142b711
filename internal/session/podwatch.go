package session

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// watchPodsUntil lists and watches the pods of namespace ns (all namespaces: "") that
// match sel, re-listing when the watch breaks. Once the first list is in, synced (if
// set) is asked with a lookup of what exists ("namespace/name"), so pods already gone
// are noticed; then fn is called with each pod as it is first seen and on every change
// (deleted: it is gone or no longer matches sel). It returns when synced or fn says
// done, or ctx ends (its error then).
func watchPodsUntil(ctx context.Context, c kubernetes.Interface, ns string, sel labels.Selector,
	synced func(exists func(key string) bool) bool, fn func(p *corev1.Pod, deleted bool) bool) error {
	selStr := sel.String()
	pods := c.CoreV1().Pods(ns)
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
	var pre watchtools.PreconditionFunc
	if synced != nil {
		pre = func(store cache.Store) (bool, error) {
			return synced(func(key string) bool {
				_, ok, _ := store.GetByKey(key)
				return ok
			}), nil
		}
	}
	_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, c), &corev1.Pod{}, pre,
		func(ev watch.Event) (bool, error) {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				return false, nil
			}
			// A pod that no longer matches has left the selection: the API server sends
			// that as a deletion, other sources (a fake) as a change.
			return fn(p, ev.Type == watch.Deleted || !sel.Matches(labels.Set(p.Labels))), nil
		})
	return err
}
