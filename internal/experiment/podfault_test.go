package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"

	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/container"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/pod"
)

// The pod kind through the engine: the catalog's OneShot, NoDetach, Check and Follow
// decide what the run does (the kind's own pieces are tested in internal/fault/pod).

// ownedPod is webPod owned by ReplicaSet web-abc, with its own UID.
func ownedPod(name string, ready bool) *corev1.Pod {
	p := webPod(name, "n1")
	p.UID = types.UID("uid-" + name)
	isCtrl := true
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-abc", UID: "rs-uid", Controller: &isCtrl}}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func pauseNode(name string, images ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, img := range images {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{img}})
	}
	return n
}

func podFault(action string, mod func(*plan.Pod)) plan.Fault {
	p := &plan.Pod{Action: action}
	if mod != nil {
		mod(p)
	}
	return plan.Fault{Kind: plan.KindPod, Action: action, Pod: p}
}

// pod kill --wait: one DELETE with the pod's UID as precondition, no patch (no record
// on a pod that is gone), done at once (no wait for --duration), and the report says
// when the controller's replacement was Ready.
func TestPodKillOneShotFollowsReplacement(t *testing.T) {
	cs := fake.NewSimpleClientset(ownedPod("web-1", true))
	o, output := apiOptions(cs, func(o *Options) {
		o.Fault = podFault(plan.PodKill, func(p *plan.Pod) { p.Wait = true })
		o.Duration, o.Output = time.Hour, "json"
	})
	var precondition types.UID
	cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		if pc := a.(k8stesting.DeleteAction).GetDeleteOptions().Preconditions; pc != nil && pc.UID != nil {
			precondition = *pc.UID
		}
		go func() { // the ReplicaSet's replacement, Ready a little later
			time.Sleep(50 * time.Millisecond)
			_, _ = cs.CoreV1().Pods("default").Create(context.Background(), ownedPod("web-2", true), metav1.CreateOptions{})
		}()
		return false, nil, nil
	})
	start := time.Now()
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("a one-shot run took %v", took)
	}
	out, errOut := output()
	if v := verbs(cs); v["delete pods"] != 1 || v["patch pods"] != 0 {
		t.Errorf("requests %v: want one delete and no patch", v)
	}
	if precondition != "uid-web-1" {
		t.Errorf("delete precondition UID %q, want uid-web-1", precondition)
	}
	var rep session.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	tr := rep.Nodes[0].Result.Targets[0]
	if rep.Reason != session.ReasonCompleted || !tr.Injected || !tr.Recovered || tr.Error != "" {
		t.Errorf("report %+v", rep)
	}
	if len(rep.Followed) != 1 || !strings.Contains(rep.Followed[0].Message, "replacement default/web-2 (from replicaset/web-abc) Ready") {
		t.Errorf("followed %+v", rep.Followed)
	}
	for _, want := range []string{"once (one-shot: nothing to undo)", "followed default/web-1: replacement"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress lacks %q:\n%s", want, errOut)
		}
	}
}

// What the catalog says of a spec is refused before anything is read or changed.
func TestPodFaultRefusals(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"kill --duration", func(o *Options) { o.Fault, o.DurationSet = podFault(plan.PodKill, nil), true },
			"--duration does not apply to pod kill"},
		{"container kill --duration", func(o *Options) {
			o.Fault = plan.Fault{Kind: plan.KindContainer, Action: plan.ContainerKill, Container: &plan.Container{Action: plan.ContainerKill, Signal: "KILL"}}
			o.DurationSet = true
		}, "--duration does not apply to container kill"},
		{"failure --detach", func(o *Options) { o.Fault, o.Detach = podFault(plan.PodFailure, nil), true },
			"--detach is refused: pod failure cannot be detached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewSimpleClientset(ownedPod("web-1", true))
			o, _ := apiOptions(cs, func(o *Options) { o.Duration = time.Minute; tt.mod(o) })
			err := o.Validate()
			var ee *exit.Error
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &ee) || ee.Code != exit.Usage {
				t.Fatalf("Validate() = %v, want a usage error with %q", err, tt.want)
			}
			if n := len(cs.Actions()); n != 0 {
				t.Errorf("%d API requests for a refused spec", n)
			}
		})
	}
	// The default --duration (not given on the command line) is no reason to refuse.
	o, _ := apiOptions(fake.NewSimpleClientset(), func(o *Options) { o.Fault, o.Duration = podFault(plan.PodKill, nil), time.Minute })
	if err := o.Validate(); err != nil {
		t.Errorf("pod kill without --duration: %v", err)
	}
}

