package container

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func podWithRestarts(n int32, id string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "ns", UID: "u-1"},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			{Name: "side", RestartCount: 5, ContainerID: "containerd://side"},
			{Name: "app", RestartCount: n, ContainerID: "containerd://" + id}}}}
}

// TestFollowRestart: container kill reports the restart count before and after.
func TestFollowRestart(t *testing.T) {
	e, _ := catalog.Lookup(plan.KindContainer)
	pod := podWithRestarts(2, "a")
	c := fake.NewClientset(pod.DeepCopy())
	kill := plan.Fault{Kind: plan.KindContainer, Container: &plan.Container{Action: "kill", Signal: "KILL"}}
	if !e.OneShot(kill) || e.OneShot(plan.Fault{Kind: plan.KindContainer, Container: &plan.Container{Action: "pause"}}) {
		t.Error("kill must be one-shot and pause not")
	}
	ff, err := e.Follow(context.Background(), c, pod, "app", kill)
	if err != nil || ff == nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() { l, _ := ff(context.Background()); done <- l }()
	time.Sleep(200 * time.Millisecond)
	c.CoreV1().Pods("ns").UpdateStatus(context.Background(), podWithRestarts(3, "b"), metav1.UpdateOptions{})
	select {
	case l := <-done:
		if !strings.Contains(l, "container app restarted: restart count 2 → 3") {
			t.Fatalf("follow = %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no restart seen")
	}
	if ff, _ := e.Follow(context.Background(), c, pod, "app", plan.Fault{Kind: plan.KindContainer, Container: &plan.Container{Action: "pause"}}); ff != nil {
		t.Error("pause has nothing to follow")
	}
}
