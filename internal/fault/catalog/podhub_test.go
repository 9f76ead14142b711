package catalog

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// countingClient is a fake clientset with n pods in each namespace that counts the pod
// lists and watches it is asked for.
func countingClient(t *testing.T, n int, namespaces ...string) (*fake.Clientset, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	var objs []runtime.Object
	for _, ns := range namespaces {
		for i := range n {
			objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("p%d", i),
				UID: types.UID(fmt.Sprintf("%s-%d", ns, i)), Labels: map[string]string{"i": fmt.Sprint(i)}}})
		}
	}
	cs := fake.NewClientset(objs...)
	lists, watches := new(atomic.Int32), new(atomic.Int32)
	cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		lists.Add(1)
		return false, nil, nil
	})
	cs.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		watches.Add(1)
		return false, nil, nil
	})
	return cs, lists, watches
}

// followAll runs one WatchPods per pod (by name, as container kill's follow-up does,
// and one by label), each waiting for its pod's restart count to reach 1 or for its
// deletion, then restarts or deletes every pod; it returns what each call saw. strict:
// a call that is handed another pod records it (the fake clientset applies no field
// selector, the API server does: only the shared watch's own filter is checked).
func followAll(t *testing.T, ctx context.Context, cs *fake.Clientset, n int, namespaces []string, strict bool) map[string]string {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]string{}
	var started, wg sync.WaitGroup
	for _, ns := range namespaces {
		for i := range n {
			opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", fmt.Sprintf("p%d", i)).String()}
			if i == 0 {
				opts = metav1.ListOptions{LabelSelector: "i=0"}
			}
			key := fmt.Sprintf("%s/p%d", ns, i)
			started.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				first := true
				err := WatchPods(ctx, cs, ns, opts, func(p *corev1.Pod, deleted bool) bool {
					if first {
						first = false
						started.Done()
					}
					if ns+"/"+p.Name != key {
						if !strict {
							return false
						}
						mu.Lock()
						seen[key] = "saw " + p.Namespace + "/" + p.Name
						mu.Unlock()
						return true
					}
					restarts := int32(0)
					if len(p.Status.ContainerStatuses) > 0 {
						restarts = p.Status.ContainerStatuses[0].RestartCount
					}
					switch {
					case deleted:
						mu.Lock()
						seen[key] = "deleted"
						mu.Unlock()
						return true
					case restarts > 0:
						mu.Lock()
						seen[key] = "restarted"
						mu.Unlock()
						return true
					}
					return false
				})
				if err != nil {
					t.Errorf("%s: %v", key, err)
				}
			}()
		}
	}
	started.Wait() // every call has seen its pod listed
	for _, ns := range namespaces {
		for i := range n {
			name := fmt.Sprintf("p%d", i)
			if i%5 == 4 {
				if err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				continue
			}
			p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: 1}}
			if _, err := cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	return seen
}

// TestSharePodWatches: 30 follow-ups in each of 2 namespaces cost 1 list and 1 watch
// per namespace under SharePodWatches (30 of each without), and each still sees only
// its own pod, restarted or deleted.
func TestSharePodWatches(t *testing.T) {
	const n = 30
	namespaces := []string{"a", "b"}
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			cs, lists, watches := countingClient(t, n, namespaces...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if shared {
				ctx = SharePodWatches(ctx)
			}
			seen := followAll(t, ctx, cs, n, namespaces, shared)
			for _, ns := range namespaces {
				for i := range n {
					want := "restarted"
					if i%5 == 4 {
						want = "deleted"
					}
					if key := fmt.Sprintf("%s/p%d", ns, i); seen[key] != want {
						t.Errorf("%s: %q, want %q", key, seen[key], want)
					}
				}
			}
			want := int32(n * len(namespaces))
			if shared {
				want = int32(len(namespaces))
			}
			t.Logf("%d follow-ups: %d lists, %d watches", n*len(namespaces), lists.Load(), watches.Load())
			if lists.Load() != want || watches.Load() != want {
				t.Errorf("%d lists and %d watches, want %d each", lists.Load(), watches.Load(), want)
			}
			if h, ok := ctx.Value(podHubKey{}).(*podHub); ok {
				h.mu.Lock()
				left := len(h.ns)
				h.mu.Unlock()
				if left != 0 {
					t.Errorf("%d namespace watches still open after every caller returned", left)
				}
			}
		})
	}
}
