package warm

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	"github.com/kubectl-chaos/kubectl-chaos/internal/warmkeys"
)

// TestValidate: bad input is refused naming the flag and the range, before anything.
func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // "" = accepted
	}{
		{[]string{"deploy/web"}, ""},
		{[]string{"--node", "n1", "--for", "2h"}, ""},
		{[]string{"--stop"}, ""},
		{[]string{}, "give targets"},
		{[]string{"deploy/web", "--for", "30s"}, "--for must be between 1m0s and 12h0m0s"},
		{[]string{"deploy/web", "--for", "13h"}, "--for must be between"},
		{[]string{"deploy/web", "--node", "n1"}, "not both"},
		{[]string{"--stop", "--node", "n1"}, "--stop takes no targets"},
		{[]string{"--node", "n1", "-o", "xml"}, "xml"},
		{[]string{"--node", "n1", "--helper-namespace", "Bad_NS"}, "--helper-namespace"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			streams, _, _, _ := ui.Test()
			f := factory.NewFake(streams, nil, time.Now(), nil)
			var got *Options
			cmd := NewCmdWarm(f, func(o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err %v, want one saying %q", err, tt.want)
			case tt.want != "" && got != nil:
				t.Fatal("the run was called after a refusal")
			}
			if tt.want == "" && got.For <= 0 {
				t.Fatal("--for not set")
			}
		})
	}
}

// TestDryRunAndStop: --dry-run creates nothing; --stop deletes only the owner's warm
// helpers and forgets their keys.
func TestDryRunAndStop(t *testing.T) {
	warmPod := func(name, owner string, warm bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kubectl-chaos", UID: types.UID("uid-" + name),
			Labels:      map[string]string{plan.LabelManagedBy: plan.ManagedByValue},
			Annotations: map[string]string{plan.AnnotationOwner: owner}}}
		if warm {
			p.Labels[plan.LabelWarm] = "true"
		}
		return p
	}
	c := fake.NewSimpleClientset(warmPod("mine", "tester@fake", true), warmPod("theirs", "other@x", true), warmPod("run", "tester@fake", false))
	streams, _, out, _ := ui.Test()
	f := factory.NewFake(streams, c, time.Now(), nil)
	dir := t.TempDir()
	keys := warmkeys.Store{Dir: dir, Cluster: "c"}
	if err := keys.Put(warmkeys.Entry{UID: "uid-mine", Key: "k", Deadline: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		var o *Options
		cmd := NewCmdWarm(f, func(opts *Options) error {
			o = opts
			o.Keys = func() warmkeys.Store { return keys }
			if o.Stop {
				return stopRun(context.Background(), o)
			}
			return warmRun(context.Background(), o)
		})
		cmd.SetArgs(args)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	c.ClearActions()
	run("--node", "n1", "--node", "n2", "--dry-run", "-o", "json")
	for _, a := range c.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" {
			t.Fatalf("--dry-run did %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	var planned []Helper
	if err := json.Unmarshal(out.Bytes(), &planned); err != nil || len(planned) != 2 || planned[0].Node != "n1" {
		t.Fatalf("dry-run output %q (%v)", out, err)
	}
	run("--stop")
	left, _ := c.CoreV1().Pods("kubectl-chaos").List(context.Background(), metav1.ListOptions{})
	var names []string
	for _, p := range left.Items {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "run,theirs" {
		t.Fatalf("after --stop: pods %v, want the run's and the other owner's", names)
	}
	if _, ok := keys.Get("uid-mine"); ok {
		t.Fatal("--stop kept the stopped helper's key")
	}
}
