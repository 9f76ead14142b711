package catalog

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// WatchPods lists and watches the pods of namespace that opts select (label and field
// selectors) and calls done with each pod as it is listed or changes (deleted: the pod
// went away), until done returns true (nil is returned) or ctx ends (its error). A
// kind's Follow step uses it to wait for what its fault set off. Under a context from
// SharePodWatches the calls share one watch per namespace.
func WatchPods(ctx context.Context, c kubernetes.Interface, namespace string, opts metav1.ListOptions,
	done func(pod *corev1.Pod, deleted bool) bool) error {
	if h, ok := ctx.Value(podHubKey{}).(*podHub); ok {
		if sub, ok := subscribe(opts); ok {
			return h.watch(ctx, c, namespace, sub, done)
		}
	}
	return watchPods(ctx, c, namespace, opts, done)
}

// watchPods is WatchPods with a list+watch of its own.
func watchPods(ctx context.Context, c kubernetes.Interface, namespace string, opts metav1.ListOptions,
	done func(pod *corev1.Pod, deleted bool) bool) error {
	pods := c.CoreV1().Pods(namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector, o.FieldSelector = opts.LabelSelector, opts.FieldSelector
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector, o.FieldSelector = opts.LabelSelector, opts.FieldSelector
			return pods.Watch(ctx, o)
		},
	}
	_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, c), &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		return done(p, ev.Type == watch.Deleted), nil
	})
	return err
}
