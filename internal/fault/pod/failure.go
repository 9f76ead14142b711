package pod

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// failureUndo is the undo data of a pod failure: the image we set and each container's
// own image (and its restart count when the fault started, for the report).
type failureUndo struct {
	PauseImage string           `json:"pauseImage"`
	Containers []containerImage `json:"containers"`
}

type containerImage struct {
	Name     string `json:"name"`
	Image    string `json:"image"`
	Restarts int32  `json:"restarts"`
}

// pauseImageFor is the image the pod's containers run during the fault.
func pauseImageFor(pod *corev1.Pod, p *plan.Pod) (string, error) {
	if p.PauseImage != "" {
		return p.PauseImage, nil
	}
	if img := p.PauseImages[pod.Spec.NodeName]; img != "" {
		return img, nil
	}
	return "", fmt.Errorf("the pause image of node %q (pod %s/%s) is not known: pass --pause-image", pod.Spec.NodeName, pod.Namespace, pod.Name)
}

func undoFailure(pod *corev1.Pod, p *plan.Pod) (json.RawMessage, error) {
	img, err := pauseImageFor(pod, p)
	if err != nil {
		return nil, err
	}
	u := failureUndo{PauseImage: img}
	for _, ctr := range pod.Spec.Containers {
		if ctr.Image == img {
			return nil, fmt.Errorf("container %s of pod %s/%s already runs the pause image %s: refusing to record it as its own image", ctr.Name, pod.Namespace, pod.Name, img)
		}
		u.Containers = append(u.Containers, containerImage{Name: ctr.Name, Image: ctr.Image, Restarts: restartsOf(pod, ctr.Name)})
	}
	return json.Marshal(u)
}

func restartsOf(pod *corev1.Pod, name string) int32 {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == name {
			return s.RestartCount
		}
	}
	return 0
}

// imagesPatch is the strategic merge patch that sets the named containers' images
// (containers merge by name), merged with the engine's (un)stamp.
func imagesPatch(images map[string]string, order []string, stamp map[string]any) map[string]any {
	var ctrs []any
	for _, n := range order {
		if img, ok := images[n]; ok {
			ctrs = append(ctrs, map[string]any{"name": n, "image": img})
		}
	}
	patch := map[string]any{}
	if len(ctrs) > 0 {
		patch["spec"] = map[string]any{"containers": ctrs}
	}
	return catalog.MergePatch(patch, stamp)
}

func patchPod(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, patch map[string]any) error {
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, b, metav1.PatchOptions{})
	return err
}

// injectFailure sets every container's image to the pause image, in the request that
// carries the experiment label and the undo record.
func injectFailure(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, p *plan.Pod, stamp map[string]any) error {
	img, err := pauseImageFor(pod, p)
	if err != nil {
		return err
	}
	images := map[string]string{}
	var order []string
	for _, ctr := range pod.Spec.Containers {
		images[ctr.Name] = img
		order = append(order, ctr.Name)
	}
	return patchPod(ctx, c, pod, imagesPatch(images, order, stamp))
}

// restore puts each container that still runs the pause image back on its own image,
// in the request that removes the label and the record. A container whose image
// someone else changed meanwhile is left alone, and the error says so (after the
// restore of the others and the record's removal).
func restore(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, raw json.RawMessage, unstamp map[string]any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return patchPod(ctx, c, pod, unstamp) // a kill leaves no record; nothing else to do
	}
	var u failureUndo
	if err := json.Unmarshal(raw, &u); err != nil || u.PauseImage == "" {
		return fmt.Errorf("pod failure: undo data %.200q: %v", raw, err)
	}
	current := map[string]string{}
	for _, ctr := range pod.Spec.Containers {
		current[ctr.Name] = ctr.Image
	}
	images := map[string]string{}
	var order, foreign []string
	for _, ci := range u.Containers {
		switch cur, ok := current[ci.Name]; {
		case !ok || cur == ci.Image:
		case cur == u.PauseImage:
			images[ci.Name] = ci.Image
			order = append(order, ci.Name)
		default:
			foreign = append(foreign, fmt.Sprintf("%s (now %s, was %s)", ci.Name, cur, ci.Image))
		}
	}
	if err := patchPod(ctx, c, pod, imagesPatch(images, order, unstamp)); err != nil {
		return err
	}
	if len(foreign) > 0 {
		return fmt.Errorf("pod %s/%s: container(s) %s changed image during the fault, not by us: left as they are", pod.Namespace, pod.Name, strings.Join(foreign, ", "))
	}
	return nil
}

// checkFailure finds each target node's pause image (unless --pause-image) and says
// what the fault will do to these particular containers.
func checkFailure(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod, p *plan.Pod) ([]string, error) {
	if p.PauseImage == "" {
		if err := resolvePauseImages(ctx, c, pods, p); err != nil {
			return nil, err
		}
	}
	facts := map[string][]string{} // fact -> pods
	for _, pod := range pods {
		name := pod.Namespace + "/" + pod.Name
		img, _ := pauseImageFor(pod, p)
		for _, ctr := range pod.Spec.Containers {
			if ctr.Image == img {
				return nil, fmt.Errorf("container %s of pod %s already runs the pause image %s (another pod failure?): nothing was changed", ctr.Name, name, img)
			}
			if len(ctr.Command) > 0 {
				f := fmt.Sprintf("container %s sets its own command (%s): the pause image has no such program, so it crash-loops until restored (still a failure)", ctr.Name, ctr.Command[0])
				facts[f] = append(facts[f], name)
			}
			if ctr.ImagePullPolicy == corev1.PullAlways {
				f := fmt.Sprintf("container %s has imagePullPolicy Always: the kubelet pulls %s from its registry and may fail to (ErrImagePull: still a failure)", ctr.Name, img)
				facts[f] = append(facts[f], name)
			}
			if ctr.ReadinessProbe == nil {
				f := fmt.Sprintf("container %s has no readiness probe: the pod stays Ready (and in its Services' endpoints) while it serves nothing", ctr.Name)
				facts[f] = append(facts[f], name)
			}
		}
		if len(pod.Spec.InitContainers) > 0 {
			f := "init and sidecar containers keep their images (only the pod's containers are changed)"
			facts[f] = append(facts[f], name)
		}
	}
	notes := []string{"each image change restarts the container: every container's restart count goes up by at least 2 (to the pause image and back) and cannot be restored"}
	for _, f := range sortedKeys(facts) {
		notes = append(notes, fmt.Sprintf("%s [%s]", f, podList(facts[f])))
	}
	return notes, nil
}

