package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// An API-only fault (a catalog kind with API set) changes target pods through the API
// and needs no helper pod. Each changed pod carries the experiment label and the undo
// record (plan.AnnotationUndo), put there in the same request as the change and taken
// away in the same request as the restore: a pod is never changed without the record
// that restores it. ls, stop and gc find such pods with the label selector and restore
// them from the record alone.

// conflictRetries bounds re-reading a pod that changed between our read and our patch.
const conflictRetries = 5

// ChangedPod is a pod an API-only fault changed, as found by its label and record.
type ChangedPod struct {
	Namespace string    `json:"namespace"`
	Pod       string    `json:"pod"`
	Node      string    `json:"node,omitempty"`
	Kind      string    `json:"kind"`
	Deadline  time.Time `json:"deadline"`
	// Restored is set by stop and gc once the pod is restored.
	Restored bool   `json:"restored,omitempty"`
	Error    string `json:"error,omitempty"`
}

// UndoRecordOf returns the undo record on pod, nil if it has none. A record that does
// not parse is an error: the pod was changed by us but cannot be restored automatically.
func UndoRecordOf(pod *corev1.Pod) (*plan.UndoRecord, error) {
	v, ok := pod.Annotations[plan.AnnotationUndo]
	if !ok {
		return nil, nil
	}
	r, err := plan.DecodeUndo(v)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return r, nil
}

// Stamp is the metadata patch that goes with an API-only fault's change: the
// experiment label and the undo record, with the pod's resourceVersion so the request
// fails (conflict) if the pod changed since it was read.
func Stamp(pod *corev1.Pod, rec *plan.UndoRecord) (map[string]any, error) {
	v, err := rec.Encode()
	if err != nil {
		return nil, fmt.Errorf("encoding the undo record of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return map[string]any{"metadata": map[string]any{
		"resourceVersion": pod.ResourceVersion,
		"labels":          map[string]any{plan.LabelExperiment: rec.Experiment},
		"annotations":     map[string]any{plan.AnnotationUndo: v},
	}}, nil
}

// Unstamp is the metadata patch that goes with a restore: it removes the label and
// the record, again conditional on the pod's resourceVersion.
func Unstamp(pod *corev1.Pod) map[string]any {
	return map[string]any{"metadata": map[string]any{
		"resourceVersion": pod.ResourceVersion,
		"labels":          map[string]any{plan.LabelExperiment: nil},
		"annotations":     map[string]any{plan.AnnotationUndo: nil},
	}}
}

// TakenError is the refusal to change a pod that carries another experiment's record.
type TakenError struct {
	Pod    string
	Record *plan.UndoRecord
}

func (e *TakenError) Error() string {
	return fmt.Sprintf("pod %s is already changed by experiment %s (%s, owner %s, until %s): stop it first with `kubectl chaos stop %s`",
		e.Pod, e.Record.Experiment, e.Record.Kind, e.Record.Owner, e.Record.Deadline.Format(time.RFC3339), e.Record.Experiment)
}

// CheckFree returns a *TakenError if pod carries an undo record of an experiment other
// than id.
func CheckFree(pod *corev1.Pod, id string) error {
	rec, err := UndoRecordOf(pod)
	if err != nil {
		return err
	}
	if rec != nil && rec.Experiment != id {
		return &TakenError{Pod: pod.Namespace + "/" + pod.Name, Record: rec}
	}
	return nil
}

