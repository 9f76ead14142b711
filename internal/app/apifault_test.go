package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

func noopAPIValue(t *testing.T, c *fake.Clientset, name string) (string, string) {
	t.Helper()
	p, err := c.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Annotations[plan.AnnotationNoopAPI], p.Labels[plan.LabelExperiment]
}

// The hidden API-only kind through the command line: detached, found by ls and status,
// restored by stop; no helper pod at any point.
func TestNoopAPIDetachLsStatusStop(t *testing.T) {
	c := webCluster()
	r := run(t, c, "noop-api", "deploy/web", "--detach", "--yes", "--value", "v1")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.errOut)
	}
	var id string
	for _, n := range []string{"web-1", "web-2", "web-3"} {
		v, l := noopAPIValue(t, c, n)
		if v != "v1" || l == "" {
			t.Fatalf("%s: annotation %q label %q", n, v, l)
		}
		id = l
	}
	for _, a := range c.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource != "events" { // Events on the targets are expected
			t.Errorf("an API-only fault created a %s", a.GetResource().Resource)
		}
	}
	r = run(t, c, "ls")
	for _, want := range []string{"PODS", id, "tester@fake", "noopapi annotation kubectl-chaos/noop-api=v1", "node-a,node-b", "true"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("ls lacks %q:\n%s", want, r.out)
		}
	}
	r = run(t, c, "status", id)
	for _, want := range []string{"Pods changed through the API", "web-2", "noopapi", "changed (undo record on the pod)"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("status lacks %q:\n%s", want, r.out)
		}
	}
	r = run(t, c, "stop", id, "-o", "json")
	var exps []session.Experiment
	if err := json.Unmarshal([]byte(r.out), &exps); r.err != nil || err != nil || len(exps) != 1 || len(exps[0].Pods) != 3 || !exps[0].Pods[2].Restored {
		t.Fatalf("stop: %v %v %s", r.err, err, r.out)
	}
	for _, n := range []string{"web-1", "web-2", "web-3"} {
		if v, l := noopAPIValue(t, c, n); v != "" || l != "" {
			t.Errorf("%s not restored: %q %q", n, v, l)
		}
	}
	if r := run(t, c, "ls"); !strings.Contains(r.errOut, "no experiments") {
		t.Errorf("ls after stop:\n%s", r.out)
	}
}

func TestNoopAPIValidation(t *testing.T) {
	r := run(t, nil, "noop-api", "deploy/web", "--value", "")
	if exit.Code(r.err) != exit.Usage || !strings.Contains(r.err.Error(), "--value must be 1 to 63 characters") || r.calls != 0 {
		t.Errorf("%v (client calls %d)", r.err, r.calls)
	}
}

// gc: the report names what each node's sweep removed; -o json carries it whole.
func TestGCReportsWhatTheSweepRemoved(t *testing.T) {
	c := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}})
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		res := plan.SweepResult{Node: p.Spec.NodeName, Swept: []plan.SweptJournal{{Experiment: "chaos-dead1234", Reason: "helper-gone", Files: 1,
			Removed: []plan.Object{{Kind: "qdisc", Interface: "eth0", Spec: "tbf rate 10mbit burst 32kb handle 4b43: root"}}}}}
		b, _ := json.Marshal(res)
		p.Status.Phase = corev1.PodSucceeded
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: helperpod.ContainerName,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: string(b)}}}}
		return false, nil, nil
	})
	r := run(t, c, "gc", "--all-nodes")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.errOut)
	}
	for _, want := range []string{
		"node-a  chaos-dead1234  helper-gone  qdisc on eth0: tbf rate 10mbit burst 32kb handle 4b43: root",
		"node-a  chaos-dead1234  helper-gone  journal /run/kubectl-chaos/chaos-dead1234 (1 file(s))",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("gc report lacks %q:\n%s", want, r.out)
		}
	}
	r = run(t, c, "gc", "--all-nodes", "-o", "json")
	var rep session.GCReport
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil || len(rep.Sweeps) != 1 || rep.Sweeps[0].Result.Swept[0].Removed[0].Kind != "qdisc" {
		t.Errorf("gc -o json: %v %s", err, r.out)
	}
	if l, _ := c.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("%d sweep pods left", len(l.Items))
	}
}

func TestGCDryRunAndFlags(t *testing.T) {
	c := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}})
	addHelper(t, c, "chaos-bbbbbbbb", "node-a", testNow.Add(-10*time.Minute), corev1.PodRunning)
	c.ClearActions()
	r := run(t, c, "gc", "--dry-run", "--node", "node-a")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, want := range []string{"Dry run: nothing will be deleted, restored or created.", "chaos-bbbbbbbb-node-a",
		"Sweep pods to create", "on node node-a", "privileged", "activeDeadlineSeconds 90", "/run/kubectl-chaos", "runs: /kubectl-chaos agent --sweep-only"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("gc --dry-run lacks %q:\n%s", want, r.out)
		}
	}
	noWrites(t, c)
	for _, args := range [][]string{
		{"gc", "--all-nodes", "--node", "x"}, {"gc", "--node", "Bad_Node"}, {"gc", "--timeout", "0s"},
		{"gc", "--image-pull-policy", "Sometimes"}, {"gc", "--runtime-socket", "rel.sock"}, {"gc", "extra"},
	} {
		if r := run(t, nil, args...); exit.Code(r.err) != exit.Usage || r.calls != 0 {
			t.Errorf("%v: %v (client calls %d), want a usage error before any client", args, r.err, r.calls)
		}
	}
}
