package scenario_test

import (
	"context"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/scenario"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// verbs is the real command tree's fault verbs over a fake factory.
func verbs(t testing.TB) *scenario.Verbs {
	t.Helper()
	t.Setenv("KUBECTL_CHAOS_CONFIG", t.TempDir()+"/none.yaml")
	io, _, _, _ := ui.Test()
	f := factory.NewFake(io, nil, time.Now(), nil)
	return scenario.NewVerbs(func() *cobra.Command { return app.NewRootCmd(f) })
}

func load(t testing.TB, file, text string, set map[string]string) (*scenario.Scenario, error) {
	t.Helper()
	return scenario.Load(context.Background(), file, []byte(text), set, verbs(t))
}

func TestVerbsAreTheFaultCommands(t *testing.T) {
	v := verbs(t)
	names := v.Names(true)
	t.Logf("verbs: %v", names)
	for _, want := range []string{"network delay", "network partition", "pod kill", "stress cpu", "io latency", "time shift", "container kill"} {
		vb, ok := v.Get(want)
		if !ok {
			t.Errorf("verb %q missing from %v", want, names)
			continue
		}
		if _, ok := vb.Field("duration"); !ok && want != "pod kill" {
			t.Errorf("%s has no duration field: %+v", want, vb.Fields)
		}
		for _, f := range vb.Fields {
			if f.Name == "dry-run" || f.Name == "output" || f.Name == "verb" || f.Name == "targets" || f.Name == "namespace" {
				t.Errorf("%s: field %q collides with a run-level or reserved key", want, f.Name)
			}
		}
	}
	d, _ := v.Get("network delay")
	if f, ok := d.Field("latency"); !ok || !f.Required || f.Type != "duration" {
		t.Errorf("network delay latency = %+v", f)
	}
}
