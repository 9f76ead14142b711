package pod

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func i64(n int64) *int64 { return &n }

func TestValidate(t *testing.T) {
	tests := []struct {
		spec    plan.Pod
		wantErr string
	}{
		{plan.Pod{Action: "kill"}, ""},
		{plan.Pod{Action: "kill", Force: true, Wait: true}, ""},
		{plan.Pod{Action: "kill", GracePeriodSeconds: i64(30)}, ""},
		{plan.Pod{Action: "kill", GracePeriodSeconds: i64(0)}, "--grace-period must be between 1 and 3600 seconds (0 is --force), got 0"},
		{plan.Pod{Action: "kill", GracePeriodSeconds: i64(3601)}, "--grace-period must be between 1 and 3600"},
		{plan.Pod{Action: "kill", GracePeriodSeconds: i64(5), Force: true}, "--grace-period and --force exclude each other"},
		{plan.Pod{Action: "kill", PauseImage: "registry.k8s.io/pause:3.10"}, "--pause-image applies to pod failure"},
		{plan.Pod{Action: "failure"}, ""},
		{plan.Pod{Action: "failure", PauseImage: "registry.k8s.io/pause:3.10"}, ""},
		{plan.Pod{Action: "failure", PauseImage: "localhost:5000/team/pause@sha256:" + strings.Repeat("a", 64)}, ""},
		{plan.Pod{Action: "failure", PauseImage: "Not An Image"}, "--pause-image must be an image reference"},
		{plan.Pod{Action: "failure", PauseImages: map[string]string{"n1": "bad image"}}, "pause image of node n1"},
		{plan.Pod{Action: "failure", Wait: true}, "--grace-period, --force and --wait apply to pod kill"},
		{plan.Pod{Action: "failure", Force: true}, "apply to pod kill"},
		{plan.Pod{Action: "restart"}, `action "restart": want kill or failure`},
	}
	for _, tt := range tests {
		err := catalog.Validate(plan.Fault{Kind: plan.KindPod, Pod: &tt.spec})
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%+v: %v", tt.spec, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%+v: error %v, want %q", tt.spec, err, tt.wantErr)
		}
	}
}

func TestEntry(t *testing.T) {
	e, err := catalog.Lookup(plan.KindPod)
	if err != nil {
		t.Fatal(err)
	}
	kill := plan.Fault{Kind: plan.KindPod, Pod: &plan.Pod{Action: "kill", Force: true, Wait: true}}
	fail := plan.Fault{Kind: plan.KindPod, Pod: &plan.Pod{Action: "failure", PauseImages: map[string]string{"n1": "e2e.local/pause:1"}}}
	if !e.APIOnly() || !e.OneShot(kill) || e.OneShot(fail) || e.NoDetach(kill) != "" || !strings.Contains(e.NoDetach(fail), "container pause") {
		t.Errorf("APIOnly %v, OneShot kill/failure %v/%v, NoDetach %q/%q", e.APIOnly(), e.OneShot(kill), e.OneShot(fail), e.NoDetach(kill), e.NoDetach(fail))
	}
	if o := e.Describe(kill); len(o) != 1 || !strings.Contains(o[0].Spec, "DELETE pod (precondition: its UID; grace period 0 (--force") {
		t.Errorf("kill describes %+v", o)
	}
	if d := e.Details(kill); len(d) != 1 || d[0].Name != "Wait" {
		t.Errorf("kill details %+v", d)
	}
	o := e.Describe(fail)
	if len(o) != 1 || !strings.Contains(o[0].Spec, "image -> e2e.local/pause:1 (the nodes' pause image)") || !strings.Contains(o[0].Remove, "back to its own image") {
		t.Errorf("failure describes %+v", o)
	}
	if d := e.Details(fail); len(d) != 2 || !strings.Contains(d[0].Value, "n1: e2e.local/pause:1") || !strings.Contains(d[1].Value, "at least 2") {
		t.Errorf("failure details %+v", d)
	}
	if got := kill.Summary(); got != "pod kill --force" {
		t.Errorf("summary %q", got)
	}
}

