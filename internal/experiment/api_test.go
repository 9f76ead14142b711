package experiment

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
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"

	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noopapi"
)

func webPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}, UID: "uid-" + "name", ResourceVersion: "7"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + strings.Repeat("a", 64), Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
}

// apiOptions runs `noop-api -l app=web` against cs; the output buffers come back.
func apiOptions(cs kubernetes.Interface, mod func(*Options)) (*Options, func() (string, string)) {
	io, _, out, errOut := ui.Test()
	o := &Options{
		IO:         io,
		KubeClient: func() (kubernetes.Interface, error) { return cs, nil },
		Attacher:   func() (session.Attacher, error) { return nil, errors.New("an API-only fault must not attach") },
		Namespace:  func() (string, error) { return "default", nil },
		Owner:      func() string { return "tester@fake" },
		NewID:      func() string { return "chaos-apitest1" },
		Fault:      plan.Fault{Kind: plan.KindNoopAPI, Action: "noop-api", NoopAPI: &plan.NoopAPI{Value: "on"}},
		Duration:   300 * time.Millisecond, MaxDuration: time.Hour, Yes: true,
		HelperNamespace: "kubectl-chaos", Image: "img:1", ImagePullPolicy: "IfNotPresent", RuntimeSocket: "/run/containerd/containerd.sock",
	}
	o.Target.LabelSelector, o.Target.Mode, o.Target.MaxTargets = "app=web", "all", 50
	if mod != nil {
		mod(o)
	}
	return o, func() (string, string) { return out.String(), errOut.String() }
}

func annotation(t *testing.T, cs kubernetes.Interface, name string) (value string, labelled bool) {
	t.Helper()
	p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, rec := p.Annotations[plan.AnnotationUndo]
	return p.Annotations[plan.AnnotationNoopAPI], p.Labels[plan.LabelExperiment] != "" || rec
}

func verbs(cs *fake.Clientset) map[string]int {
	m := map[string]int{}
	for _, a := range cs.Actions() {
		m[a.GetVerb()+" "+a.GetResource().Resource]++
	}
	return m
}

// The run to the deadline: each pod changed in one request, restored in one request,
// no helper pod, exit 0, the helper path's report shape.
func TestAPIRunToDeadline(t *testing.T) {
	cs := fake.NewSimpleClientset(webPod("web-1", "n1"), webPod("web-2", "n2"))
	o, output := apiOptions(cs, func(o *Options) { o.Output = "json" })
	seen := make(chan string, 4)
	cs.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		seen <- string(a.(k8stesting.PatchAction).GetPatch())
		return false, nil, nil
	})
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	out, errOut := output()
	v := verbs(cs)
	if v["patch pods"] != 4 || v["create pods"] != 0 || v["create namespaces"] != 0 {
		t.Errorf("requests %v: want one inject and one restore patch per pod, nothing created", v)
	}
	inj := <-seen
	for _, want := range []string{`"kubectl-chaos/noop-api":"on"`, `"kubectl-chaos/experiment":"chaos-apitest1"`, `"kubectl-chaos/undo":`, `"resourceVersion":"7"`} {
		if !strings.Contains(inj, want) {
			t.Errorf("inject patch lacks %s: %s", want, inj)
		}
	}
	for _, n := range []string{"web-1", "web-2"} {
		if v, labelled := annotation(t, cs, n); v != "" || labelled {
			t.Errorf("%s not restored: annotation %q, labelled %v", n, v, labelled)
		}
	}
	var rep session.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if rep.Reason != session.ReasonCompleted || len(rep.Nodes) != 2 || rep.Nodes[0].Node != "n1" ||
		!rep.Nodes[0].Result.Targets[0].Injected || !rep.Nodes[0].Result.Targets[0].Recovered || rep.Nodes[0].InjectLatency <= 0 {
		t.Errorf("report %+v", rep)
	}
	for _, want := range []string{"through the API, no helper pod", "injected default/web-1", "recovered default/web-2", "completed"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("progress lacks %q:\n%s", want, errOut)
		}
	}
}