// The kind's Check runs before anything is changed: its refusal is a usage error and
// no pod is deleted or patched.
func TestPodCheckRefusesBeforeChange(t *testing.T) {
	orphan := webPod("web-1", "n1")
	tests := []struct {
		name  string
		fault plan.Fault
		want  string
	}{
		{"kill --wait without controller", podFault(plan.PodKill, func(p *plan.Pod) { p.Wait = true }), "--wait: pod default/web-1 has no controller"},
		{"failure on a node without pause image", podFault(plan.PodFailure, nil), "node n1 lists no pause image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewSimpleClientset(orphan.DeepCopy(), pauseNode("n1", "nginx:1"))
			o, _ := apiOptions(cs, func(o *Options) { o.Fault = tt.fault })
			err := Run(context.Background(), o)
			var ee *exit.Error
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &ee) || ee.Code != exit.Usage {
				t.Fatalf("Run() = %v, want a usage error with %q", err, tt.want)
			}
			if v := verbs(cs); v["delete pods"]+v["patch pods"] != 0 {
				t.Errorf("requests %v after a refusal", v)
			}
		})
	}
}

// pod failure to the deadline: the pause image read from the node, the containers
// patched to it with the undo record in the same request, patched back, and the
// report waits for the containers to run their own image again (with the restarts).
func TestPodFailureRunRestoresAndFollows(t *testing.T) {
	pod := ownedPod("web-1", true)
	// The status already runs the spec's image: else the fake kubelet below "restarts" the
	// container before the run reads its restart count (1→3 instead of 0→2, under load).
	pod.Status.ContainerStatuses[0].Image = pod.Spec.Containers[0].Image
	cs := fake.NewSimpleClientset(pod, pauseNode("n1", "nginx:1", "registry.k8s.io/pause:3.10"))
	o, output := apiOptions(cs, func(o *Options) { o.Fault = podFault(plan.PodFailure, nil) })
	var mu sync.Mutex
	var patches []string
	cs.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		mu.Lock()
		patches = append(patches, string(a.(k8stesting.PatchAction).GetPatch()))
		mu.Unlock()
		return false, nil, nil
	})
	stop := make(chan struct{})
	defer close(stop)
	go kubeletRestarts(cs, "web-1", stop)
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	out, errOut := output()
	mu.Lock()
	defer mu.Unlock()
	if len(patches) != 2 || !strings.Contains(patches[0], `"image":"registry.k8s.io/pause:3.10"`) ||
		!strings.Contains(patches[0], plan.AnnotationUndo) || !strings.Contains(patches[1], `"image":"nginx"`) {
		t.Fatalf("patches %q: want the pause image with the record, then nginx back", patches)
	}
	for _, want := range []string{"note: each image change restarts the container", "followed default/web-1: containers back on their own images",
		"app 0→2 (+2)"} {
		if !strings.Contains(errOut+out, want) {
			t.Errorf("output lacks %q:\n%s\n%s", want, errOut, out)
		}
	}
}

// kubeletRestarts plays the kubelet for pod name: whenever its spec names another
// image than its status, the container restarts on it (restart count +1).
func kubeletRestarts(cs *fake.Clientset, name string, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		st := &p.Status.ContainerStatuses[0]
		if img := p.Spec.Containers[0].Image; st.Image != img {
			st.Image, st.RestartCount = img, st.RestartCount+1
			st.ContainerID = fmt.Sprintf("containerd://%064d", st.RestartCount)
			st.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
			_, _ = cs.CoreV1().Pods("default").UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		}
	}
}

// The dry runs say what the catalog says: a kill is one-shot with nothing to undo and
// no record; a failure lists the facts about these targets and why --detach is refused.
func TestPodDryRuns(t *testing.T) {
	cs := fake.NewSimpleClientset(ownedPod("web-1", true), pauseNode("n1", "registry.k8s.io/pause:3.10"))
	o, output := apiOptions(cs, func(o *Options) { o.Fault, o.DryRun = podFault(plan.PodKill, nil), true })
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	out, _ := output()
	for _, want := range []string{"one-shot: done once", "DELETE pod (precondition: its UID", "nothing to undo"} {
		if !strings.Contains(out, want) {
			t.Errorf("kill dry run lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, plan.AnnotationUndo) {
		t.Errorf("kill dry run promises an undo record:\n%s", out)
	}
	o, output = apiOptions(cs, func(o *Options) { o.Fault, o.DryRun = podFault(plan.PodFailure, nil), true })
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	out, _ = output()
	for _, want := range []string{"registry.k8s.io/pause:3.10", "Notes on these targets:", "no readiness probe", "--detach is refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("failure dry run lacks %q:\n%s", want, out)
		}
	}
	if v := verbs(cs); v["delete pods"]+v["patch pods"] != 0 {
		t.Errorf("a dry run changed pods: %v", v)
	}
}