func TestPauseImageOf(t *testing.T) {
	node := func(names ...[]string) *corev1.Node {
		n := &corev1.Node{}
		for _, ns := range names {
			n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: ns})
		}
		return n
	}
	tests := []struct {
		node *corev1.Node
		want string
	}{
		{node([]string{"docker.io/library/nginx:1.27"}, []string{"registry.k8s.io/pause@sha256:abc", "registry.k8s.io/pause:3.10"}), "registry.k8s.io/pause:3.10"},
		{node([]string{"registry.k8s.io/pause:3.9"}, []string{"registry.k8s.io/pause:3.10"}), "registry.k8s.io/pause:3.10"},
		{node([]string{"e2e.local/pause:1"}), "e2e.local/pause:1"},
		{node([]string{"pause:latest"}), "pause:latest"},
		{node([]string{"example.com/notpause:1", "example.com/pause/other:1", "localhost:5000/pause"}), ""},
		{node(), ""},
	}
	for _, tt := range tests {
		if got := PauseImageOf(tt.node); got != tt.want {
			t.Errorf("PauseImageOf(%v) = %q, want %q", tt.node.Status.Images, got, tt.want)
		}
	}
}

// testPod is a running pod of a ReplicaSet with two containers on node n1.
func testPod(name string, uid types.UID, ready bool) *corev1.Pod {
	isCtrl := true
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: uid, ResourceVersion: "7",
			Labels:          map[string]string{"app": "web", "pod-template-hash": "abc"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "rs-uid", Controller: &isCtrl}}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{
			{Name: "app", Image: "example.com/app:1", ReadinessProbe: &corev1.Probe{}},
			{Name: "side", Image: "example.com/side:2", Command: []string{"/side"}, ImagePullPolicy: corev1.PullAlways},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", Image: "example.com/app:1", RestartCount: 1, Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			{Name: "side", Image: "example.com/side:2", RestartCount: 0, Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		}},
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func pauseNode() *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Images: []corev1.ContainerImage{
		{Names: []string{"example.com/app:1"}}, {Names: []string{"registry.k8s.io/pause:3.10"}}}}}
}

func TestKillCheckAndDelete(t *testing.T) {
	orphan := testPod("solo", "u-solo", true)
	orphan.OwnerReferences = nil
	owned := testPod("web-1", "u-1", true)
	if _, err := check(context.Background(), nil, []*corev1.Pod{owned, orphan}, &plan.Pod{Action: "kill", Wait: true}); err == nil ||
		!strings.Contains(err.Error(), "--wait: pod ns/solo has no controller") {
		t.Errorf("--wait on an orphan: %v", err)
	}
	notes, err := check(context.Background(), nil, []*corev1.Pod{owned, orphan}, &plan.Pod{Action: "kill"})
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "nothing recreates it") {
		t.Errorf("kill without --wait: %v %v", notes, err)
	}

	for _, tt := range []struct {
		spec  plan.Pod
		grace *int64
	}{{plan.Pod{Action: "kill"}, nil}, {plan.Pod{Action: "kill", Force: true}, i64(0)}, {plan.Pod{Action: "kill", GracePeriodSeconds: i64(7)}, i64(7)}} {
		c := fake.NewClientset(owned.DeepCopy())
		var got metav1.DeleteOptions
		c.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			got = a.(k8stesting.DeleteActionImpl).DeleteOptions
			return false, nil, nil
		})
		if err := inject(context.Background(), c, owned, &tt.spec, nil); err != nil {
			t.Fatal(err)
		}
		if got.Preconditions == nil || *got.Preconditions.UID != "u-1" || (tt.grace == nil) != (got.GracePeriodSeconds == nil) ||
			(tt.grace != nil && *tt.grace != *got.GracePeriodSeconds) {
			t.Errorf("%+v: delete options %+v", tt.spec, got)
		}
		if _, err := c.CoreV1().Pods("ns").Get(context.Background(), "web-1", metav1.GetOptions{}); err == nil {
			t.Error("pod still there")
		}
		if err := inject(context.Background(), c, owned, &tt.spec, nil); err == nil || !strings.Contains(err.Error(), "already gone") {
			t.Errorf("second kill: %v", err)
		}
		if u, err := undo(owned, &tt.spec); u != nil || err != nil {
			t.Errorf("kill undo %s %v", u, err)
		}
	}
}

