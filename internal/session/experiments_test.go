package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

// helperPod is a helper pod as found in the cluster: labels, annotations, a status.
func helperPod(ns, exp, node string, deadline time.Time, phase corev1.PodPhase, msg string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: helperpod.Name(exp, node),
			Labels: map[string]string{plan.LabelManagedBy: plan.ManagedByValue, plan.LabelExperiment: exp, plan.LabelNode: node},
			Annotations: map[string]string{plan.AnnotationOwner: "ann@prod", plan.AnnotationFault: "network delay 100ms",
				plan.AnnotationDeadline: deadline.UTC().Format(time.RFC3339), plan.AnnotationDetached: "true"}},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: helperpod.ContainerName}}},
		Status: corev1.PodStatus{Phase: phase},
	}
	st := corev1.ContainerStatus{Name: helperpod.ContainerName, RestartCount: 2}
	if msg != "" {
		st.State.Terminated = &corev1.ContainerStateTerminated{Message: msg}
	} else {
		st.State.Running = &corev1.ContainerStateRunning{}
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{st}
	return p
}

const okResult = `{"experiment":"a","node":"n1","reason":"deadline","targets":[{"target":"default/web/app","injected":true,"recovered":true}]}`

func fixture(now time.Time) *fake.Clientset {
	return fake.NewSimpleClientset(
		helperPod("kubectl-chaos", "exp-a", "n1", now.Add(-time.Hour), corev1.PodSucceeded, okResult),
		helperPod("kubectl-chaos", "exp-a", "n2", now.Add(-time.Hour), corev1.PodRunning, ""),
		helperPod("chaos-2", "exp-b", "n1", now.Add(time.Hour), corev1.PodRunning, ""),
		helperPod("kubectl-chaos", "exp-c", "n3", now.Add(-10*time.Second), corev1.PodRunning, ""),
		// not ours
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", Labels: map[string]string{"app": "web"}}},
	)
}

func TestListGet(t *testing.T) {
	now := time.Now()
	cs := fixture(now)
	exps, err := List(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range exps {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "exp-a,exp-b,exp-c" {
		t.Fatalf("ids %v", ids)
	}
	a := exps[0]
	if a.Owner != "ann@prod" || a.Fault != "network delay 100ms" || !a.Detached || len(a.Helpers) != 2 ||
		!a.Deadline.Equal(now.Add(-time.Hour).UTC().Truncate(time.Second)) {
		t.Errorf("exp-a %+v", a)
	}
	if h := a.Helpers[0]; h.Node != "n1" || h.Phase != "Succeeded" || h.Restarts != 2 || h.Result == nil || !h.Result.OK() {
		t.Errorf("exp-a helper n1 %+v", h)
	}
	if h := a.Helpers[1]; h.Node != "n2" || h.Result != nil {
		t.Errorf("exp-a helper n2 %+v", h)
	}
	// One List across all namespaces, nothing else.
	if acts := cs.Actions(); len(acts) != 1 || acts[0].GetVerb() != "list" || acts[0].GetNamespace() != "" {
		t.Errorf("actions %v", acts)
	}

	e, err := Get(context.Background(), cs, "exp-b")
	if err != nil || e.ID != "exp-b" || e.Helpers[0].Namespace != "chaos-2" {
		t.Errorf("Get exp-b: %v %+v", err, e)
	}
	_, err = Get(context.Background(), cs, "exp-zz")
	if exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), `"exp-zz"`) || !strings.Contains(err.Error(), "exp-a, exp-b, exp-c") {
		t.Errorf("Get unknown: %v", err)
	}
}

func TestListForbidden(t *testing.T) {
	cs := fake.NewSimpleClientset()
	cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, kruntime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("cannot list pods at the cluster scope"))
	})
	_, err := List(context.Background(), cs)
	if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "RBAC") {
		t.Errorf("err %v", err)
	}
}

func remainingPods(t *testing.T, cs *fake.Clientset) []string {
	t.Helper()
	l, err := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	sort.Strings(out)
	return out
}

func TestStop(t *testing.T) {
	now := time.Now()
	t.Run("by id", func(t *testing.T) {
		cs := fixture(now)
		got, err := Stop(context.Background(), cs, []string{"exp-a", "exp-b"}, false, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "exp-a" || got[1].ID != "exp-b" || len(got[0].Helpers) != 2 {
			t.Fatalf("stopped %+v", got)
		}
		if got[0].Helpers[0].Result == nil {
			t.Errorf("final result of exp-a/n1 not returned")
		}
		if left := strings.Join(remainingPods(t, cs), ","); left != "default/web,kubectl-chaos/exp-c-n3" {
			t.Errorf("left %s", left)
		}
	})
	t.Run("all", func(t *testing.T) {
		cs := fixture(now)
		got, err := Stop(context.Background(), cs, nil, true, time.Second)
		if err != nil || len(got) != 3 {
			t.Fatalf("%v %+v", err, got)
		}
		if left := strings.Join(remainingPods(t, cs), ","); left != "default/web" {
			t.Errorf("left %s", left)
		}
	})
	t.Run("unknown id deletes nothing", func(t *testing.T) {
		cs := fixture(now)
		_, err := Stop(context.Background(), cs, []string{"exp-a", "nope"}, false, time.Second)
		if exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("err %v", err)
		}
		if n := len(remainingPods(t, cs)); n != 5 {
			t.Errorf("%d pods left, want 5", n)
		}
	})
	t.Run("neither ids nor all", func(t *testing.T) {
		_, err := Stop(context.Background(), fixture(now), nil, false, time.Second)
		if exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), "--all") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("pod that does not go", func(t *testing.T) {
		cs := fixture(now)
		cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
			return a.(k8stesting.DeleteAction).GetName() == "exp-b-n1", nil, nil // accepted, never removed
		})
		start := time.Now()
		_, err := Stop(context.Background(), cs, []string{"exp-b"}, false, 300*time.Millisecond)
		if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "chaos-2/exp-b-n1 still terminating") {
			t.Errorf("err %v", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("bounded wait took %s", took)
		}
	})
}

