package session

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// sweepKubelet plays the kubelet for sweep pods: each created sweep pod is stored as
// finished, with the termination message result(node) gives (nil: the pod stays
// Pending, as on a node that cannot run it).
type sweepKubelet struct {
	mu      sync.Mutex
	created []string // nodes, in creation order
	result  func(node string) (*plan.SweepResult, corev1.PodPhase)
}

func (k *sweepKubelet) install(cs *fake.Clientset) {
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if len(p.Spec.Containers) == 0 || len(p.Spec.Containers[0].Command) < 3 || p.Spec.Containers[0].Command[2] != "--sweep-only" {
			return false, nil, nil
		}
		k.mu.Lock()
		k.created = append(k.created, p.Spec.NodeName)
		k.mu.Unlock()
		res, phase := k.result(p.Spec.NodeName)
		if res == nil {
			p.Status.Phase = corev1.PodPending
			return false, nil, nil
		}
		b, _ := json.Marshal(res)
		exitCode := int32(0)
		if phase == corev1.PodFailed {
			exitCode = 3
		}
		p.Status.Phase = phase
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, Message: string(b)}}}}
		return false, nil, nil
	})
}

func (k *sweepKubelet) nodes() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := append([]string(nil), k.created...)
	sort.Strings(out)
	return out
}

// removedQdisc is what a sweep of a killed agent's bandwidth fault reports.
func removedQdisc(node string) (*plan.SweepResult, corev1.PodPhase) {
	return &plan.SweepResult{Node: node, Swept: []plan.SweptJournal{{Experiment: "exp-dead", Reason: "helper-gone", Files: 1,
		Removed: []plan.Object{{Kind: "qdisc", Interface: "eth0", Spec: "tbf rate 10mbit handle 4b43: root"}}}}}, corev1.PodSucceeded
}

func nothing(node string) (*plan.SweepResult, corev1.PodPhase) {
	return &plan.SweepResult{Node: node, Swept: []plan.SweptJournal{}}, corev1.PodSucceeded
}

func gcOptions(now time.Time) GCOptions {
	return GCOptions{Now: now, DeleteTimeout: time.Second,
		Sweep: SweepOptions{ID: "chaos-gc-test", Namespace: "kubectl-chaos", Image: "img:1", Timeout: 5 * time.Second}}
}

func TestGC(t *testing.T) {
	now := time.Now()
	cs := fixture(now)
	k := &sweepKubelet{result: func(n string) (*plan.SweepResult, corev1.PodPhase) {
		if n == "n2" {
			return removedQdisc(n)
		}
		return nothing(n)
	}}
	k.install(cs)
	rep, err := GC(context.Background(), cs, gcOptions(now))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range rep.Deleted {
		names = append(names, h.Pod)
	}
	// exp-a: deadline an hour ago (both); exp-c: 10s ago, within the grace; exp-b: future.
	if strings.Join(names, ",") != "exp-a-n1,exp-a-n2" {
		t.Errorf("deleted %v", names)
	}
	// The sweep pods are gone too: only the live helpers and the app are left.
	if left := strings.Join(remainingPods(t, cs), ","); left != "chaos-2/exp-b-n1,default/web,kubectl-chaos/exp-c-n3" {
		t.Errorf("left %s", left)
	}
	// Swept: the nodes of every helper found.
	if got := strings.Join(k.nodes(), ","); got != "n1,n2,n3" {
		t.Errorf("sweep pods on %s, want n1,n2,n3", got)
	}
	if len(rep.Sweeps) != 3 || rep.Sweeps[1].Node != "n2" || !rep.Sweeps[1].OK() ||
		rep.Sweeps[1].Result.Swept[0].Removed[0].Kind != "qdisc" || rep.Sweeps[1].Pod != "kubectl-chaos/chaos-gc-test-n2" {
		t.Errorf("sweeps %+v", rep.Sweeps)
	}
	// A finished helper goes even before its deadline.
	cs2 := fake.NewSimpleClientset(helperPod("kubectl-chaos", "exp-d", "n1", now.Add(time.Hour), corev1.PodFailed, ""))
	(&sweepKubelet{result: nothing}).install(cs2)
	rep, err = GC(context.Background(), cs2, gcOptions(now))
	if err != nil || len(rep.Deleted) != 1 {
		t.Errorf("GC of a failed helper: %v %+v", err, rep)
	}
}

func TestGCDryRunChangesNothing(t *testing.T) {
	now := time.Now()
	cs := fixture(now)
	o := gcOptions(now)
	o.DryRun, o.Nodes = true, []string{"n9"}
	cs.PrependReactor("get", "nodes", func(k8stesting.Action) (bool, kruntime.Object, error) {
		return true, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n9"}}, nil
	})
	rep, err := GC(context.Background(), cs, o)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, p := range rep.SweepPods {
		nodes = append(nodes, p.Spec.NodeName)
	}
	if !rep.DryRun || len(rep.Deleted) != 2 || strings.Join(nodes, ",") != "n1,n2,n3,n9" || len(rep.Sweeps) != 0 {
		t.Errorf("dry run %+v (sweep nodes %v)", rep, nodes)
	}
	for _, a := range cs.Actions() {
		if v := a.GetVerb(); v != "list" && v != "get" {
			t.Errorf("dry run made a %s of %s", v, a.GetResource().Resource)
		}
	}
}