func TestFailureInjectRestore(t *testing.T) {
	pod := testPod("web-1", "u-1", true)
	c := fake.NewClientset(pod.DeepCopy(), pauseNode())
	p := &plan.Pod{Action: "failure"}
	notes, err := check(context.Background(), c, []*corev1.Pod{pod}, p)
	if err != nil {
		t.Fatal(err)
	}
	if p.PauseImages["n1"] != "registry.k8s.io/pause:3.10" {
		t.Fatalf("pause images %v", p.PauseImages)
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{"at least 2", "container side sets its own command (/side)", "side has imagePullPolicy Always", "side has no readiness probe"} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "container app has no readiness") {
		t.Errorf("app has a readiness probe:\n%s", all)
	}

	raw, err := undo(pod, p)
	if err != nil {
		t.Fatal(err)
	}
	stamp := map[string]any{"metadata": map[string]any{"resourceVersion": "7",
		"labels": map[string]any{plan.LabelExperiment: "chaos-x"}, "annotations": map[string]any{"kubectl-chaos/undo": string(raw)}}}
	if err := inject(context.Background(), c, pod, p, stamp); err != nil {
		t.Fatal(err)
	}
	got, _ := c.CoreV1().Pods("ns").Get(context.Background(), "web-1", metav1.GetOptions{})
	for _, ctr := range got.Spec.Containers {
		if ctr.Image != "registry.k8s.io/pause:3.10" {
			t.Errorf("container %s image %s during the fault", ctr.Name, ctr.Image)
		}
	}
	if got.Labels[plan.LabelExperiment] != "chaos-x" || got.Labels["app"] != "web" || got.Annotations["kubectl-chaos/undo"] == "" ||
		got.Spec.Containers[1].Command[0] != "/side" {
		t.Errorf("the stamp or the rest of the pod is wrong: %+v", got.ObjectMeta)
	}
	// A second failure on the same pod is refused (its images are the pause image).
	if _, err := undo(got, p); err == nil || !strings.Contains(err.Error(), "already runs the pause image") {
		t.Errorf("undo of a paused pod: %v", err)
	}

	unstamp := map[string]any{"metadata": map[string]any{"labels": map[string]any{plan.LabelExperiment: nil},
		"annotations": map[string]any{"kubectl-chaos/undo": nil}}}
	if err := restore(context.Background(), c, got, raw, unstamp); err != nil {
		t.Fatal(err)
	}
	back, _ := c.CoreV1().Pods("ns").Get(context.Background(), "web-1", metav1.GetOptions{})
	if back.Spec.Containers[0].Image != "example.com/app:1" || back.Spec.Containers[1].Image != "example.com/side:2" {
		t.Errorf("images after restore %+v", back.Spec.Containers)
	}
	if _, ok := back.Labels[plan.LabelExperiment]; ok || back.Annotations["kubectl-chaos/undo"] != "" || back.Labels["app"] != "web" {
		t.Errorf("stamp after restore %+v", back.ObjectMeta)
	}
	// Idempotent: restoring a restored pod changes nothing and succeeds.
	if err := restore(context.Background(), c, back, raw, unstamp); err != nil {
		t.Errorf("second restore: %v", err)
	}
}

func TestFailureRestoreLeavesForeignImages(t *testing.T) {
	pod := testPod("web-1", "u-1", true)
	pod.Spec.Containers[0].Image = "registry.k8s.io/pause:3.10"
	pod.Spec.Containers[1].Image = "example.com/side:3" // someone rolled the sidecar meanwhile
	c := fake.NewClientset(pod.DeepCopy())
	raw, _ := json.Marshal(failureUndo{PauseImage: "registry.k8s.io/pause:3.10", Containers: []containerImage{
		{Name: "app", Image: "example.com/app:1"}, {Name: "side", Image: "example.com/side:2"}}})
	err := restore(context.Background(), c, pod, raw, nil)
	if err == nil || !strings.Contains(err.Error(), "side (now example.com/side:3, was example.com/side:2)") {
		t.Fatalf("restore over a foreign change: %v", err)
	}
	back, _ := c.CoreV1().Pods("ns").Get(context.Background(), "web-1", metav1.GetOptions{})
	if back.Spec.Containers[0].Image != "example.com/app:1" || back.Spec.Containers[1].Image != "example.com/side:3" {
		t.Errorf("images %+v", back.Spec.Containers)
	}
}