func TestEnsureNamespace(t *testing.T) {
	ns := helperpod.Namespace("kubectl-chaos")
	t.Run("created with PSA labels", func(t *testing.T) {
		cs := fake.NewSimpleClientset()
		if err := EnsureNamespace(context.Background(), cs, ns); err != nil {
			t.Fatal(err)
		}
		got, err := cs.CoreV1().Namespaces().Get(context.Background(), "kubectl-chaos", metav1.GetOptions{})
		if err != nil || got.Labels[LabelPSAEnforce] != "privileged" {
			t.Errorf("namespace %v %+v", err, got)
		}
		// Second time: exists, fine.
		if err := EnsureNamespace(context.Background(), cs, ns); err != nil {
			t.Error(err)
		}
	})
	t.Run("exists with restricted PSA", func(t *testing.T) {
		cs := fake.NewSimpleClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kubectl-chaos",
			Labels: map[string]string{LabelPSAEnforce: "baseline"}}})
		err := EnsureNamespace(context.Background(), cs, ns)
		if exit.Code(err) != exit.API || !strings.Contains(err.Error(), `"baseline"`) ||
			!strings.Contains(err.Error(), "kubectl label namespace kubectl-chaos pod-security.kubernetes.io/enforce=privileged --overwrite") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("may not create", func(t *testing.T) {
		cs := fake.NewSimpleClientset()
		cs.PrependReactor("create", "namespaces", func(k8stesting.Action) (bool, kruntime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "kubectl-chaos", errors.New("no"))
		})
		err := EnsureNamespace(context.Background(), cs, ns)
		want := "you may not create namespace kubectl-chaos (RBAC): create it with label pod-security.kubernetes.io/enforce=privileged, or pass --helper-namespace to one you can use"
		if exit.Code(err) != exit.API || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("may not read namespaces", func(t *testing.T) {
		cs := fake.NewSimpleClientset()
		cs.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, kruntime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "kubectl-chaos", errors.New("no"))
		})
		// Creating works: fine; pod creation reports anything else.
		if err := EnsureNamespace(context.Background(), cs, ns); err != nil {
			t.Error(err)
		}
	})
}

// The real Attacher asks the API server for pods/NAME/attach with stdin and stdout,
// WebSocket first, SPDY only when the upgrade itself is refused: a Status 400/404 is
// the API server refusing the attach (helper not running yet, pod gone), which SPDY
// would get too, so it costs one request, not two.
func TestAPIAttacherRequest(t *testing.T) {
	status := func(code int, reason string) string {
		return fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no","reason":%q,"code":%d}`, reason, code)
	}
	for _, tt := range []struct {
		name string
		code int
		body string
		want []string // methods
	}{
		{"pod not running yet (400 Status)", 400, status(400, "BadRequest"), []string{"GET"}},
		{"pod gone (404 Status)", 404, status(404, "NotFound"), []string{"GET"}},
		{"WebSocket GET forbidden, SPDY POST may not be (403 Status)", 403, status(403, "Forbidden"), []string{"GET", "POST"}},
		{"an old kubelet refuses the WebSocket protocol (403, no Status)", 403, "Forbidden", []string{"GET", "POST"}},
		{"a proxy refuses the upgrade (400, no Status)", 400, "<html>bad request</html>", []string{"GET", "POST"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var reqs []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				reqs = append(reqs, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
				mu.Unlock()
				http.Error(w, tt.body, tt.code)
			}))
			defer srv.Close()
			a := NewAttacher(&rest.Config{Host: srv.URL})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := a.Attach(ctx, "kubectl-chaos", "exp-n1", helperpod.ContainerName, strings.NewReader(""), io.Discard)
			if err == nil {
				t.Fatal("attach to a refusing server succeeded")
			}
			mu.Lock()
			defer mu.Unlock()
			t.Logf("requests: %v; error: %v", reqs, err)
			var methods []string
			for _, r := range reqs {
				methods = append(methods, strings.Fields(r)[0])
				if !strings.Contains(r, " /api/v1/namespaces/kubectl-chaos/pods/exp-n1/attach?") ||
					!strings.Contains(r, "container=agent") || !strings.Contains(r, "stdin=true") || !strings.Contains(r, "stdout=true") ||
					strings.Contains(r, "stderr=true") || strings.Contains(r, "tty=true") {
					t.Errorf("request %q", r)
				}
			}
			if !slices.Equal(methods, tt.want) {
				t.Errorf("requests %q, want methods %v", reqs, tt.want)
			}
		})
	}
}
