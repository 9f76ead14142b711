package session

import (
	"context"
	"errors"
	"strings"
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
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"

	// The API-only kind these tests change pods with.
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noopapi"
)

func appPod(ns, name string, ann map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1",
		Labels: map[string]string{"app": "web"}, Annotations: ann}, Spec: corev1.PodSpec{NodeName: "n1"}}
}

var noopAPI = plan.Fault{Kind: plan.KindNoopAPI, NoopAPI: &plan.NoopAPI{Value: "on"}}

func record(id string, deadline time.Time) plan.UndoRecord {
	return plan.UndoRecord{Kind: plan.KindNoopAPI, Experiment: id, Owner: "ann@prod", Fault: noopAPI.Summary(),
		CreatedAt: deadline.Add(-time.Minute), Deadline: deadline}
}

// inject changes ns/name with experiment id through the kind, as the engine does.
func inject(t *testing.T, cs *fake.Clientset, ns, name, id string, deadline time.Time) error {
	t.Helper()
	e, err := catalog.Lookup(plan.KindNoopAPI)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return InjectPod(context.Background(), cs, e, noopAPI, p, record(id, deadline))
}

func getPod(t *testing.T, cs *fake.Clientset, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func patches(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "patch" {
			n++
		}
	}
	return n
}

func TestInjectRestoreInOneRequestEach(t *testing.T) {
	now := time.Now()
	cs := fake.NewSimpleClientset(appPod("default", "web", map[string]string{plan.AnnotationNoopAPI: "before"}))
	if err := inject(t, cs, "default", "web", "exp-api", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	p := getPod(t, cs, "default", "web")
	rec, err := UndoRecordOf(p)
	if p.Annotations[plan.AnnotationNoopAPI] != "on" || p.Labels[plan.LabelExperiment] != "exp-api" || err != nil || rec == nil ||
		rec.Experiment != "exp-api" || rec.Kind != plan.KindNoopAPI || rec.Owner != "ann@prod" || !strings.Contains(string(rec.Undo), `"previous":"before"`) {
		t.Fatalf("after inject: labels %v annotations %v record %+v %v", p.Labels, p.Annotations, rec, err)
	}
	if n := patches(cs); n != 1 {
		t.Errorf("inject took %d patches, want 1 (change + label + record together)", n)
	}
	cs.ClearActions()
	ok, err := RestorePod(context.Background(), cs, p, "exp-api")
	if !ok || err != nil {
		t.Fatalf("restore: %v %v", ok, err)
	}
	p = getPod(t, cs, "default", "web")
	if p.Annotations[plan.AnnotationNoopAPI] != "before" || p.Labels[plan.LabelExperiment] != "" || p.Annotations[plan.AnnotationUndo] != "" || p.Labels["app"] != "web" {
		t.Errorf("after restore: labels %v annotations %v", p.Labels, p.Annotations)
	}
	if n := patches(cs); n != 1 {
		t.Errorf("restore took %d patches, want 1", n)
	}
	// Again: nothing to restore, nothing sent.
	cs.ClearActions()
	if ok, err := RestorePod(context.Background(), cs, p, "exp-api"); ok || err != nil || patches(cs) != 0 {
		t.Errorf("second restore: %v %v, %d patches", ok, err, patches(cs))
	}
}

func TestInjectRefusesAnotherExperimentsPod(t *testing.T) {
	now := time.Now()
	cs := fake.NewSimpleClientset(appPod("default", "web", nil))
	if err := inject(t, cs, "default", "web", "exp-first", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	cs.ClearActions()
	err := inject(t, cs, "default", "web", "exp-second", now.Add(time.Minute))
	var taken *TakenError
	if !errors.As(err, &taken) || !strings.Contains(err.Error(), "default/web is already changed by experiment exp-first") ||
		!strings.Contains(err.Error(), "kubectl chaos stop exp-first") {
		t.Fatalf("err %v", err)
	}
	if patches(cs) != 0 {
		t.Errorf("the refused pod was patched")
	}
	if p := getPod(t, cs, "default", "web"); p.Labels[plan.LabelExperiment] != "exp-first" {
		t.Errorf("the first experiment's label changed: %v", p.Labels)
	}
}

// A conflict (the pod changed between read and patch) makes InjectPod read it again
// and check again; if another experiment got there first, it refuses.
func TestInjectConflictRereads(t *testing.T) {
	now := time.Now()
	cs := fake.NewSimpleClientset(appPod("default", "web", nil))
	stale := getPod(t, cs, "default", "web")
	first := true
	cs.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, kruntime.Object, error) {
		if first {
			first = false
			// Someone else's experiment lands first (through the tracker: the fake's own
			// lock is held while a reactor runs).
			gvr := corev1.SchemeGroupVersion.WithResource("pods")
			o, err := cs.Tracker().Get(gvr, "default", "web")
			if err != nil {
				t.Fatal(err)
			}
			p := o.(*corev1.Pod).DeepCopy()
			rec := record("exp-other", now.Add(time.Minute))
			v, _ := rec.Encode()
			p.Labels[plan.LabelExperiment] = "exp-other"
			p.Annotations = map[string]string{plan.AnnotationUndo: v}
			if err := cs.Tracker().Update(gvr, p, "default"); err != nil {
				t.Fatal(err)
			}
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "web", errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	e, _ := catalog.Lookup(plan.KindNoopAPI)
	err := InjectPod(context.Background(), cs, e, noopAPI, stale, record("exp-mine", now.Add(time.Minute)))
	if !strings.Contains(fmtErr(err), "already changed by experiment exp-other") {
		t.Errorf("err %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ls finds changed pods with the one label-selector List, stop restores them, gc
// restores only those past their deadline.
func TestChangedPodsListStopGC(t *testing.T) {
	now := time.Now()
	objs := []kruntime.Object{appPod("default", "web-1", nil), appPod("default", "web-2", nil), appPod("shop", "cart", nil), appPod("default", "plain", nil)}
	cs := fake.NewSimpleClientset(objs...)
	for _, x := range []struct{ ns, name, id string }{{"default", "web-1", "exp-live"}, {"default", "web-2", "exp-live"}, {"shop", "cart", "exp-old"}} {
		d := now.Add(time.Hour)
		if x.id == "exp-old" {
			d = now.Add(-time.Second)
		}
		if err := inject(t, cs, x.ns, x.name, x.id, d); err != nil {
			t.Fatal(err)
		}
	}
	cs.ClearActions()
	exps, err := List(context.Background(), cs)
	if err != nil || len(exps) != 2 {
		t.Fatalf("list: %v %+v", err, exps)
	}
	if acts := cs.Actions(); len(acts) != 1 || acts[0].GetVerb() != "list" ||
		acts[0].(k8stesting.ListAction).GetListRestrictions().Labels.String() != plan.LabelExperiment {
		t.Errorf("ls made %v, want one List with selector %q", acts, plan.LabelExperiment)
	}
	live := exps[0]
	if live.ID != "exp-live" || len(live.Pods) != 2 || len(live.Helpers) != 0 || live.Owner != "ann@prod" ||
		live.Fault != noopAPI.Summary() || live.Pods[0].Pod != "web-1" || live.Pods[0].Kind != plan.KindNoopAPI {
		t.Errorf("exp-live %+v", live)
	}

	// gc: only the expired one, and no sweep (no helper found).
	rep, err := GC(context.Background(), cs, gcOptions(now))
	if err != nil || len(rep.Restored) != 1 || rep.Restored[0].Pod != "cart" || !rep.Restored[0].Restored || len(rep.SweepPods) != 0 {
		t.Fatalf("gc: %v %+v", err, rep)
	}
	if p := getPod(t, cs, "shop", "cart"); p.Annotations[plan.AnnotationNoopAPI] != "" || p.Labels[plan.LabelExperiment] != "" {
		t.Errorf("cart not restored by gc: %v %v", p.Labels, p.Annotations)
	}
	if p := getPod(t, cs, "default", "web-1"); p.Annotations[plan.AnnotationNoopAPI] != "on" {
		t.Errorf("gc restored web-1 before its deadline")
	}

	// stop: restores now.
	got, err := Stop(context.Background(), cs, []string{"exp-live"}, false, time.Second)
	if err != nil || len(got) != 1 || len(got[0].Pods) != 2 || !got[0].Pods[0].Restored || !got[0].Pods[1].Restored {
		t.Fatalf("stop: %v %+v", err, got)
	}
	for _, n := range []string{"web-1", "web-2"} {
		if p := getPod(t, cs, "default", n); p.Annotations[plan.AnnotationNoopAPI] != "" || p.Labels[plan.LabelExperiment] != "" {
			t.Errorf("%s not restored by stop: %v %v", n, p.Labels, p.Annotations)
		}
	}
	if exps, _ := List(context.Background(), cs); len(exps) != 0 {
		t.Errorf("experiments left: %+v", exps)
	}
}

func TestStopRestoreFailureIsReported(t *testing.T) {
	now := time.Now()
	cs := fake.NewSimpleClientset(appPod("default", "web", nil))
	if err := inject(t, cs, "default", "web", "exp-a", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	cs.PrependReactor("patch", "pods", func(k8stesting.Action) (bool, kruntime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "web", errors.New("no patch for you"))
	})
	got, err := Stop(context.Background(), cs, nil, true, time.Second)
	if exit.Code(err) != exit.API || !strings.Contains(err.Error(), "restoring pod default/web") || len(got) != 1 || got[0].Pods[0].Error == "" {
		t.Errorf("err %v got %+v", err, got)
	}
}

func TestUnreadableRecordIsShown(t *testing.T) {
	p := appPod("default", "web", map[string]string{plan.AnnotationUndo: "{garbage"})
	p.Labels[plan.LabelExperiment] = "exp-x"
	cs := fake.NewSimpleClientset(p)
	exps, err := List(context.Background(), cs)
	if err != nil || len(exps) != 1 || len(exps[0].Pods) != 1 || !strings.Contains(exps[0].Pods[0].Error, "not an undo record") {
		t.Errorf("%v %+v", err, exps)
	}
	// gc cannot restore it: exit 3, the pod named.
	rep, err := GC(context.Background(), cs, gcOptions(time.Now()))
	if exit.Code(err) != exit.Fault || !strings.Contains(err.Error(), "pod default/web") || len(rep.Restored) != 1 || rep.Restored[0].Error == "" {
		t.Errorf("gc: %v %+v", err, rep)
	}
}
