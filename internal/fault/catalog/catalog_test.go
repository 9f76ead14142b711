package catalog

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// TestEntryOptionalSteps: OneShot, NoDetach, Check and Follow are per spec and absent
// steps are harmless.
func TestEntryOptionalSteps(t *testing.T) {
	e, err := Lookup(plan.KindNoop)
	if err != nil {
		t.Fatal(err)
	}
	f := plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{}}
	if e.OneShot(f) || e.NoDetach(f) != "" || e.Follows() {
		t.Errorf("noop: OneShot %v NoDetach %q Follows %v", e.OneShot(f), e.NoDetach(f), e.Follows())
	}
	if notes, err := e.Check(context.Background(), nil, nil, f); notes != nil || err != nil {
		t.Errorf("Check without a step: %v %v", notes, err)
	}
	if ff, err := e.Follow(context.Background(), nil, nil, "c", f); ff != nil || err != nil {
		t.Errorf("Follow without a step: %v", err)
	}

	type spec = plan.Network
	if _, err := Lookup(plan.KindNetwork); err == nil {
		t.Skip("network already registered (test run twice)")
	}
	Register(Kind[*spec]{
		Name:     plan.KindNetwork,
		Validate: func(*spec) error { return nil },
		Describe: func(*spec) []plan.Object { return nil },
		OneShot:  func(s *spec) bool { return s.Loss != nil },
		NoDetach: func(s *spec) string {
			if s.Delay != nil {
				return "no"
			}
			return ""
		},
		Check: func(_ context.Context, _ kubernetes.Interface, pods []*corev1.Pod, s *spec) ([]string, error) {
			s.DelayBackend = "checked"
			return []string{"note"}, nil
		},
		Follow: func(_ context.Context, _ kubernetes.Interface, p *corev1.Pod, c string, s *spec) (FollowFunc, error) {
			return func(context.Context) (string, error) { return p.Name + "/" + c, nil }, nil
		},
	})
	n, _ := Lookup(plan.KindNetwork)
	loss := plan.Fault{Kind: plan.KindNetwork, Network: &plan.Network{Loss: &plan.Percent{Percent: 1}}}
	delay := plan.Fault{Kind: plan.KindNetwork, Network: &plan.Network{Delay: &plan.Delay{}}}
	if !n.OneShot(loss) || n.OneShot(delay) || n.NoDetach(loss) != "" || n.NoDetach(delay) != "no" || !n.Follows() {
		t.Errorf("per-spec answers wrong")
	}
	if notes, err := n.Check(context.Background(), nil, nil, loss); err != nil || len(notes) != 1 || loss.Network.DelayBackend != "checked" {
		t.Errorf("Check: %v %v %+v", notes, err, loss.Network)
	}
	ff, _ := n.Follow(context.Background(), nil, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, "c", loss)
	if l, _ := ff(context.Background()); l != "p/c" {
		t.Errorf("Follow line %q", l)
	}
}
