package pod

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// checkKill refuses --wait for a pod nobody would replace, and says which pods have no
// controller at all.
func checkKill(pods []*corev1.Pod, p *plan.Pod) ([]string, error) {
	var orphans []string
	for _, pod := range pods {
		if metav1.GetControllerOf(pod) == nil {
			orphans = append(orphans, pod.Namespace+"/"+pod.Name)
		}
	}
	if len(orphans) == 0 {
		return nil, nil
	}
	if p.Wait {
		return nil, fmt.Errorf("--wait: pod %s has no controller (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job) to replace it; drop --wait to delete it anyway",
			strings.Join(orphans, ", "))
	}
	return []string{fmt.Sprintf("pod %s has no controller: nothing recreates it", strings.Join(orphans, ", "))}, nil
}

// injectKill deletes the pod it read (UID precondition: never a namesake that replaced
// it), with the spec's grace period.
func injectKill(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, p *plan.Pod) error {
	uid := pod.UID
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
	if p.Force {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	} else if p.GracePeriodSeconds != nil {
		opts.GracePeriodSeconds = p.GracePeriodSeconds
	}
	err := c.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("pod %s/%s was already gone", pod.Namespace, pod.Name)
	case apierrors.IsConflict(err):
		// Not wrapped: a conflict would make the engine re-read the pod by name and
		// delete the replacement, which nobody asked for.
		return fmt.Errorf("pod %s/%s was replaced (new UID) since it was read: not deleted (%v)", pod.Namespace, pod.Name, err)
	}
	return fmt.Errorf("deleting pod %s/%s: %w", pod.Namespace, pod.Name, err)
}

// revisionLabels change between a controller's revisions; a replacement may carry
// other values, so they are left out of the selector that finds it.
var revisionLabels = []string{"controller-revision-hash", "pod-template-generation"}

// followReplacement notes the pods the killed pod's controller has now; the returned
// function waits for a new one, owned by the same controller, to be Ready.
func followReplacement(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod) (catalog.FollowFunc, error) {
	ctrl := metav1.GetControllerOf(pod)
	if ctrl == nil {
		return nil, nil // checkKill refused --wait for it
	}
	set := labels.Set{}
	for k, v := range pod.Labels {
		set[k] = v
	}
	for _, k := range revisionLabels {
		delete(set, k)
	}
	opts := metav1.ListOptions{LabelSelector: set.AsSelector().String()}
	list, err := c.CoreV1().Pods(pod.Namespace).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing the pods of %s %s before the kill: %w", ctrl.Kind, ctrl.Name, err)
	}
	before := map[types.UID]bool{pod.UID: true}
	for _, p := range list.Items {
		before[p.UID] = true
	}
	start := time.Now()
	return func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, ReplacementTimeout)
		defer cancel()
		var found *corev1.Pod
		seen := ""
		err := catalog.WatchPods(ctx, c, pod.Namespace, opts, func(p *corev1.Pod, deleted bool) bool {
			if deleted || before[p.UID] || !ownedBy(p, ctrl.UID) {
				return false
			}
			seen = p.Name
			if podReady(p) {
				found = p
				return true
			}
			return false
		})
		took := time.Since(start).Round(time.Millisecond)
		owner := strings.ToLower(ctrl.Kind) + "/" + ctrl.Name
		switch {
		case found != nil:
			return fmt.Sprintf("replacement %s/%s (from %s) Ready %s after the delete", found.Namespace, found.Name, owner, took), nil
		case seen != "":
			return "", fmt.Errorf("replacement %s/%s (from %s) not Ready %s after the delete: %w", pod.Namespace, seen, owner, took, err)
		}
		return "", fmt.Errorf("no replacement from %s %s after the delete: %w", owner, took, err)
	}, nil
}

func ownedBy(p *corev1.Pod, uid types.UID) bool {
	c := metav1.GetControllerOf(p)
	return c != nil && c.UID == uid
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// inject applies the action to one pod; stamp goes in the same request (pod failure)
// or is ignored (pod kill leaves no pod to record anything on).
func inject(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, p *plan.Pod, stamp map[string]any) error {
	if p.Action == plan.PodKill {
		return injectKill(ctx, c, pod, p)
	}
	return injectFailure(ctx, c, pod, p, stamp)
}

// undo is what restore needs: nothing for a kill, the original images for a failure.
func undo(pod *corev1.Pod, p *plan.Pod) (json.RawMessage, error) {
	if p.Action == plan.PodKill {
		return nil, nil
	}
	return undoFailure(pod, p)
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
