// Package session runs one experiment against the cluster: it creates the helper pods,
// waits for them with a watch, attaches to each agent's stdin/stdout through the API
// server, streams the agent's events, stops every helper on Ctrl-C, collects each
// one's result from its termination message, and deletes the pods.
package session

import (
	"context"
	"io"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// Attacher connects to the stdin/stdout of a helper's agent container. Attach returns
// when the stream ends (the agent exited, the pod went away, or ctx was cancelled).
type Attacher interface {
	Attach(ctx context.Context, namespace, pod, container string, stdin io.Reader, stdout io.Writer) error
}

// Options for Run.
type Options struct {
	Client    kubernetes.Interface
	Attacher  Attacher
	Namespace string           // helper namespace (EnsureNamespace is the caller's job)
	Pods      []*corev1.Pod    // one per node, from helperpod.Build
	Detach    bool             // create and return at once
	Events    func(plan.Event) // each agent event as it arrives (nil: drop)
	Progress  io.Writer        // human progress lines (stderr); nil: none
	// StopTimeout bounds the wait for results after a stop, and again the wait for the
	// deleted pods to go; default 20s.
	StopTimeout time.Duration
	// ReadyTimeout bounds the wait for helpers to start; default 2m.
	ReadyTimeout time.Duration
	// HeartbeatInterval is how often the CLI writes a heartbeat line on each stdin; default 2s.
	HeartbeatInterval time.Duration
	// WaitCleanup: after every agent confirmed its recovery and the helper pods'
	// deletion was accepted, also wait until the pods are gone (--wait-cleanup). Without
	// it Run returns then and the pods terminate in the background (ls and gc see them).
	WaitCleanup bool
	// StopNode takes node names whose helper to stop now while the others run on (the
	// live view's stop key); nil: none.
	StopNode <-chan string
}

// Report is the outcome of an experiment, printed as the final report.
type Report struct {
	Experiment string       `json:"experiment"`
	Fault      string       `json:"fault"`
	Reason     string       `json:"reason"` // completed|interrupted|failed|detached
	StartedAt  time.Time    `json:"startedAt"`
	EndedAt    time.Time    `json:"endedAt"`
	Nodes      []NodeReport `json:"nodes"`
	// Followed is what the fault set off on each target, watched for the report (a
	// killed pod's replacement Ready, a restart count, restored containers running).
	Followed []Followed `json:"followed,omitempty"`
}

// Followed is one target's follow-up line: Message when it was seen, Error when it
// was not (within the kind's bound, or the user stopped waiting).
type Followed struct {
	Target  string `json:"target"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// NodeReport is one helper's outcome.
type NodeReport struct {
	Node   string       `json:"node"`
	Pod    string       `json:"pod"`
	Result *plan.Result `json:"result,omitempty"`
	Error  string       `json:"error,omitempty"`
	// InjectLatency: session start -> the agent's injected event. RecoverLatency: stop
	// request (or deadline) -> the agent's recovered event.
	InjectLatency  plan.Duration `json:"injectLatency,omitempty"`
	RecoverLatency plan.Duration `json:"recoverLatency,omitempty"`
	Restarts       int32         `json:"restarts,omitempty"`
}

// Run runs the experiment until it ends (deadline), ctx is cancelled (Ctrl-C: stop
// everything, collect results, delete the pods; cleanup never uses ctx), or, with
// Detach, at once. The error maps to the exit code (internal/exit): nil on success,
// InterruptedError after a clean stop, FaultError if any target failed, APIError for
// cluster errors.
func Run(ctx context.Context, o Options) (*Report, error) {
	return run(ctx, o)
}

// EnsureNamespace creates the helper namespace with the Pod Security "privileged" labels
// if it does not exist; a clear error if the user may not.
func EnsureNamespace(ctx context.Context, c kubernetes.Interface, ns *corev1.Namespace) error {
	return ensureNamespace(ctx, c, ns)
}

// Experiment is one experiment found in the cluster by its label: on its helper pods,
// or, for an API-only fault, on the pods it changed.
type Experiment struct {
	ID       string        `json:"id"`
	Owner    string        `json:"owner,omitempty"`
	Fault    string        `json:"fault,omitempty"`
	Detached bool          `json:"detached"`
	Deadline time.Time     `json:"deadline"`
	Helpers  []HelperState `json:"helpers"`
	// Pods are the pods an API-only fault changed (they carry its undo record).
	Pods []ChangedPod `json:"pods,omitempty"`
	// State is where it stands (StateActive, StateEnded, StateNeedsGC) and How says
	// how it ended or what gc has to do; set by Assess.
	State string `json:"state,omitempty"`
	How   string `json:"how,omitempty"`
	// Warm is set for a warm experiment (kubectl chaos warm): until when its helpers
	// stay warm and the steps they serve now (none: idle); set by Assess.
	Warm *WarmState `json:"warm,omitempty"`
}

// HelperState is one helper pod of an experiment.
type HelperState struct {
	Namespace string       `json:"namespace"`
	Pod       string       `json:"pod"`
	Node      string       `json:"node"`
	Phase     string       `json:"phase"`
	Restarts  int32        `json:"restarts"`
	Result    *plan.Result `json:"result,omitempty"`
	// Terminated: the current agent container has exited (Result is then its own).
	Terminated bool `json:"terminated,omitempty"`
	// PodReason is the pod's status reason (DeadlineExceeded, Evicted).
	PodReason string `json:"podReason,omitempty"`
	// Deleting: the pod is being deleted (the agent recovers on SIGTERM).
	Deleting bool `json:"deleting,omitempty"`
	// Plan and Annotations are the helper pod's (for the Events ls and gc write when
	// the CLI did not: internal/podevents).
	Plan        *plan.Plan        `json:"-"`
	Annotations map[string]string `json:"-"`
}

// List finds experiments by label across all namespaces.
func List(ctx context.Context, c kubernetes.Interface) ([]Experiment, error) {
	return list(ctx, c)
}

// Get finds one experiment by ID.
func Get(ctx context.Context, c kubernetes.Interface, id string) (*Experiment, error) {
	return get(ctx, c, id)
}

// Stop stops experiments (all when ids is empty and all is true): it restores the pods
// an API-only fault changed, deletes the helper pods (the agent recovers on SIGTERM) and
// waits, bounded, for their results.
func Stop(ctx context.Context, c kubernetes.Interface, ids []string, all bool, timeout time.Duration) ([]Experiment, error) {
	return stop(ctx, c, ids, all, timeout)
}

// GC collects what experiments left behind: it deletes helper pods whose deadline has
// passed (and finished ones), restores pods an API-only fault changed whose deadline has
// passed, and runs a journal sweep on the nodes that may hold a journal of ours. With
// DryRun it only says what it would do.
func GC(ctx context.Context, c kubernetes.Interface, o GCOptions) (*GCReport, error) {
	return gc(ctx, c, o)
}
