package experiment

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/target"
)

// podsWithRTT is a selection of n pods (two containers each: a pod is read once) and a
// real clientset on an API server whose pod Gets take rtt (the fake clientset runs its
// reactors under one lock, so it would serialize the Gets whatever readPods does).
func podsWithRTT(t testing.TB, n int, rtt time.Duration) (kubernetes.Interface, *target.Selection, func(string)) {
	var mu sync.Mutex
	gone := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(rtt)
		name := path.Base(r.URL.Path)
		mu.Lock()
		missing := gone[name]
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if missing {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status: metav1.StatusFailure, Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound,
				Details: &metav1.StatusDetails{Name: name, Kind: "pods"}, Message: "pods \"" + name + "\" not found"})
			return
		}
		_ = json.NewEncoder(w).Encode(&corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}})
	}))
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1}) // no client-side rate limit: the Gets alone
	if err != nil {
		t.Fatal(err)
	}
	sel := &target.Selection{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("web-%02d", i)
		for _, c := range []string{"app", "sidecar"} {
			sel.Targets = append(sel.Targets, plan.Target{Namespace: "default", Pod: name, Container: c})
		}
	}
	return cs, sel, func(name string) { mu.Lock(); gone[name] = true; mu.Unlock() }
}

// TestReadPodsOrderAndFirstError: every distinct pod once, in selection order; a
// missing pod is the usage error naming the first missing one in that order.
func TestReadPodsOrderAndFirstError(t *testing.T) {
	cs, sel, remove := podsWithRTT(t, 10, 0)
	pods, err := readPods(context.Background(), cs, sel)
	if err != nil || len(pods) != 10 {
		t.Fatalf("readPods: %d pods, %v", len(pods), err)
	}
	for i, p := range pods {
		if want := fmt.Sprintf("web-%02d", i); p.Name != want {
			t.Errorf("pod %d is %s, want %s", i, p.Name, want)
		}
	}
	remove("web-07")
	remove("web-03")
	_, err = readPods(context.Background(), cs, sel)
	if want := "target pod default/web-03 went away before the fault started: nothing was changed"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

// BenchmarkReadPods: 10 target pods whose Gets take 5 ms each, as readPods does before
// a container fault's helpers are created (or an API-only fault's first change).
func BenchmarkReadPods(b *testing.B) {
	cs, sel, _ := podsWithRTT(b, 10, 5*time.Millisecond)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := readPods(context.Background(), cs, sel); err != nil {
			b.Fatal(err)
		}
	}
}
