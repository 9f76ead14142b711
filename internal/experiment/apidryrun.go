package experiment

import (
	"fmt"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// apiDryRun completes the dry run of an API-only fault: the stamp that goes in the
// same request as the kind's change, and how such a fault ends.
func apiDryRun(d *DryRun) {
	d.APIOnly = true
	if d.OneShot {
		d.Teardown = []string{
			"nothing to undo: the change is complete once the API server accepted it, so nothing waits for --duration and no label or undo record is left on any pod",
			"a pod's controller (ReplicaSet, StatefulSet, DaemonSet, Job) replaces it; a pod without one stays gone",
		}
		return
	}
	d.Objects = append(d.Objects, plan.Object{
		Kind: "api-call",
		Spec: fmt.Sprintf("in the same request: label %s=%s and annotation %s (kind, experiment, owner, deadline, what to restore)",
			plan.LabelExperiment, d.Experiment, plan.AnnotationUndo),
		Remove: "the restore request removes both, and is conditional on the pod's resourceVersion (re-read and retried on a conflict)",
	})
	d.Teardown = apiTeardown(d.Experiment)
	if d.NoDetach != "" {
		d.Teardown[len(d.Teardown)-1] = "--detach is refused: " + d.NoDetach
	}
}

func apiTeardown(id string) []string {
	return []string{
		"this command restores every changed pod when --duration ends, on Ctrl-C/SIGTERM, or at once when `kubectl chaos stop " + id + "` restored them from elsewhere",
		"each changed pod carries the label " + plan.LabelExperiment + "=" + id + " and its undo record (annotation " + plan.AnnotationUndo + "): `kubectl chaos stop " + id + "` restores it at any time, and `kubectl chaos gc` once its deadline has passed, from the record alone, even after this command was killed",
		"with --detach nothing restores it at the deadline by itself: run `kubectl chaos stop " + id + "` or `kubectl chaos gc` (a pod that carries another experiment's record is refused)",
	}
}
