package scenario

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noop"    // a fault on helpers
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noopapi" // an API-only fault
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The dry run says which of the run's helpers serves which steps: the first fault step
// that needs helpers sets their fields, a step with other ones gets its own, an API-only
// fault none, and a step whose targets do not exist yet is placed when it runs.
func TestDryRunHelperUse(t *testing.T) {
	onHelpers := func(image string) *experiment.Options {
		return &experiment.Options{Fault: plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{}}, Image: image}
	}
	apiOnly := &experiment.Options{Fault: plan.Fault{Kind: plan.KindNoopAPI, NoopAPI: &plan.NoopAPI{}}}
	on := func(nodes ...string) *experiment.Prepared {
		p := &experiment.Prepared{}
		for _, n := range nodes {
			p.Plans = append(p.Plans, &plan.Plan{Node: n})
		}
		return p
	}
	hu := &helperUse{nodes: map[string][]string{}}
	hu.add("spec.steps[0] slow", onHelpers("img:1"), on("node-b"), nil)
	hu.add("spec.steps[1] kill", apiOnly, nil, nil)
	hu.add("spec.steps[2].parallel[0] both", onHelpers("img:1"), on("node-a", "node-b"), nil)
	hu.add("spec.steps[2].parallel[1] other", onHelpers("img:2"), on("node-a"), nil)
	hu.add("spec.steps[3] replacement", onHelpers("img:1"), nil, nil)
	// A step on a node with a warm helper: that node's line is the warm helper's.
	warm := map[string]session.WarmHelper{"node-c": {Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "kubectl-chaos", Name: "warm-c",
		Annotations: map[string]string{plan.AnnotationDeadline: "2026-12-02T16:00:00Z"}}}}}
	hu.add("spec.steps[4] warm", onHelpers("img:1"), on("node-b", "node-c"), warm)
	var b bytes.Buffer
	hu.print(&b, &Scenario{Duration: 10 * time.Minute})
	want := `helpers of the run: one pod per node, created when a step first needs it, kept for the whole run (deadline 10m0s + 30s), each step's plan sent over its stdin:
  node node-b: serves spec.steps[0] slow, spec.steps[2].parallel[0] both, spec.steps[4] warm
  node node-a: serves spec.steps[2].parallel[0] both
  on the nodes of their targets when they run: spec.steps[3] replacement
  on helpers of their own (other helper-namespace, image, image-pull-policy or runtime-socket): spec.steps[2].parallel[1] other
`
	hu.warm.print(&b)
	want += `warm helpers (kubectl chaos warm) the steps would use on their nodes instead of the run's helpers (chosen again when each step runs: it must then still outlive the step's deadline by 30s):
  node node-c: warm helper kubectl-chaos/warm-c (until 2026-12-02T16:00:00Z) serves spec.steps[4] warm
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	none := &helperUse{nodes: map[string][]string{}}
	none.add("spec.steps[0] kill", apiOnly, nil, nil)
	b.Reset()
	none.print(&b, &Scenario{Duration: time.Minute})
	if strings.TrimSpace(b.String()) != "" {
		t.Errorf("a run without helpers printed %q", b.String())
	}
}
