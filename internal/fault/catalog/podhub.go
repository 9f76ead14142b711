package catalog

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// SharePodWatches returns a context under which WatchPods calls share one list+watch of
// all pods per namespace, each filtered on the client by its own selectors: the
// follow-up of a container kill of 1000 pods is then 1 list and 1 watch per namespace,
// not 1000 of each. The shared watch of a namespace ends with its last caller.
func SharePodWatches(ctx context.Context) context.Context {
	return context.WithValue(ctx, podHubKey{}, &podHub{ns: map[string]*nsWatch{}})
}

type podHubKey struct{}

type podHub struct {
	mu sync.Mutex
	ns map[string]*nsWatch
}

// nsWatch is one namespace's shared watch: the pods as last seen, and its callers.
type nsWatch struct {
	cancel context.CancelFunc
	pods   map[types.UID]*corev1.Pod
	subs   map[*podSub]bool
	err    error // the watch ended on its own
	ended  bool
}

// podSub is one WatchPods call: its selectors and the events not handed to it yet.
type podSub struct {
	label  labels.Selector
	field  fields.Selector
	queue  []podEvent
	ended  bool
	err    error
	signal chan struct{}
}

type podEvent struct {
	pod     *corev1.Pod
	deleted bool
}

// podFields are the pod fields a shared watch can match a field selector on; a
// selector on any other field gets a watch of its own.
func podFields(p *corev1.Pod) fields.Set {
	return fields.Set{"metadata.name": p.Name, "metadata.namespace": p.Namespace, "spec.nodeName": p.Spec.NodeName,
		"status.phase": string(p.Status.Phase), "spec.restartPolicy": string(p.Spec.RestartPolicy)}
}

// subscribe parses opts' selectors; ok is false when they cannot be matched here.
func subscribe(opts metav1.ListOptions) (*podSub, bool) {
	l, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, false
	}
	f, err := fields.ParseSelector(opts.FieldSelector)
	if err != nil {
		return nil, false
	}
	known := podFields(&corev1.Pod{})
	for _, r := range f.Requirements() {
		if _, ok := known[r.Field]; !ok {
			return nil, false
		}
	}
	return &podSub{label: l, field: f, signal: make(chan struct{}, 1)}, true
}

func (s *podSub) matches(p *corev1.Pod) bool {
	return s.label.Matches(labels.Set(p.Labels)) && s.field.Matches(podFields(p))
}

// push queues an event (the hub's lock is held) and wakes the caller.
func (s *podSub) push(ev podEvent) {
	s.queue = append(s.queue, ev)
	s.wake()
}

func (s *podSub) wake() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// watch is WatchPods through the hub.
func (h *podHub) watch(ctx context.Context, c kubernetes.Interface, namespace string, sub *podSub,
	done func(pod *corev1.Pod, deleted bool) bool) error {
	h.join(c, namespace, sub)
	defer h.leave(namespace, sub)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.signal:
		}
		h.mu.Lock()
		evs, ended, err := sub.queue, sub.ended, sub.err
		sub.queue = nil
		h.mu.Unlock()
		for _, ev := range evs {
			if done(ev.pod, ev.deleted) {
				return nil
			}
		}
		if ended {
			return err
		}
	}
}

// join adds sub to namespace's watch (started by the first caller) and hands it the
// pods already seen there, as a list would.
func (h *podHub) join(c kubernetes.Interface, namespace string, sub *podSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.ns[namespace]
	if w == nil {
		wctx, cancel := context.WithCancel(context.Background())
		w = &nsWatch{cancel: cancel, pods: map[types.UID]*corev1.Pod{}, subs: map[*podSub]bool{}}
		h.ns[namespace] = w
		go h.run(wctx, c, namespace, w)
	}
	w.subs[sub] = true
	for _, p := range w.pods {
		if sub.matches(p) {
			sub.push(podEvent{pod: p})
		}
	}
	if w.ended {
		sub.ended, sub.err = true, w.err
		sub.wake()
	}
}

// leave removes sub; the last one out stops the namespace's watch.
func (h *podHub) leave(namespace string, sub *podSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.ns[namespace]
	if w == nil {
		return
	}
	delete(w.subs, sub)
	if len(w.subs) == 0 {
		w.cancel()
		delete(h.ns, namespace)
	}
}

// run is the namespace's one list+watch; each event goes to the callers it matches.
func (h *podHub) run(ctx context.Context, c kubernetes.Interface, namespace string, w *nsWatch) {
	err := watchPods(ctx, c, namespace, metav1.ListOptions{}, func(p *corev1.Pod, deleted bool) bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		if deleted {
			delete(w.pods, p.UID)
		} else {
			w.pods[p.UID] = p
		}
		for s := range w.subs {
			if s.matches(p) {
				s.push(podEvent{pod: p, deleted: deleted})
			}
		}
		return false
	})
	if ctx.Err() != nil {
		return // the last caller left
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	w.ended, w.err = true, err
	for s := range w.subs {
		s.ended, s.err = true, err
		s.wake()
	}
}
