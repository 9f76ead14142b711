package sessiontest

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A helper without a plan runs Behavior.Run in its place (a sweep-only helper, say);
// its termination message and exit code reach the pod status as with the agent.
func TestBehaviorRun(t *testing.T) {
	c := New(t, nil)
	ran := make(chan string, 1)
	c.SetBehavior("node-a", Behavior{Run: func(ctx context.Context, p *corev1.Pod, stdin io.Reader, stdout io.Writer, tlog string) int {
		ran <- p.Name
		if err := os.WriteFile(tlog, []byte(`{"reason":"swept"}`), 0o644); err != nil {
			t.Error(err)
		}
		return 0
	}})
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sweep-node-a", Namespace: helperpod.DefaultNamespace,
		Labels: map[string]string{plan.LabelManagedBy: plan.ManagedByValue}},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: helperpod.ContainerName}}}}
	if _, err := c.CS.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case name := <-ran:
		if name != p.Name {
			t.Errorf("ran for %s", name)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Behavior.Run was not called")
	}
	for i := 0; i < 500; i++ {
		got, err := c.CS.CoreV1().Pods(p.Namespace).Get(context.Background(), p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase == corev1.PodSucceeded {
			if term := got.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Message != `{"reason":"swept"}` {
				t.Errorf("termination state %+v", term)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the pod never succeeded")
}
