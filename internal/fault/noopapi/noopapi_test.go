package noopapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		value, want string
	}{
		{"injected", ""},
		{strings.Repeat("x", MaxValue), ""},
		{"", "--value must be 1 to 63 characters, got 0"},
		{strings.Repeat("x", MaxValue+1), "--value must be 1 to 63 characters, got 64"},
		{"a\nb", "--value must be printable"},
	} {
		err := Validate(&plan.NoopAPI{Value: tt.value})
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Validate(%q) = %v, want %q", tt.value, err, tt.want)
		}
	}
}

func TestRegisteredAsAPIKind(t *testing.T) {
	e, err := catalog.Lookup(plan.KindNoopAPI)
	if err != nil || !e.APIOnly() || len(e.HostMounts()) != 0 {
		t.Fatalf("catalog entry %v %v", e, err)
	}
	obs := e.Describe(plan.Fault{Kind: plan.KindNoopAPI, NoopAPI: &plan.NoopAPI{Value: "v"}})
	if len(obs) != 1 || obs[0].Kind != "api-call" || !strings.Contains(obs[0].Spec, `kubectl-chaos/noop-api="v"`) || !strings.Contains(obs[0].Remove, "back to its value before") {
		t.Errorf("Describe = %+v", obs)
	}
}

// Inject then Restore through the catalog puts back the value the pod had (or none).
func TestInjectRestore(t *testing.T) {
	e, _ := catalog.Lookup(plan.KindNoopAPI)
	f := plan.Fault{Kind: plan.KindNoopAPI, NoopAPI: &plan.NoopAPI{Value: "on"}}
	for _, before := range []map[string]string{nil, {plan.AnnotationNoopAPI: "orig", "other": "x"}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", Annotations: before}}
		cs := fake.NewSimpleClientset(pod)
		undo, err := e.Undo(pod, f)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Inject(context.Background(), cs, pod, f, map[string]any{"metadata": map[string]any{"labels": map[string]any{"l": "v"}}}); err != nil {
			t.Fatal(err)
		}
		got, _ := cs.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
		if got.Annotations[plan.AnnotationNoopAPI] != "on" || got.Labels["l"] != "v" {
			t.Fatalf("after inject: %v %v", got.Labels, got.Annotations)
		}
		if err := e.Restore(context.Background(), cs, got, undo, map[string]any{"metadata": map[string]any{"labels": map[string]any{"l": nil}}}); err != nil {
			t.Fatal(err)
		}
		got, _ = cs.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
		v, had := got.Annotations[plan.AnnotationNoopAPI]
		if _, l := got.Labels["l"]; l || had != (before != nil) || (had && v != "orig") || (before != nil && got.Annotations["other"] != "x") {
			t.Errorf("before %v, after restore: labels %v annotations %v", before, got.Labels, got.Annotations)
		}
	}
	if err := e.Restore(context.Background(), fake.NewSimpleClientset(), &corev1.Pod{}, json.RawMessage(`{bad`), nil); err == nil {
		t.Error("bad undo data accepted")
	}
}
