package plan

import (
	"encoding/json"
	"fmt"
	"time"
)

// AnnotationUndo is the undo record an API-only fault leaves on each pod it changed,
// next to the LabelExperiment label: everything `kubectl chaos stop` and `gc` need to
// restore the pod after the CLI that changed it is gone.
const AnnotationUndo = "kubectl-chaos/undo"

// UndoRecord is the value of AnnotationUndo (JSON).
type UndoRecord struct {
	// Kind is the fault kind whose catalog entry restores the pod.
	Kind       string `json:"kind"`
	Experiment string `json:"experiment"`
	Owner      string `json:"owner,omitempty"`
	// Fault is the fault's one-line summary, for `kubectl chaos ls`.
	Fault     string    `json:"fault,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// Deadline is when the change must be gone: the CLI restores it then, and `gc`
	// restores it once it has passed.
	Deadline time.Time `json:"deadline"`
	Detached bool      `json:"detached,omitempty"`
	// Undo is the kind's own data, what its Restore needs (the kind's Undo made it).
	Undo json.RawMessage `json:"undo,omitempty"`
}

// Encode returns the record as the annotation's value.
func (r *UndoRecord) Encode() (string, error) {
	b, err := json.Marshal(r)
	return string(b), err
}

// DecodeUndo parses an undo annotation.
func DecodeUndo(s string) (*UndoRecord, error) {
	var r UndoRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("annotation %s is not an undo record: %w", AnnotationUndo, err)
	}
	if r.Kind == "" || r.Experiment == "" {
		return nil, fmt.Errorf("annotation %s names no kind or experiment: %.200q", AnnotationUndo, s)
	}
	return &r, nil
}
