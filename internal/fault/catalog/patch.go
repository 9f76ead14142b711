package catalog

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// MergePatch merges src into dst (JSON merge patch documents as maps) and returns dst:
// nested maps merge key by key, anything else in src replaces dst's value. An API kind
// builds its change and merges the engine's stamp (or unstamp) into it, so both go in
// one request.
func MergePatch(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			dst[k] = MergePatch(dm, sm)
			continue
		}
		dst[k] = v
	}
	return dst
}

// PatchPod sends patch to pod as one JSON merge patch. When the patch carries
// metadata.resourceVersion (the stamp does) the API server refuses it with a conflict
// if the pod changed since it was read.
func PatchPod(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, patch map[string]any) error {
	b, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("encoding the patch of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	_, err = c.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, b, metav1.PatchOptions{})
	return err
}
