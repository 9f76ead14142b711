// Package plan holds the wire contract between the CLI and the agent: the per-node
// plan that travels in the helper pod spec, the JSON events the agent writes on
// stdout, and the final result it leaves in its termination message.
//
// Everything here is plain data, portable (no Linux-only imports), and versioned by
// Version so a CLI and an agent of different builds can tell they disagree.
package plan

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Version of the plan/event protocol. Bump when a field changes meaning.
const Version = 1

// EnvVar is the environment variable of the helper container that carries the plan as JSON.
const EnvVar = "KUBECTL_CHAOS_PLAN"

// DefaultJournalDir is the hostPath mounted into every helper for the journal.
const DefaultJournalDir = "/run/kubectl-chaos"

// Labels and annotations put on every helper pod (and the helper namespace).
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	ManagedByValue      = "kubectl-chaos"
	LabelExperiment     = "kubectl-chaos/experiment"
	LabelNode           = "kubectl-chaos/node"
	AnnotationOwner     = "kubectl-chaos/owner"
	AnnotationDeadline  = "kubectl-chaos/deadline"
	AnnotationFault     = "kubectl-chaos/fault"
	AnnotationDetached  = "kubectl-chaos/detached"
	AnnotationStartedAt = "kubectl-chaos/started-at"
	// LabelWarm marks a warm helper (kubectl chaos warm): a serving helper that fault
	// commands of its owner reuse (docs/agent.md, "Warm helpers").
	LabelWarm = "kubectl-chaos/warm"
	// AnnotationStepPrefix + a step's experiment ID, on a warm helper: the step it
	// serves, as the CLI that sent it records it (session.WarmStepRecord) so that
	// kubectl chaos ls can say whether the helper is idle or serving, and whose step.
	AnnotationStepPrefix = "kubectl-chaos/step."
)

// WarmStepTimeout is a warm helper's per-step dead-man switch: a step that hears no
// "heartbeat STEP" line for this long is recovered (the CLI sends one every second).
// A warm helper outlives many attaches, so stdin EOF cannot end a step.
const WarmStepTimeout = 5 * time.Second

