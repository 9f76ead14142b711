package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/target"
	"github.com/kubectl-chaos/kubectl-chaos/internal/warmkeys"
)

// TestPickWarm: a fault command uses, per target node, its owner's running warm helper
// whose key it holds, with the same runtime socket and a deadline past the fault's by
// WarmMargin (the latest of several); every other helper is passed over.
func TestPickWarm(t *testing.T) {
	const sock = "/run/containerd/containerd.sock"
	now := time.Now().UTC()
	keys := warmkeys.Store{Dir: t.TempDir(), Cluster: "c"}
	mk := func(name, node, owner, key string, deadline time.Time, running bool, socket string) *corev1.Pod {
		sum := sha256.Sum256([]byte("key-" + name))
		pl := &plan.Plan{Version: plan.Version, Experiment: "chaos-warm" + name, Node: node, Owner: owner, CreatedAt: now,
			Deadline: deadline, Serve: true, Warm: true, StepKey: hex.EncodeToString(sum[:]), Runtime: plan.Runtime{Endpoint: socket}}
		pod, err := helperpod.Build(helperpod.Options{Plan: pl, Namespace: "kubectl-chaos", Image: "img", RuntimeSocket: socket})
		if err != nil {
			t.Fatal(err)
		}
		pod.UID = types.UID("uid-" + name)
		pod.Spec.NodeName = node
		if running {
			pod.Status.Phase = corev1.PodRunning
			pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}
		if key != "" {
			if err := keys.Put(warmkeys.Entry{UID: string(pod.UID), Key: key, Deadline: deadline}); err != nil {
				t.Fatal(err)
			}
		}
		return pod
	}
	late, later := now.Add(time.Hour), now.Add(2*time.Hour)
	pods := []*corev1.Pod{
		mk("good", "n1", "me", "key-good", late, true, sock),
		mk("better", "n1", "me", "key-better", later, true, sock),
		mk("theirs", "n2", "you", "key-theirs", late, true, sock),
		mk("nokey", "n2", "me", "", late, true, sock),
		mk("badkey", "n2", "me", "wrong", late, true, sock),
		mk("pending", "n3", "me", "key-pending", late, false, sock),
		mk("short", "n3", "me", "key-short", now.Add(5*time.Minute+10*time.Second), true, sock),
		mk("socket", "n3", "me", "key-socket", late, true, "/run/k3s/containerd/containerd.sock"),
		mk("elsewhere", "n9", "me", "key-elsewhere", late, true, sock),
	}
	c := fake.NewSimpleClientset()
	for _, p := range pods {
		if _, err := c.CoreV1().Pods("kubectl-chaos").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	found := listWarm(context.Background(), c, "kubectl-chaos", "me", keys)
	if found.err != nil {
		t.Fatal(found.err)
	}
	p := &Prepared{Deadline: now.Add(5 * time.Minute), Selection: &target.Selection{ByNode: map[string][]plan.Target{
		"n1": {{Pod: "a"}}, "n2": {{Pod: "b"}}, "n3": {{Pod: "c"}}}}}
	use := pickWarm(found.pods, p, sock)
	if len(use) != 1 || use["n1"].Pod == nil || use["n1"].Pod.Name != pods[1].Name || use["n1"].Key != "key-better" {
		got := map[string]string{}
		for n, wh := range use {
			got[n] = wh.Pod.Name
		}
		t.Fatalf("picked %v, want only n1 -> %s", got, pods[1].Name)
	}
}
