package app

import (
	"context"
	"fmt"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// BenchmarkDryRun measures the CLI's own cost for a large experiment: 1000 target pods
// on 100 nodes, resolved, planned (100 helper pods) and printed as YAML.
func BenchmarkDryRun(b *testing.B) {
	sel := map[string]string{"app": "web"}
	objs := []runtime.Object{&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}},
	}}
	for i := 0; i < 1000; i++ {
		objs = append(objs, pod(fmt.Sprintf("web-%04d", i), fmt.Sprintf("node-%03d", i%100), sel))
	}
	c := fake.NewClientset(objs...)
	b.Setenv(ConfigEnv, "/nonexistent/config.yaml")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		io, _, out, _ := ui.Test()
		root := NewRootCmd(factory.NewFake(io, c, testNow, nil))
		root.SetArgs([]string{"network", "delay", "deploy/web", "--latency", "100ms", "--max-targets", "1000", "--dry-run", "-o", "yaml"})
		if err := root.ExecuteContext(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(out.Len()))
	}
}
