package scenario

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// Warm helpers in a scenario (docs/scenarios.md, "Warm helpers"): a fault step uses
// its owner's warm helpers (kubectl chaos warm) on the nodes that have one, as a fault
// verb does, and the run's helpers on the others; `warm: false` on a step, or
// `kubectl chaos run --warm=false`, keeps it on the run's helpers.

// NoWarm turns warm helpers off for every fault step (kubectl chaos run --warm=false).
func (s *Scenario) NoWarm() {
	forFaults(s.Steps, func(fs *FaultStep) { fs.Options.Warm = false })
}

func forFaults(steps []*Step, fn func(*FaultStep)) {
	for _, st := range steps {
		switch {
		case st.Fault != nil && st.Fault.Options != nil:
			fn(st.Fault)
		case st.Parallel != nil:
			forFaults(st.Parallel, fn)
		case st.Serial != nil:
			forFaults(st.Serial, fn)
		}
	}
}

// warmUse is, over a dry run, which warm helper would serve which steps.
type warmUse struct {
	pods  map[string]session.WarmHelper // node -> its warm helper
	steps map[string][]string           // node -> the steps it would serve
	order []string
}

func (wu *warmUse) add(step string, warm map[string]session.WarmHelper) {
	nodes := make([]string, 0, len(warm))
	for n := range warm {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		if wu.pods == nil {
			wu.pods, wu.steps = map[string]session.WarmHelper{}, map[string][]string{}
		}
		if _, seen := wu.steps[n]; !seen {
			wu.order = append(wu.order, n)
		}
		wu.pods[n] = warm[n] // the latest step's pick (the latest deadline)
		wu.steps[n] = append(wu.steps[n], step)
	}
}

func (wu *warmUse) print(w io.Writer) {
	if len(wu.order) == 0 {
		return
	}
	fmt.Fprintf(w, "warm helpers (kubectl chaos warm) the steps would use on their nodes instead of the run's helpers (chosen again when each step runs: it must then still outlive the step's deadline by %s):\n", experiment.WarmMargin)
	for _, n := range wu.order {
		wh := wu.pods[n]
		fmt.Fprintf(w, "  node %s: warm helper %s/%s (until %s) serves %s\n", n, wh.Pod.Namespace, wh.Pod.Name,
			wh.Pod.Annotations[plan.AnnotationDeadline], strings.Join(wu.steps[n], ", "))
	}
}