func TestFailureCheckRefusals(t *testing.T) {
	pod := testPod("web-1", "u-1", true)
	bare := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	_, err := check(context.Background(), fake.NewClientset(bare), []*corev1.Pod{pod}, &plan.Pod{Action: "failure"})
	if err == nil || !strings.Contains(err.Error(), "node n1 lists no pause image") || !strings.Contains(err.Error(), "--pause-image") {
		t.Errorf("node without a pause image: %v", err)
	}
	c := fake.NewClientset()
	c.PrependReactor("get", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errForbidden()
	})
	_, err = check(context.Background(), c, []*corev1.Pod{pod}, &plan.Pod{Action: "failure"})
	if err == nil || !strings.Contains(err.Error(), "RBAC: get nodes") || !strings.Contains(err.Error(), "--pause-image") {
		t.Errorf("forbidden node: %v", err)
	}
	// --pause-image needs no node.
	p := &plan.Pod{Action: "failure", PauseImage: "example.com/pause:1"}
	if _, err := check(context.Background(), c, []*corev1.Pod{pod}, p); err != nil || len(p.PauseImages) != 0 {
		t.Errorf("--pause-image: %v %v", err, p.PauseImages)
	}
	paused := testPod("web-2", "u-2", true)
	paused.Spec.Containers[0].Image = "example.com/pause:1"
	if _, err := check(context.Background(), c, []*corev1.Pod{paused}, p); err == nil || !strings.Contains(err.Error(), "already runs the pause image") {
		t.Errorf("paused pod: %v", err)
	}
}

// TestFollowReplacement: the replacement is the new pod of the same controller, not a
// sibling that was there before, and only once it is Ready.
func TestFollowReplacement(t *testing.T) {
	killed := testPod("web-1", "u-1", true)
	sibling := testPod("web-2", "u-2", true)
	c := fake.NewClientset(killed.DeepCopy(), sibling.DeepCopy())
	ff, err := follow(context.Background(), c, killed, "app", &plan.Pod{Action: "kill", Wait: true})
	if err != nil || ff == nil {
		t.Fatalf("follow: %v", err)
	}
	if err := inject(context.Background(), c, killed, &plan.Pod{Action: "kill"}, nil); err != nil {
		t.Fatal(err)
	}
	type res struct {
		line string
		err  error
	}
	done := make(chan res, 1)
	go func() {
		l, err := ff(context.Background())
		done <- res{l, err}
	}()
	time.Sleep(100 * time.Millisecond)
	repl := testPod("web-3", "u-3", false)
	if _, err := c.CoreV1().Pods("ns").Create(context.Background(), repl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		t.Fatalf("returned before the replacement was Ready: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	repl = testPod("web-3", "u-3", true)
	if _, err := c.CoreV1().Pods("ns").UpdateStatus(context.Background(), repl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || !strings.Contains(r.line, "replacement ns/web-3 (from replicaset/web-abc) Ready") {
			t.Fatalf("follow = %q, %v", r.line, r.err)
		}
		t.Log(r.line)
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not see the Ready replacement")
	}
	if ff, err := follow(context.Background(), c, killed, "app", &plan.Pod{Action: "kill"}); ff != nil || err != nil {
		t.Errorf("follow without --wait: %v %v", ff != nil, err)
	}
}

// TestFollowRestore: after the restore, the report waits for the containers to run
// their own images again and counts the restarts.
func TestFollowRestore(t *testing.T) {
	withIDs := func(p *corev1.Pod, gen string) *corev1.Pod {
		p.Status.ContainerStatuses[0].ContainerID = "containerd://app-" + gen
		p.Status.ContainerStatuses[1].ContainerID = "containerd://side-" + gen
		return p
	}
	pod := withIDs(testPod("web-1", "u-1", true), "0")
	c := fake.NewClientset(pod.DeepCopy())
	ff, err := follow(context.Background(), c, pod, "app", &plan.Pod{Action: "failure"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		l, err := ff(context.Background())
		if err != nil {
			l = "error: " + err.Error()
		}
		done <- l
	}()
	// The kubelet has not updated the status yet (the containers from before the fault,
	// running their own images), then still on the pause image: not yet.
	for _, p := range []*corev1.Pod{withIDs(testPod("web-1", "u-1", true), "0"), withIDs(testPod("web-1", "u-1", false), "1")} {
		if p.Status.ContainerStatuses[0].ContainerID != "containerd://app-0" {
			p.Status.ContainerStatuses[0].Image = "registry.k8s.io/pause:3.10"
		}
		c.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		select {
		case l := <-done:
			t.Fatalf("returned early: %s", l)
		case <-time.After(300 * time.Millisecond):
		}
	}
	p := withIDs(testPod("web-1", "u-1", true), "2")
	p.Status.ContainerStatuses[0].RestartCount = 3
	p.Status.ContainerStatuses[1].RestartCount = 2
	c.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	select {
	case l := <-done:
		if !strings.Contains(l, "back on their own images") || !strings.Contains(l, "restarts app 1→3 (+2), side 0→2 (+2)") {
			t.Fatalf("follow = %s", l)
		}
		t.Log(l)
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not see the restored pod")
	}
}

func errForbidden() error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "n1", errors.New("no"))
}