func TestAPIInterrupted(t *testing.T) {
	cs := fake.NewSimpleClientset(webPod("web-1", "n1"))
	o, _ := apiOptions(cs, func(o *Options) { o.Duration = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	cs.PrependReactor("patch", "pods", func(k8stesting.Action) (bool, kruntime.Object, error) {
		cancel() // Ctrl-C right after the first request went out
		return false, nil, nil
	})
	start := time.Now()
	err := Run(ctx, o)
	if exit.Code(err) != exit.Interrupted {
		t.Fatalf("exit %d (%v), want 130", exit.Code(err), err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("interrupt took %v", time.Since(start))
	}
	if v, labelled := annotation(t, cs, "web-1"); v != "" || labelled {
		t.Errorf("not restored after Ctrl-C: %q %v", v, labelled)
	}
}

func TestAPIDetachThenStop(t *testing.T) {
	cs := fake.NewSimpleClientset(webPod("web-1", "n1"))
	o, _ := apiOptions(cs, func(o *Options) { o.Detach, o.Duration = true, time.Hour })
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if v, labelled := annotation(t, cs, "web-1"); v != "on" || !labelled {
		t.Fatalf("detached fault not in place: %q %v", v, labelled)
	}
	exps, err := session.Stop(context.Background(), cs, []string{"chaos-apitest1"}, false, time.Second)
	if err != nil || len(exps) != 1 || !exps[0].Pods[0].Restored {
		t.Fatalf("stop: %v %+v", err, exps)
	}
	if v, labelled := annotation(t, cs, "web-1"); v != "" || labelled {
		t.Errorf("not restored by stop: %q %v", v, labelled)
	}
}

// Stopped from elsewhere while attached: the run notices and ends early, like the
// helper path (exit 130).
func TestAPIStoppedFromOutside(t *testing.T) {
	cs := fake.NewSimpleClientset(webPod("web-1", "n1"))
	o, output := apiOptions(cs, func(o *Options) { o.Duration = time.Hour })
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), o) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v, _ := annotation(t, cs, "web-1"); v == "on" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fault never injected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let the watch start
	if _, err := session.Stop(context.Background(), cs, []string{"chaos-apitest1"}, false, time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if exit.Code(err) != exit.Interrupted {
			t.Errorf("exit %d (%v), want 130", exit.Code(err), err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the attached run did not notice the stop")
	}
	if _, errOut := output(); !strings.Contains(errOut, "deleted from outside this session") || !strings.Contains(errOut, "already restored") {
		t.Errorf("progress:\n%s", errOut)
	}
}

func TestAPIRefusesTakenPodAndChangesNothing(t *testing.T) {
	taken := webPod("web-2", "n1")
	rec := plan.UndoRecord{Kind: plan.KindNoopAPI, Experiment: "chaos-other", Owner: "bob@prod", Deadline: time.Now().Add(time.Hour)}
	v, _ := rec.Encode()
	taken.Labels[plan.LabelExperiment] = "chaos-other"
	taken.Annotations = map[string]string{plan.AnnotationUndo: v}
	cs := fake.NewSimpleClientset(webPod("web-1", "n1"), taken)
	o, _ := apiOptions(cs, nil)
	err := Run(context.Background(), o)
	if exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), "default/web-2 is already changed by experiment chaos-other") ||
		!strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err %v", err)
	}
	if n := verbs(cs)["patch pods"]; n != 0 {
		t.Errorf("%d patches after a refusal", n)
	}
}

func TestAPIInjectFailures(t *testing.T) {
	t.Run("patch refused by the server: exit 3, the others restored", func(t *testing.T) {
		cs := fake.NewSimpleClientset(webPod("web-1", "n1"), webPod("web-2", "n1"))
		cs.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
			if a.(k8stesting.PatchAction).GetName() == "web-2" {
				return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "web-2", nil)
			}
			return false, nil, nil
		})
		o, output := apiOptions(cs, nil)
		err := Run(context.Background(), o)
		if exit.Code(err) != exit.Fault || !strings.Contains(err.Error(), "default/web-2") {
			t.Errorf("err %v", err)
		}
		if v, labelled := annotation(t, cs, "web-1"); v != "" || labelled {
			t.Errorf("web-1 not restored: %q %v", v, labelled)
		}
		if out, _ := output(); !strings.Contains(out, "failed") {
			t.Errorf("report:\n%s", out)
		}
	})
	t.Run("may not patch: exit 2, says RBAC", func(t *testing.T) {
		cs := fake.NewSimpleClientset(webPod("web-1", "n1"))
		cs.PrependReactor("patch", "pods", func(k8stesting.Action) (bool, kruntime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "web-1", errors.New("no"))
		})
		o, _ := apiOptions(cs, nil)
		err := Run(context.Background(), o)
		if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "may not patch pods in namespace default (RBAC)") {
			t.Errorf("err %v", err)
		}
	})
}

