package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// addHelper creates the helper pod of experiment id on node, as a real run would.
func addHelper(t *testing.T, c *fake.Clientset, id, node string, deadline time.Time, phase corev1.PodPhase) {
	t.Helper()
	pl := &plan.Plan{
		Version: plan.Version, Experiment: id, Node: node, Owner: "tester@fake", CreatedAt: deadline.Add(-time.Minute),
		Deadline: deadline, Fault: plan.Fault{Kind: plan.KindNoop, Action: "noop", Noop: &plan.Noop{}},
		Targets: []plan.Target{{Namespace: "default", Pod: "web-1", Container: "app", ContainerID: "containerd://1", Node: node}},
	}
	pod, err := helperpod.Build(helperpod.Options{Plan: pl, Namespace: "kubectl-chaos", Image: "img:1", RuntimeSocket: helperpod.DefaultRuntimeSocket})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.Phase = phase
	if _, err := c.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// finishSweeps plays the kubelet for gc's sweep pods: each is stored as finished, with
// an empty sweep result in its termination message.
func finishSweeps(c *fake.Clientset) {
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Annotations[plan.AnnotationFault] == helperpod.SweepFault {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{Message: `{"node":"` + p.Spec.NodeName + `","swept":[]}`}}}}
		}
		return false, nil, nil
	})
}

func TestLsStatusStopGC(t *testing.T) {
	c := fake.NewClientset()
	addHelper(t, c, "chaos-aaaaaaaa", "node-a", testNow.Add(4*time.Minute), corev1.PodRunning)
	addHelper(t, c, "chaos-aaaaaaaa", "node-b", testNow.Add(4*time.Minute), corev1.PodRunning)
	addHelper(t, c, "chaos-bbbbbbbb", "node-a", testNow.Add(-10*time.Minute), corev1.PodRunning)

	r := run(t, c, "ls")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, want := range []string{"ID", "OWNER", "chaos-aaaaaaaa", "tester@fake", "node-a,node-b", "4m0s", "chaos-bbbbbbbb", "expired 10m0s ago"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("ls lacks %q:\n%s", want, r.out)
		}
	}
	r = run(t, c, "ls", "-o", "json")
	var exps []session.Experiment
	if err := json.Unmarshal([]byte(r.out), &exps); err != nil || len(exps) != 2 || len(exps[0].Helpers) != 2 {
		t.Errorf("ls -o json: %v %+v\n%s", err, exps, r.out)
	}

	r = run(t, c, "status", "chaos-aaaaaaaa")
	for _, want := range []string{"Experiment: chaos-aaaaaaaa", "Owner:      tester@fake", "NODE", "node-b", "Running"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("status lacks %q:\n%s", want, r.out)
		}
	}
	r = run(t, c, "status", "chaos-zzzzzzzz")
	if exit.Code(r.err) != exit.Usage || !strings.Contains(r.err.Error(), "chaos-aaaaaaaa") {
		t.Errorf("status of an unknown ID: %v, want a usage error listing the running IDs", r.err)
	}

	finishSweeps(c)
	r = run(t, c, "gc")
	if r.err != nil || !strings.Contains(r.out, "deleted helper pod kubectl-chaos/chaos-bbbbbbbb-node-a") || strings.Contains(r.out, "chaos-aaaaaaaa") {
		t.Errorf("gc: %v\n%s%s", r.err, r.out, r.errOut)
	}
	// The nodes of the helpers found were swept; the sweep pods are gone again.
	for _, want := range []string{"NODE", "node-a  -           -       nothing to remove", "node-b"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("gc report lacks %q:\n%s", want, r.out)
		}
	}
	r = run(t, c, "stop", "chaos-aaaaaaaa", "--timeout", "2s")
	if r.err != nil || !strings.Contains(r.out, "stopped chaos-aaaaaaaa (2 helper(s))") {
		t.Errorf("stop: %v\n%s%s", r.err, r.out, r.errOut)
	}
	l, _ := c.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if len(l.Items) != 0 {
		t.Errorf("%d helper pods left after gc and stop", len(l.Items))
	}
	r = run(t, c, "ls")
	if r.err != nil || r.out != "" || !strings.Contains(r.errOut, "no experiments") {
		t.Errorf("ls on an empty cluster: %v out %q err %q", r.err, r.out, r.errOut)
	}
	for _, args := range [][]string{{"stop"}, {"stop", "x", "--all"}, {"status"}, {"ls", "extra"}} {
		if r := run(t, c, args...); exit.Code(r.err) != exit.Usage {
			t.Errorf("%v: %v, want a usage error", args, r.err)
		}
	}
}

// After a kill -9 of the CLI the agent recovers on stdin EOF and exits: its helper is
// Completed with that result. ls says the experiment ended and how, with no time left
// (issue 15: it used to look as if it were running), and which one needs gc.
func TestLsSaysWhereExperimentsStand(t *testing.T) {
	c := fake.NewClientset()
	addHelper(t, c, "chaos-aaaaaaaa", "node-a", testNow.Add(4*time.Minute), corev1.PodSucceeded)
	addHelper(t, c, "chaos-bbbbbbbb", "node-a", testNow.Add(4*time.Minute), corev1.PodRunning)
	addHelper(t, c, "chaos-cccccccc", "node-a", testNow.Add(4*time.Minute), corev1.PodSucceeded)
	finish := func(id, msg string) {
		p, err := c.CoreV1().Pods("kubectl-chaos").Get(context.Background(), helperpod.Name(id, "node-a"), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: msg}}}}
		if _, err := c.CoreV1().Pods("kubectl-chaos").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	finish("chaos-aaaaaaaa", `{"experiment":"chaos-aaaaaaaa","node":"node-a","reason":"operator-gone","targets":[{"target":"default/web-1/app","injected":true,"recovered":true}]}`)
	finish("chaos-cccccccc", `{"experiment":"chaos-cccccccc","node":"node-a","reason":"operator-gone","targets":[{"target":"default/web-1/app","injected":true,"recovered":false,"error":"deleting table: EBUSY"}]}`)

	r := run(t, c, "ls")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for id, want := range map[string]struct {
		state string
		left  bool
	}{
		"chaos-aaaaaaaa": {"ended: recovered after the operator left", false},
		"chaos-bbbbbbbb": {"active", true},
		"chaos-cccccccc": {"needs gc: recovery failed on node-a (default/web-1/app): deleting table: EBUSY", true},
	} {
		var line string
		for _, l := range strings.Split(r.out, "\n") {
			if strings.HasPrefix(l, id) {
				line = l
			}
		}
		if !strings.Contains(line, want.state) || strings.Contains(line, "4m0s") != want.left {
			t.Errorf("%s: want %q (time left shown: %v) in\n%s", id, want.state, want.left, r.out)
		}
	}
	r = run(t, c, "ls", "-o", "json")
	var exps []session.Experiment
	if err := json.Unmarshal([]byte(r.out), &exps); err != nil || len(exps) != 3 || exps[0].State != session.StateEnded ||
		exps[1].State != session.StateActive || exps[2].State != session.StateNeedsGC {
		t.Errorf("ls -o json: %v\n%s", err, r.out)
	}
}
