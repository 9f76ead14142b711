package container

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// RestartTimeout bounds how long `container kill` watches for the container's restart.
// The kubelet restarts a container that exited within a second or two, unless it is in
// CrashLoopBackOff (10 s doubling up to 5 min).
const RestartTimeout = 30 * time.Second

// follow notes the killed container's restart count before the signal; the returned
// function waits until the kubelet restarted it and reports the count before and after.
func follow(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, container string, s *plan.Container) (catalog.FollowFunc, error) {
	if s.Action != plan.ContainerKill {
		return nil, nil
	}
	before, id := restartCount(pod, container)
	start := time.Now()
	return func(ctx context.Context) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, RestartTimeout)
		defer cancel()
		after := before
		opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String()}
		err := catalog.WatchPods(ctx, c, pod.Namespace, opts, func(p *corev1.Pod, deleted bool) bool {
			if p.UID != pod.UID || deleted {
				return deleted
			}
			n, cid := restartCount(p, container)
			after = n
			return n > before && cid != id
		})
		took := time.Since(start).Round(time.Millisecond)
		if after > before {
			return fmt.Sprintf("container %s restarted: restart count %d → %d (seen %s after the command started)", container, before, after, took), nil
		}
		return fmt.Sprintf("container %s was not restarted: restart count still %d %s after the command started "+
			"(the process did not exit, see the events above, or the kubelet holds it in back-off) (%v)", container, before, took, err), nil
	}, nil
}

// restartCount is the container's restart count and current container ID.
func restartCount(pod *corev1.Pod, container string) (int32, string) {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == container {
			return s.RestartCount, s.ContainerID
		}
	}
	return 0, ""
}
