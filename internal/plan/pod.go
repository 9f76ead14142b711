package plan

import "fmt"

// KindPod is the pod fault family, done through the Kubernetes API alone (no helper
// pod): delete a pod, or make its containers run the node's pause image for a while.
const KindPod = "pod"

// Pod actions.
const (
	PodKill    = "kill"    // delete the pod once
	PodFailure = "failure" // swap the containers' images for the pause image, then back
)

// Pod is a pod fault.
type Pod struct {
	// Action is PodKill or PodFailure.
	Action string `json:"action"`
	// GracePeriodSeconds (kill) overrides the pod's terminationGracePeriodSeconds; nil
	// keeps the pod's own. Force sets it to 0: the pod object goes at once, without
	// waiting for the kubelet to confirm the containers stopped.
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
	Force              bool   `json:"force,omitempty"`
	// Wait (kill) follows the owning controller's replacement until it is Ready.
	Wait bool `json:"wait,omitempty"`
	// PauseImage (failure) is the image the containers run during the fault; "" = the
	// pause (sandbox) image the target's node lists in its status.
	PauseImage string `json:"pauseImage,omitempty"`
	// PauseImages (failure) are the pause images of the targets' nodes (node → image),
	// read by the CLI from each node's status before anything is changed, when
	// PauseImage is "".
	PauseImages map[string]string `json:"pauseImages,omitempty"`
}

// Summary is "kill", "kill grace 5s", "kill --force" or "failure".
func (p *Pod) Summary() string {
	if p.Action != PodKill {
		return p.Action
	}
	switch {
	case p.Force:
		return "kill --force"
	case p.GracePeriodSeconds != nil:
		return fmt.Sprintf("kill grace %ds", *p.GracePeriodSeconds)
	}
	return "kill"
}
