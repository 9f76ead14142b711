package scenarios

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// TestScenarioFiles validates every scenario file and prints its whole plan against
// the fake cluster (kubectl chaos run FILE --dry-run): a renamed flag, a tightened
// validation or a target that no longer resolves breaks the build, not the game day.
// (internal/scenario checks them against the JSON Schema too.)
func TestScenarioFiles(t *testing.T) {
	t.Setenv("KUBECTL_CHAOS_CONFIG", filepath.Join(t.TempDir(), "none.yaml"))
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("want at least 4 scenario files, found %v (%v)", files, err)
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			io, _, out, errOut := ui.Test()
			f := factory.NewFake(io, cluster(), time.Now(), nil)
			root := app.NewRootCmd(f)
			root.SetArgs([]string{"run", file, "--dry-run"})
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			plan := out.String()
			if !strings.Contains(plan, "DRY RUN") || strings.Contains(plan, "resolved when the step runs") {
				t.Errorf("%s: the plan does not resolve every target:\n%s", file, plan)
			}
		})
	}
}