func podList(pods []string) string {
	if len(pods) > 3 {
		return fmt.Sprintf("%s and %d more", strings.Join(pods[:3], ", "), len(pods)-3)
	}
	return strings.Join(pods, ", ")
}

// resolvePauseImages reads each target node's status once for its pause image.
func resolvePauseImages(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod, p *plan.Pod) error {
	if p.PauseImages == nil {
		p.PauseImages = map[string]string{}
	}
	for _, pod := range pods {
		n := pod.Spec.NodeName
		if _, done := p.PauseImages[n]; done || n == "" {
			continue
		}
		node, err := c.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsForbidden(err) {
				return fmt.Errorf("reading node %s for its pause image is not allowed (RBAC: get nodes): pass --pause-image with the nodes' sandbox image, e.g. registry.k8s.io/pause:3.10", n)
			}
			return fmt.Errorf("reading node %s for its pause image: %w (or pass --pause-image)", n, err)
		}
		img := PauseImageOf(node)
		if img == "" {
			return fmt.Errorf("node %s lists no pause image in its status (the kubelet lists at most 50 images, the largest first): pass --pause-image with its sandbox image (containerd: sandbox_image)", n)
		}
		p.PauseImages[n] = img
	}
	return nil
}

// followRestore notes the containers' restart counts and IDs before the fault; the
// returned function (called after the restore) waits until every container runs its
// own image again, in a container other than the one from before the fault (a status
// the kubelet has not updated yet still shows that one running), and reports the
// restarts the fault cost.
func followRestore(c kubernetes.Interface, pod *corev1.Pod) catalog.FollowFunc {
	before := map[string]int32{}
	images := map[string]string{}
	for _, ctr := range pod.Spec.Containers {
		before[ctr.Name] = restartsOf(pod, ctr.Name)
		images[ctr.Name] = ctr.Image
	}
	old := map[string]string{}
	for _, s := range pod.Status.ContainerStatuses {
		old[s.Name] = s.ContainerID
	}
	return func(ctx context.Context) (string, error) {
		return waitRestored(ctx, c, pod, before, images, old, time.Now())
	}
}

// waitRestored watches pod until each container runs its own image again (the status
// shows it running, and Ready where it has a readiness probe) and reports the restart
// counts against before.
func waitRestored(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, before map[string]int32, images, old map[string]string, since time.Time) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, RestoreTimeout)
	defer cancel()
	var last *corev1.Pod
	gone := false
	opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", pod.Name).String()}
	err := catalog.WatchPods(ctx, c, pod.Namespace, opts, func(p *corev1.Pod, deleted bool) bool {
		if p.UID != pod.UID {
			return false
		}
		if deleted {
			gone = true
			return true
		}
		last = p
		return backOnImages(p, images, old)
	})
	took := time.Since(since).Round(time.Millisecond)
	if gone {
		return "", fmt.Errorf("pod %s/%s was deleted before its containers ran their images again", pod.Namespace, pod.Name)
	}
	if last == nil {
		return "", fmt.Errorf("following pod %s/%s after the restore: %w", pod.Namespace, pod.Name, err)
	}
	var parts []string
	for _, ctr := range pod.Spec.Containers {
		now := restartsOf(last, ctr.Name)
		parts = append(parts, fmt.Sprintf("%s %d→%d (+%d)", ctr.Name, before[ctr.Name], now, now-before[ctr.Name]))
	}
	restarts := "restarts " + strings.Join(parts, ", ")
	if err != nil {
		return "", fmt.Errorf("containers of pod %s/%s not back on their images %s after the restore (%s): %w", pod.Namespace, pod.Name, took, restarts, err)
	}
	return fmt.Sprintf("containers back on their own images %s after the restore; %s", took, restarts), nil
}

// backOnImages reports whether every container of p runs its image from images: the
// status names it, the container runs (and is ready, where it has a readiness probe),
// and it is not the container old names (the one from before the fault).
func backOnImages(p *corev1.Pod, images, old map[string]string) bool {
	probe := map[string]bool{}
	for _, ctr := range p.Spec.Containers {
		if ctr.Image != images[ctr.Name] {
			return false
		}
		probe[ctr.Name] = ctr.ReadinessProbe != nil
	}
	n := 0
	for _, s := range p.Status.ContainerStatuses {
		want, ok := images[s.Name]
		if !ok {
			continue
		}
		if s.State.Running == nil || !sameImage(s.Image, want) || (probe[s.Name] && !s.Ready) || s.ContainerID == old[s.Name] {
			return false
		}
		n++
	}
	return n == len(images)
}

// sameImage compares a spec image with the one the status reports, which the runtime
// may have normalized ("echo:1" -> "docker.io/library/echo:1").
func sameImage(status, spec string) bool {
	return status == spec || strings.HasSuffix(status, "/"+spec)
}
