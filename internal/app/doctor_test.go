package app

import (
	"encoding/json"
	"strings"
	"testing"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/doctor"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// doctorCluster is two Ready nodes whose probe pods finish with report(node), and an
// API server that denies the SelfSubjectAccessReviews deny returns true for.
func doctorCluster(t *testing.T, report func(node string) doctor.Report, deny func(*authzv1.ResourceAttributes) bool) *fake.Clientset {
	t.Helper()
	c := fake.NewClientset()
	for _, n := range []string{"node-a", "node-b"} {
		c.Tracker().Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}, Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	}
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Annotations[plan.AnnotationFault] == helperpod.ProbeFault {
			b, _ := json.Marshal(report(p.Spec.NodeName))
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{Message: string(b)}}}}
		}
		return false, nil, nil
	})
	c.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authzv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = !deny(r.Spec.ResourceAttributes)
		return true, r, nil
	})
	return c
}

func TestDoctorProbesEveryNode(t *testing.T) {
	c := doctorCluster(t, func(node string) doctor.Report {
		netem := doctor.Check{Name: doctor.Netem, Status: doctor.OK}
		queue := doctor.Check{Name: doctor.NFQueue, Status: doctor.OK}
		if node == "node-b" {
			netem.Status, queue.Status = doctor.Missing, doctor.Missing
		}
		return doctor.Report{Kernel: "6.1", Checks: []doctor.Check{netem, queue, {Name: doctor.NFTables, Status: doctor.OK}}}
	}, func(*authzv1.ResourceAttributes) bool { return false })

	r := run(t, c, "doctor")
	if r.err != nil {
		t.Fatalf("doctor: %v\n%s%s", r.err, r.out, r.errOut)
	}
	for _, want := range []string{"node-a", "node-b", "sch_netem", "RBAC: you have every permission", "Pod Security: namespace kubectl-chaos does not exist yet"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, r.out)
		}
	}
	r = run(t, c, "doctor", "--fault", "network.delay")
	if exit.Code(r.err) != exit.Fault || !strings.Contains(r.err.Error(), "network.delay on node-b") || strings.Contains(r.err.Error(), "node-a") {
		t.Errorf("doctor --fault network.delay: exit %d %v, want 3 naming node-b only\n%s", exit.Code(r.err), r.err, r.out)
	}
	r = run(t, c, "doctor", "node-a", "--fault", "network.delay", "--fault", "network.loss")
	if r.err != nil || strings.Contains(r.out, "node-b") {
		t.Errorf("doctor node-a: %v\n%s", r.err, r.out)
	}
	pods, _ := c.CoreV1().Pods("").List(t.Context(), metav1.ListOptions{})
	if len(pods.Items) != 0 {
		t.Errorf("%d probe pods left", len(pods.Items))
	}
	for _, bad := range [][]string{{"--fault", "network.nope"}, {"--local", "node-a"}, {"--timeout", "0s"}} {
		if r := run(t, c, append([]string{"doctor"}, bad...)...); exit.Code(r.err) != exit.Usage || !strings.Contains(r.err.Error(), bad[0]) {
			t.Errorf("doctor %v: %v, want a usage error naming %s", bad, r.err, bad[0])
		}
	}
}

func TestDoctorNamesMissingPermissions(t *testing.T) {
	c := doctorCluster(t, func(string) doctor.Report { return doctor.Report{Checks: []doctor.Check{}} },
		func(a *authzv1.ResourceAttributes) bool { return a.Resource == "pods" && a.Subresource == "attach" })
	r := run(t, c, "doctor", "-o", "json")
	if exit.Code(r.err) != exit.API || !strings.Contains(r.err.Error(), "create pods/attach in kubectl-chaos") {
		t.Fatalf("exit %d %v, want 2 naming pods/attach\n%s", exit.Code(r.err), r.err, r.out)
	}
	var res struct{ Denied []string }
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || len(res.Denied) != 4 {
		t.Errorf("-o json denied: %v %v\n%s", err, res.Denied, r.out)
	}
}
