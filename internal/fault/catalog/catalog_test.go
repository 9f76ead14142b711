package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// The test registers the noop kind itself (the real noop package is not imported here).
func init() {
	Register(Kind[*plan.Noop]{
		Name: plan.KindNoop,
		Validate: func(n *plan.Noop) error {
			if n.FailApply && n.FailRecover {
				return errors.New("--fail-apply and --fail-recover exclude each other")
			}
			return nil
		},
		Describe: func(n *plan.Noop) []plan.Object {
			return []plan.Object{{Kind: "noop", Spec: "nothing", Remove: "nothing"}}
		},
		Scope:      "nowhere",
		HostMounts: []HostMount{{Name: "dev-fuse", Path: "/dev/fuse", Type: corev1.HostPathCharDev}},
		Complete: func(ctx context.Context, c kubernetes.Interface, ns string, n *plan.Noop) error {
			n.FailApply = ns == "fail"
			return nil
		},
	})
}

func TestLookupAndValidate(t *testing.T) {
	if _, err := Lookup("stress"); err == nil || !strings.Contains(err.Error(), `unknown fault kind "stress"`) {
		t.Errorf("Lookup(stress) error = %v", err)
	}
	if err := Validate(plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{}}); err != nil {
		t.Errorf("Validate(noop) = %v", err)
	}
	err := Validate(plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{FailApply: true, FailRecover: true}})
	if err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Errorf("Validate(bad noop) = %v", err)
	}
	// The spec that is set must be the kind's: checked in one place, plan.Fault.Spec.
	err = Validate(plan.Fault{Kind: plan.KindNoop, Network: &plan.Network{}})
	if err == nil || !strings.Contains(err.Error(), "spec is set") {
		t.Errorf("Validate(noop kind with a network spec) = %v", err)
	}
	if err := Validate(plan.Fault{}); err == nil {
		t.Error("Validate(empty fault) = nil")
	}
}

func TestEntry(t *testing.T) {
	e, err := Lookup(plan.KindNoop)
	if err != nil {
		t.Fatal(err)
	}
	f := plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{}}
	if objs := e.Describe(f); len(objs) != 1 || objs[0].Kind != "noop" {
		t.Errorf("Describe = %v", objs)
	}
	if e.Scope() != "nowhere" || e.APIOnly() || e.Details(f) != nil {
		t.Errorf("Scope/APIOnly/Details = %q/%v/%v", e.Scope(), e.APIOnly(), e.Details(f))
	}
	if err := e.Complete(context.Background(), nil, "fail", f); err != nil || !f.Noop.FailApply {
		t.Errorf("Complete did not work on the spec: err=%v spec=%+v", err, f.Noop)
	}
	if _, err := e.Undo(nil, f); err == nil {
		t.Error("Undo on a helper-pod kind should fail")
	}
	if m := AllHostMounts(); len(m) != 1 || m[0].Path != "/dev/fuse" {
		t.Errorf("AllHostMounts = %v", m)
	}
}

func TestRegisterRefusesMistakes(t *testing.T) {
	for name, k := range map[string]Kind[*plan.Noop]{
		"twice":        {Name: plan.KindNoop, Validate: func(*plan.Noop) error { return nil }, Describe: func(*plan.Noop) []plan.Object { return nil }},
		"no field":     {Name: "nosuchkind", Validate: func(*plan.Noop) error { return nil }, Describe: func(*plan.Noop) []plan.Object { return nil }},
		"no validate":  {Name: plan.KindNetwork, Describe: func(*plan.Noop) []plan.Object { return nil }},
		"half the API": {Name: plan.KindNetwork, Validate: func(*plan.Noop) error { return nil }, Describe: func(*plan.Noop) []plan.Object { return nil }, API: &API[*plan.Noop]{}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%s) did not panic", name)
				}
			}()
			Register(k)
		})
	}
}