// Plan is what one helper pod's agent receives: the fault and the targets on its node.
type Plan struct {
	Version    int       `json:"version"`
	Experiment string    `json:"experiment"`
	Node       string    `json:"node"`
	Owner      string    `json:"owner,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	// Deadline is the moment the fault must be gone, whatever happens.
	Deadline time.Time `json:"deadline"`
	// Detached agents do not treat stdin EOF as "operator gone"; they run to the deadline
	// or until stopped.
	Detached bool `json:"detached,omitempty"`
	// HeartbeatTimeout bounds how long a restarted agent waits for its operator's
	// heartbeat on stdin before it recovers on its own (attached sessions only).
	HeartbeatTimeout Duration `json:"heartbeatTimeout,omitempty"`
	Fault            Fault    `json:"fault"`
	Targets          []Target `json:"targets"`
	Runtime          Runtime  `json:"runtime,omitempty"`
	JournalDir       string   `json:"journalDir,omitempty"`
	// Serve: the helper of a kubectl chaos run. It has no fault of its own: it applies
	// the step plans the CLI sends on stdin (plan lines, docs/agent.md), each until its
	// own deadline, and lives until Deadline (the whole run's).
	Serve bool `json:"serve,omitempty"`
	// StepKey, with Serve: the hex SHA-256 of the key every plan line must carry. The
	// CLI keeps the key, so whoever may only attach to the helper cannot send a plan.
	StepKey string `json:"stepKey,omitempty"`
	// Warm, with Serve: a warm helper (kubectl chaos warm). Its stdin is not closed when
	// an attach ends (stdinOnce: false), so each step is bound to its own heartbeat lines
	// ("heartbeat STEP", WarmStepTimeout) instead of to stdin EOF.
	Warm bool `json:"warm,omitempty"`
}

// Runtime tells the agent how to reach the node's container runtime.
type Runtime struct {
	// Endpoint is the containerd socket as seen inside the helper (hostPath mount).
	Endpoint string `json:"endpoint,omitempty"`
	// Namespace is containerd's namespace for Kubernetes containers, "k8s.io".
	Namespace string `json:"namespace,omitempty"`
}

// Target is one container to act on.
type Target struct {
	Namespace   string   `json:"namespace"`
	Pod         string   `json:"pod"`
	PodUID      string   `json:"podUID,omitempty"`
	Container   string   `json:"container"`
	ContainerID string   `json:"containerID"` // as in the pod status: "containerd://<hex>"
	Node        string   `json:"node,omitempty"`
	PodIPs      []string `json:"podIPs,omitempty"`
}

// ID is the stable name of a target, usable as a file name: namespace_pod_container.
func (t Target) ID() string {
	return sanitize(t.Namespace) + "_" + sanitize(t.Pod) + "_" + sanitize(t.Container)
}

// String is the human name: namespace/pod/container.
func (t Target) String() string { return t.Namespace + "/" + t.Pod + "/" + t.Container }

// RuntimeID returns the container ID without its "runtime://" prefix.
func (t Target) RuntimeID() string {
	if i := strings.Index(t.ContainerID, "://"); i >= 0 {
		return t.ContainerID[i+3:]
	}
	return t.ContainerID
}

// sanitize replaces each character but A-Z, a-z, 0-9, '.' and '-' (and each byte of
// invalid UTF-8) with '-'. A loop, not a package-level regexp: the CLI never calls it,
// and every package init runs before its main (issue 17).
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, s)
}

// Fault is the fault spec: Kind names the family, and exactly one pointer field (the
// one whose JSON name is Kind) holds that family's spec. A new family adds one field
// here and its spec type in plan/<kind>.go; Spec finds which one is set, and nothing
// else in the program looks at the fields by hand.
type Fault struct {
	Kind string `json:"kind"`
	// Action is the verb the user ran, e.g. "delay" for `network delay`; informative.
	Action    string     `json:"action,omitempty"`
	Noop      *Noop      `json:"noop,omitempty"`
	Network   *Network   `json:"network,omitempty"`
	NoopAPI   *NoopAPI   `json:"noopapi,omitempty"`
	Pod       *Pod       `json:"pod,omitempty"`
	Container *Container `json:"container,omitempty"`
	Stress    *Stress    `json:"stress,omitempty"`
	IO        *IO        `json:"io,omitempty"`
	Time      *TimeShift `json:"time,omitempty"`
	DNS       *DNS       `json:"dns,omitempty"`
	HTTP      *HTTP      `json:"http,omitempty"`
}

// Summarizer is a spec that can say what it does in a few words ("delay 100ms").
type Summarizer interface {
	Summary() string
}

// Spec returns the family spec that is set. It is an error when none or several are
// set, or when the one set is not the one Kind names.
func (f Fault) Spec() (any, error) {
	v := reflect.ValueOf(f)
	var names []string
	var spec any
	for _, sf := range specFields {
		fv := v.Field(sf.index)
		if fv.IsNil() {
			continue
		}
		names = append(names, sf.kind)
		spec = fv.Interface()
	}
	switch {
	case len(names) == 0:
		if f.Kind == "" {
			return nil, fmt.Errorf("fault: no kind and no spec")
		}
		return nil, fmt.Errorf("fault: kind %q without its %q spec", f.Kind, f.Kind)
	case len(names) > 1:
		return nil, fmt.Errorf("fault: several specs set (%s); one fault has one kind", strings.Join(names, ", "))
	case names[0] != f.Kind:
		return nil, fmt.Errorf("fault: kind %q but the %q spec is set", f.Kind, names[0])
	}
	return spec, nil
}

// Kinds lists the fault kinds the plan format knows (the JSON names of Fault's specs).
func Kinds() []string {
	out := make([]string, len(specFields))
	for i, sf := range specFields {
		out[i] = sf.kind
	}
	return out
}

type specField struct {
	index int
	kind  string
}

// specFields are Fault's pointer fields with their JSON names, found once.
var specFields = func() []specField {
	var out []specField
	t := reflect.TypeOf(Fault{})
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Type.Kind() != reflect.Pointer {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		out = append(out, specField{index: i, kind: name})
	}
	return out
}()

// Clone returns a deep copy of f (through its JSON form, which is the wire contract).
func (f Fault) Clone() Fault {
	b, err := json.Marshal(f)
	if err != nil {
		panic(fmt.Sprintf("plan: fault does not marshal: %v", err))
	}
	var out Fault
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("plan: fault does not unmarshal: %v", err))
	}
	return out
}

// Summary is a one-line human description of the fault, e.g. "network delay 100ms".
func (f Fault) Summary() string {
	if spec, err := f.Spec(); err == nil {
		if s, ok := spec.(Summarizer); ok {
			return f.Kind + " " + s.Summary()
		}
	}
	switch {
	case f.Kind == "":
		return "(empty fault)"
	case f.Action != "":
		return f.Kind + " " + f.Action
	}
	return f.Kind
}

// Duration is a time.Duration that marshals as a Go duration string ("100ms").
type Duration time.Duration

func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration: %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Validate checks the parts of a plan that do not depend on the fault kind.
func (p *Plan) Validate() error {
	if p.Version != Version {
		return fmt.Errorf("plan version %d, this agent speaks %d: use the agent image of the same version as the CLI", p.Version, Version)
	}
	if p.Experiment == "" {
		return fmt.Errorf("plan: experiment is empty")
	}
	if p.Deadline.IsZero() {
		return fmt.Errorf("plan: deadline is empty")
	}
	if p.Serve {
		if p.Fault.Kind != "" || len(p.Targets) > 0 {
			return fmt.Errorf("plan: a serving helper's plan has no fault and no targets of its own (its steps come on stdin)")
		}
		if len(p.StepKey) != 64 || strings.Trim(p.StepKey, "0123456789abcdef") != "" {
			return fmt.Errorf("plan: stepKey must be 64 lower-case hex digits (a SHA-256), got %d characters", len(p.StepKey))
		}
		return nil
	}
	if p.Warm {
		return fmt.Errorf("plan: warm is a serving helper's (serve: true)")
	}
	if p.Fault.Kind == "" {
		return fmt.Errorf("plan: fault kind is empty")
	}
	return nil
}

// Encode returns the plan as compact JSON.
func (p *Plan) Encode() (string, error) {
	b, err := json.Marshal(p)
	return string(b), err
}

// Decode parses a plan.
func Decode(s string) (*Plan, error) {
	var p Plan
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return nil, fmt.Errorf("decoding plan: %w", err)
	}
	return &p, nil
}
