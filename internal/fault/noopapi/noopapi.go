// Package noopapi is a hidden API-only fault that proves the engine's path without a
// helper pod, as noop proves the helper path: it sets one annotation on each target
// pod (plan.AnnotationNoopAPI) and the restore puts back what was there before. The
// change is visible (kubectl get pod -o yaml) and cheap, so the e2e suite can kill the
// CLI and check that `kubectl chaos stop` and `gc` restore the pod from its undo record.
package noopapi

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// MaxValue is the longest annotation value the fault accepts.
const MaxValue = 63

func init() {
	catalog.Register(catalog.Kind[*plan.NoopAPI]{
		Name:     plan.KindNoopAPI,
		Validate: Validate,
		Describe: Describe,
		Scope:    "one request per target pod through the API server; no helper pod",
		API: &catalog.API[*plan.NoopAPI]{
			Inject:  inject,
			Undo:    undo,
			Restore: restore,
		},
	})
}

// Validate checks --value.
func Validate(s *plan.NoopAPI) error {
	if s.Value == "" || len(s.Value) > MaxValue {
		return fmt.Errorf("--value must be 1 to %d characters, got %d", MaxValue, len(s.Value))
	}
	for _, r := range s.Value {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("--value must be printable characters, got %q", s.Value)
		}
	}
	return nil
}

// Describe is the request the fault makes and the one that undoes it.
func Describe(s *plan.NoopAPI) []plan.Object {
	return []plan.Object{{
		Kind:   "api-call",
		Spec:   fmt.Sprintf("PATCH pod (JSON merge patch): set annotation %s=%q", plan.AnnotationNoopAPI, s.Value),
		Remove: fmt.Sprintf("PATCH pod: annotation %s back to its value before the fault (removed if it had none)", plan.AnnotationNoopAPI),
	}}
}

// undoData is what restore needs: the annotation's value before the fault.
type undoData struct {
	Had      bool   `json:"had"`
	Previous string `json:"previous,omitempty"`
}

func undo(pod *corev1.Pod, _ *plan.NoopAPI) (json.RawMessage, error) {
	prev, had := pod.Annotations[plan.AnnotationNoopAPI]
	return json.Marshal(undoData{Had: had, Previous: prev})
}

func inject(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, s *plan.NoopAPI, stamp map[string]any) error {
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{plan.AnnotationNoopAPI: s.Value}}}
	return catalog.PatchPod(ctx, c, pod, catalog.MergePatch(patch, stamp))
}

func restore(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, raw json.RawMessage, unstamp map[string]any) error {
	var u undoData
	if err := json.Unmarshal(raw, &u); err != nil {
		return fmt.Errorf("noopapi: undo data %q: %w", raw, err)
	}
	var prev any // null removes the annotation
	if u.Had {
		prev = u.Previous
	}
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{plan.AnnotationNoopAPI: prev}}}
	return catalog.PatchPod(ctx, c, pod, catalog.MergePatch(patch, unstamp))
}
