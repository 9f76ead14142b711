package scenario_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/scenario"
)

// FuzzLoad feeds the scenario parser (kubectl-chaos/v1 and Chaos Mesh files) arbitrary
// YAML: never a panic, and every refusal is a usage error that names the file and a
// line (an *scenario.Error), as `kubectl chaos run` promises. The seeds are the
// shipped scenarios and the Chaos Mesh examples. This target's test binary holds the
// whole command tree (the fault steps are checked by their verbs), so its instrumented
// build is the long one of make fuzz; the build cache keeps it for the next run.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"../../scenarios/*.yaml", "testdata/chaosmesh/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(b))
		}
	}
	f.Add("apiVersion: kubectl-chaos/v1\nkind: Scenario\nmetadata: {name: x}\nspec:\n  steps: [{verb: network delay, latency: ${a}}]\n")
	f.Add("apiVersion: chaos-mesh.org/v1alpha1\nkind: Workflow\nspec: {entry: a, templates: [{name: a, templateType: Serial, children: [a]}]}\n")
	v := verbs(f)
	f.Fuzz(func(t *testing.T, text string) {
		_, err := scenario.Load(context.Background(), "fuzz.yaml", []byte(text), nil, v)
		if err == nil {
			return
		}
		var se *scenario.Error
		if exit.Code(err) != exit.Usage || !errors.As(err, &se) || se.File != "fuzz.yaml" || se.Line < 1 {
			t.Errorf("Load refused with %T %v (exit %d), want a usage *scenario.Error naming fuzz.yaml and a line", err, err, exit.Code(err))
		}
	})
}
