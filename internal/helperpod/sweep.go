package helperpod

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// SweepDeadline is the activeDeadlineSeconds of a sweep pod: a sweep reads a few files
// and removes a few kernel objects; the bound only matters when the node cannot run it.
const SweepDeadline = 90 * time.Second

// SweepFault is the fault annotation of a sweep pod, what `kubectl chaos ls` shows.
const SweepFault = "journal sweep (kubectl chaos gc)"

// SweepCommand is what a sweep pod's container runs.
var SweepCommand = []string{"/kubectl-chaos", "agent", "--sweep-only"}

// ProbeFault is the fault annotation of a probe pod (kubectl chaos doctor).
const ProbeFault = "node probe (kubectl chaos doctor)"

// ProbeCommand is what a probe pod's container runs: it writes a doctor.Report as its
// termination message and removes nothing.
var ProbeCommand = []string{"/kubectl-chaos", "agent", "--probe"}

// SweepOptions for one sweep-only helper pod, which `kubectl chaos gc` starts on a node
// to recover the journals of experiments whose agent is gone. It needs no plan.
type SweepOptions struct {
	// ID names the gc run (label kubectl-chaos/experiment, so ls and gc see the pod).
	ID      string
	Node    string
	Owner   string
	Created time.Time
	// Deadline bounds the pod (activeDeadlineSeconds); default SweepDeadline.
	Deadline        time.Duration
	Namespace       string
	Image           string
	ImagePullPolicy corev1.PullPolicy
	RuntimeSocket   string
	JournalDir      string // default plan.DefaultJournalDir
	// Probe makes it a probe pod (kubectl chaos doctor) instead: same pod, ProbeCommand.
	Probe bool
}

// BuildSweep returns the sweep pod for one node: the same privileged, hostPID,
// node-bound pod as a session's helper, with every kind's host mounts (it may have to
// recover any kind's journal), no stdin, restartPolicy Never (gc reports a failure
// instead of retrying), and the sweep's JSON result in its termination message (the
// log's tail if the agent died before writing it).
func BuildSweep(o SweepOptions) (*corev1.Pod, error) {
	switch {
	case o.ID == "":
		return nil, errors.New("sweep pod: the gc run's ID is empty")
	case o.Node == "":
		return nil, fmt.Errorf("sweep pod %s: the node is empty", o.ID)
	case o.Created.IsZero():
		return nil, fmt.Errorf("sweep pod %s: the creation time is not set", o.ID)
	case o.Deadline < 0:
		return nil, fmt.Errorf("sweep pod %s: deadline %s is negative", o.ID, o.Deadline)
	}
	sk, err := place(o.ID, o.Node, o.Namespace, o.Image, o.ImagePullPolicy, o.RuntimeSocket, o.JournalDir)
	if err != nil {
		return nil, err
	}
	deadline := o.Deadline
	if deadline == 0 {
		deadline = SweepDeadline
	}
	sk.mounts = catalog.AllHostMounts()
	sk.deadline = int64(math.Ceil(deadline.Seconds()))
	sk.annotations = map[string]string{
		plan.AnnotationDeadline:  o.Created.Add(deadline).UTC().Format(time.RFC3339),
		plan.AnnotationFault:     SweepFault,
		plan.AnnotationDetached:  strconv.FormatBool(true),
		plan.AnnotationStartedAt: o.Created.UTC().Format(time.RFC3339),
	}
	sk.owner = o.Owner
	pod := sk.pod()
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	c := &pod.Spec.Containers[0]
	c.Command = SweepCommand
	c.Args = []string{"--journal-dir", sk.journal}
	if o.Probe {
		pod.Annotations[plan.AnnotationFault] = ProbeFault
		c.Command, c.Args = ProbeCommand, []string{"--runtime-socket", sk.socket}
	}
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	return pod, nil
}