func TestAPIDryRun(t *testing.T) {
	cs := fake.NewSimpleClientset(webPod("web-1", "n1"))
	o, output := apiOptions(cs, func(o *Options) { o.DryRun = true })
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	out, _ := output()
	for _, want := range []string{
		"Helper pods: none: the Kubernetes API alone makes this change",
		"API calls (one request per target pod through the API server; no helper pod):",
		`api-call: PATCH pod (JSON merge patch): set annotation kubectl-chaos/noop-api="on"`,
		"label kubectl-chaos/experiment=chaos-apitest1 and annotation kubectl-chaos/undo",
		"default    web-1",
		"`kubectl chaos stop chaos-apitest1` restores it at any time",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	for _, a := range cs.Actions() {
		if v := a.GetVerb(); v != "list" && v != "get" {
			t.Errorf("dry run made a %s", v)
		}
	}
	o, output = apiOptions(cs, func(o *Options) { o.DryRun, o.Output = true, "json" })
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	out, _ = output()
	var d DryRun
	if err := json.Unmarshal([]byte(out), &d); err != nil || !d.APIOnly || len(d.Helpers) != 0 || len(d.Objects) != 2 || d.Objects[0].Kind != "api-call" {
		t.Errorf("dry run json: %v %+v", err, d)
	}
}

// --quiet on the API-only path, as on the helper path: a clean run prints nothing on
// stderr and the same report on stdout; a pod that could not be changed is still said
// on stderr (its error event alone), with the exit code of a failed fault.
func TestAPIQuiet(t *testing.T) {
	cs := fake.NewSimpleClientset(webPod("web-1", "n1"), webPod("web-2", "n2"))
	o, output := apiOptions(cs, func(o *Options) { o.Quiet = true })
	if err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	out, errOut := output()
	if errOut != "" {
		t.Errorf("stderr with --quiet:\n%s", errOut)
	}
	loud, loudOutput := apiOptions(fake.NewSimpleClientset(webPod("web-1", "n1"), webPod("web-2", "n2")), nil)
	if err := Run(context.Background(), loud); err != nil {
		t.Fatal(err)
	}
	loudOut, loudErr := loudOutput()
	if !strings.Contains(loudErr, "injected default/web-1") || !strings.Contains(out, "completed") || !strings.Contains(out, "INJECTED") {
		t.Fatalf("without --quiet stderr:\n%s\nreport with --quiet:\n%s", loudErr, out)
	}
	// The reports differ only in their times.
	digits := strings.NewReplacer("0", "", "1", "", "2", "", "3", "", "4", "", "5", "", "6", "", "7", "", "8", "", "9", "", ".", "", "m", "", "µ", "", "s", "", " ", "")
	if digits.Replace(out) != digits.Replace(loudOut) {
		t.Errorf("report with --quiet:\n%s\nwithout:\n%s", out, loudOut)
	}

	cs = fake.NewSimpleClientset(webPod("web-1", "n1"), webPod("web-2", "n1"))
	cs.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		if a.(k8stesting.PatchAction).GetName() == "web-2" {
			return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "web-2", nil)
		}
		return false, nil, nil
	})
	o, output = apiOptions(cs, func(o *Options) { o.Quiet = true })
	err := Run(context.Background(), o)
	if exit.Code(err) != exit.Fault {
		t.Errorf("exit %d (%v), want %d", exit.Code(err), err, exit.Fault)
	}
	_, errOut = output()
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "error default/web-2") {
		t.Errorf("stderr with --quiet and a failed pod: want its error line alone:\n%s", errOut)
	}
}
