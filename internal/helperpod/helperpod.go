// Package helperpod builds the privileged, short-lived helper pod that runs the agent on
// one node. Build is pure: same options, same pod (golden-file tests).
package helperpod

import (
	"errors"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
)

// DefaultNamespace is where helper pods live unless --helper-namespace says otherwise.
const DefaultNamespace = "kubectl-chaos"

// DefaultRuntimeSocket is the containerd socket on the node.
const DefaultRuntimeSocket = "/run/containerd/containerd.sock"

// ContainerName is the agent container's name in the helper pod.
const ContainerName = "agent"

// Options for one helper pod.
type Options struct {
	Plan            *plan.Plan // the node's plan: experiment, node, owner, deadline, targets, fault
	Namespace       string     // helper namespace
	Image           string
	ImagePullPolicy corev1.PullPolicy // default IfNotPresent
	// Grace is added to the fault duration for activeDeadlineSeconds, so the agent's
	// own deadline fires first and recovers; default 30s.
	Grace         time.Duration
	RuntimeSocket string // host path of the container runtime socket
}

// Name is the helper pod's name for an experiment and node (a valid DNS label).
func Name(experiment, node string) string { return experiment + "-" + node }

// Build returns the helper pod.
func Build(o Options) (*corev1.Pod, error) {
	return nil, errors.New("helperpod: not implemented")
}

// Namespace returns the helper namespace object, labelled for Pod Security "privileged".
func Namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{}
}