func TestGCAllNodesAndNode(t *testing.T) {
	now := time.Now()
	ready := func(name string, ok corev1.ConditionStatus) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ok, Reason: "KubeletNotReady"}}}}
	}
	t.Run("all Ready nodes, NotReady skipped", func(t *testing.T) {
		cs := fake.NewSimpleClientset(ready("a", corev1.ConditionTrue), ready("b", corev1.ConditionFalse), ready("c", corev1.ConditionTrue))
		k := &sweepKubelet{result: nothing}
		k.install(cs)
		o := gcOptions(now)
		o.AllNodes = true
		rep, err := GC(context.Background(), cs, o)
		if err != nil || strings.Join(k.nodes(), ",") != "a,c" || len(rep.Skipped) != 1 || rep.Skipped[0].Node != "b" {
			t.Errorf("%v; swept %v; report %+v", err, k.nodes(), rep)
		}
	})
	t.Run("unknown --node changes nothing", func(t *testing.T) {
		cs := fake.NewSimpleClientset(ready("a", corev1.ConditionTrue))
		o := gcOptions(now)
		o.Nodes = []string{"nope"}
		_, err := GC(context.Background(), cs, o)
		if exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), "--node nope: no such node") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("doctor's unknown node argument is not called a flag", func(t *testing.T) {
		cs := fake.NewSimpleClientset(ready("a", corev1.ConditionTrue))
		_, _, err := SelectNodes(context.Background(), cs, []string{"nope"})
		if exit.Code(err) != exit.Usage || !strings.HasPrefix(err.Error(), "node nope: no such node") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("may not list nodes", func(t *testing.T) {
		cs := fake.NewSimpleClientset()
		cs.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, kruntime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no"))
		})
		o := gcOptions(now)
		o.AllNodes = true
		_, err := GC(context.Background(), cs, o)
		if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "--node instead") {
			t.Errorf("err %v", err)
		}
	})
}

func TestGCSweepFailures(t *testing.T) {
	now := time.Now()
	node := func(name string) *corev1.Node { return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}} }
	t.Run("recovery failed: exit 3, reported", func(t *testing.T) {
		cs := fake.NewSimpleClientset(node("a"))
		(&sweepKubelet{result: func(n string) (*plan.SweepResult, corev1.PodPhase) {
			return &plan.SweepResult{Node: n, Error: "sweeping /run/kubectl-chaos: qdisc: operation not permitted",
				Swept: []plan.SweptJournal{{Experiment: "exp-x", Reason: "deadline-passed", Files: 1, Error: "qdisc: operation not permitted"}}}, corev1.PodFailed
		}}).install(cs)
		o := gcOptions(now)
		o.Nodes = []string{"a"}
		rep, err := GC(context.Background(), cs, o)
		if exit.Code(err) != exit.Fault || !strings.Contains(err.Error(), "node(s) a") {
			t.Errorf("err %v", err)
		}
		if len(rep.Sweeps) != 1 || rep.Sweeps[0].OK() || !strings.Contains(rep.Sweeps[0].Error, "operation not permitted") {
			t.Errorf("sweeps %+v", rep.Sweeps)
		}
		if left := remainingPods(t, cs); len(left) != 0 {
			t.Errorf("sweep pod left: %v", left)
		}
	})
	t.Run("pod never runs: bounded, exit 3, deleted", func(t *testing.T) {
		cs := fake.NewSimpleClientset(node("a"))
		(&sweepKubelet{result: func(string) (*plan.SweepResult, corev1.PodPhase) { return nil, "" }}).install(cs)
		o := gcOptions(now)
		o.Nodes, o.Sweep.Timeout = []string{"a"}, 300*time.Millisecond
		start := time.Now()
		rep, err := GC(context.Background(), cs, o)
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("bounded wait took %s", took)
		}
		if exit.Code(err) != exit.Fault || len(rep.Sweeps) != 1 || !strings.Contains(rep.Sweeps[0].Error, "did not finish within 300ms") {
			t.Errorf("err %v sweeps %+v", err, rep.Sweeps)
		}
		if left := remainingPods(t, cs); len(left) != 0 {
			t.Errorf("sweep pod left: %v", left)
		}
	})
	t.Run("image missing: the start failure is the error", func(t *testing.T) {
		cs := fake.NewSimpleClientset(node("a"))
		cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
			p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "image not present"}}}}
			return false, nil, nil
		})
		o := gcOptions(now)
		o.Nodes = []string{"a"}
		rep, err := GC(context.Background(), cs, o)
		if exit.Code(err) != exit.Fault || !strings.Contains(rep.Sweeps[0].Error, "cannot get its image") {
			t.Errorf("err %v sweeps %+v", err, rep.Sweeps)
		}
	})
	t.Run("may not create pods: exit 2", func(t *testing.T) {
		cs := fake.NewSimpleClientset(node("a"))
		cs.PrependReactor("create", "pods", func(k8stesting.Action) (bool, kruntime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("no"))
		})
		o := gcOptions(now)
		o.Nodes = []string{"a"}
		_, err := GC(context.Background(), cs, o)
		if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "you may not create pods in namespace kubectl-chaos (RBAC)") {
			t.Errorf("err %v", err)
		}
	})
}