// InjectPod applies the API-only fault f to pod in one request that also carries the
// label and the undo record rec (its Undo is filled in from the kind). If the pod
// changed since it was read, it is read again and checked again. It refuses a pod that
// carries another experiment's record (*TakenError).
func InjectPod(ctx context.Context, c kubernetes.Interface, e *catalog.Entry, f plan.Fault, pod *corev1.Pod, rec plan.UndoRecord) error {
	for attempt := 0; ; attempt++ {
		if err := CheckFree(pod, rec.Experiment); err != nil {
			return err
		}
		undo, err := e.Undo(pod, f)
		if err != nil {
			return fmt.Errorf("recording how to undo %s on pod %s/%s: %w", f.Kind, pod.Namespace, pod.Name, err)
		}
		rec.Undo = undo
		stamp, err := Stamp(pod, &rec)
		if err != nil {
			return err
		}
		err = e.Inject(ctx, c, pod, f, stamp)
		if !apierrors.IsConflict(err) || attempt >= conflictRetries {
			return err
		}
		if pod, err = c.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
}

// RestorePod undoes experiment id's API-only fault on pod from the undo record on the
// pod alone, in one request that also removes the label and the record (re-reading the
// pod if it changed meanwhile). restored is false when there was nothing to restore:
// the pod carries no record of id (restored already by someone else) or is gone.
func RestorePod(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, id string) (restored bool, err error) {
	for attempt := 0; ; attempt++ {
		rec, err := UndoRecordOf(pod)
		if err != nil {
			return false, err
		}
		if rec == nil || rec.Experiment != id {
			return false, nil
		}
		e, err := catalog.Lookup(rec.Kind)
		if err != nil {
			return false, fmt.Errorf("pod %s/%s: its undo record names fault kind %q, which this kubectl-chaos cannot restore: %w", pod.Namespace, pod.Name, rec.Kind, err)
		}
		err = e.Restore(ctx, c, pod, rec.Undo, Unstamp(pod))
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsNotFound(err):
			return false, nil
		case !apierrors.IsConflict(err) || attempt >= conflictRetries:
			return false, fmt.Errorf("restoring pod %s/%s (experiment %s, %s): %w", pod.Namespace, pod.Name, id, rec.Kind, err)
		}
		pod, err = c.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// changedPod describes a pod that carries an undo record.
func changedPod(p *corev1.Pod, rec *plan.UndoRecord) ChangedPod {
	return ChangedPod{Namespace: p.Namespace, Pod: p.Name, Node: p.Spec.NodeName, Kind: rec.Kind, Deadline: rec.Deadline}
}

// restoreAll restores the changed pods (experiment from each record) and returns them
// with Restored/Error set; the error joins the failures.
func restoreAll(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod) ([]ChangedPod, error) {
	var out []ChangedPod
	var errs []error
	for _, p := range pods {
		rec, err := UndoRecordOf(p)
		if rec == nil {
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		cp := changedPod(p, rec)
		ok, err := RestorePod(ctx, c, p, rec.Experiment)
		cp.Restored = ok
		if err != nil {
			cp.Error = err.Error()
			errs = append(errs, err)
		}
		out = append(out, cp)
	}
	return out, errors.Join(errs...)
}

// RestoreByName reads pod namespace/name and restores experiment id's change on it (see
// RestorePod); a pod that is gone has nothing to restore.
func RestoreByName(ctx context.Context, c kubernetes.Interface, namespace, name, id string) (restored bool, err error) {
	pod, err := c.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading pod %s/%s to restore it: %w", namespace, name, err)
	}
	return RestorePod(ctx, c, pod, id)
}

// WaitUnlabelled blocks until none of the pods keys (namespace/name, all in namespace
// ns) carries experiment id's label any more — restored by someone else, or deleted —
// and returns nil; or returns ctx's (or the watch's) error.
func WaitUnlabelled(ctx context.Context, c kubernetes.Interface, ns, id string, keys []string) error {
	left := map[string]bool{}
	for _, k := range keys {
		left[k] = true
	}
	sel := labels.Set{plan.LabelExperiment: id}.AsSelector()
	return watchPodsUntil(ctx, c, ns, sel,
		func(exists func(string) bool) bool {
			for k := range left {
				if !exists(k) {
					delete(left, k)
				}
			}
			return len(left) == 0
		},
		func(p *corev1.Pod, deleted bool) bool {
			if deleted {
				delete(left, p.Namespace+"/"+p.Name)
			}
			return len(left) == 0
		})
}
