// Package catalog is the CLI side's registry of fault kinds. Each kind registers once,
// from its own package (internal/fault/<kind>), with what the engine needs to know
// about it: how to validate a spec (with its limits), how to describe it for --dry-run
// (the kernel objects or API calls and how each is undone), an optional completion
// step that needs the API, the host paths its helper pod mounts, and, for faults the
// Kubernetes API alone can do, how to apply and undo them without a helper pod.
//
// The engine (internal/experiment) and the helper pod builder ask the catalog and hold
// no switch over kinds. The agent has its own registry of injectors (internal/fault).
package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Kind is one fault family's entry, typed by its spec S (the pointer field of
// plan.Fault that the kind owns, e.g. *plan.Network).
type Kind[S any] struct {
	// Name is the plan kind, the JSON name of the spec's field in plan.Fault.
	Name string
	// Validate checks a spec before anything is created; errors name the CLI flag and
	// the accepted range. The agent runs the same check on the plan it receives (a
	// plan may have been forged), so it must not need the API. Required.
	Validate func(s S) error
	// Describe lists what the fault creates on each target and how each thing is
	// undone, for --dry-run. Where the choice depends on the node, alternatives carry
	// their Condition. Required.
	Describe func(s S) []plan.Object
	// Scope says where Describe's objects live, e.g. "created in each target pod's
	// network namespace".
	Scope string
	// Details are extra lines of the dry-run header (e.g. resolved peers). Optional.
	Details func(s S) []Detail
	// Complete fills in what needs the API (partition --to peers -> CIDRs) on a copy of
	// the spec the engine owns; namespace is the targets' namespace. Optional.
	Complete func(ctx context.Context, c kubernetes.Interface, namespace string, s S) error
	// HostMounts are the node paths the helper pod mounts for this kind, beyond the
	// journal, the host's /proc and the runtime socket every helper has. Optional.
	HostMounts []HostMount
	// API, when set, makes this a fault the Kubernetes API alone can do: no helper
	// pod is created, and the engine applies and undoes it through these functions.
	API *API[S]
	// OneShot reports whether the spec's fault is complete once applied (a pod
	// deleted, a signal sent): nothing is held or undone, so --duration is refused and
	// nobody waits for a deadline. Optional (nil: never).
	OneShot func(s S) bool
	// NoDetach returns why --detach is refused for the spec ("" when it is not): nothing
	// in the cluster would end the fault on time without the CLI. Optional.
	NoDetach func(s S) string
	// Check runs before anything is changed, on the target pods as just read: it
	// refuses what the kind cannot do to them (the error is a usage error) and
	// completes the engine's copy of the spec with what depends on the targets (the
	// pause image of each node). It returns facts the user should know about these
	// targets, printed before the fault starts and by --dry-run. Optional.
	Check func(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod, s S) (notes []string, err error)
	// Follow watches, for the report, what the fault sets off on one target pod: the
	// replacement of a deleted pod until it is Ready, the restart of a killed
	// container, a restored pod's containers running their own images again. It is
	// called with the pod as read before the change and the target container's name,
	// takes its snapshot then, and
	// returns the function the engine calls once the change is done (one-shot kinds)
	// or undone; that function returns the report line. A nil function: nothing to
	// follow for this spec. Optional.
	Follow func(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, container string, s S) (FollowFunc, error)
}

// FollowFunc waits (bounded by ctx) for what a fault set off and returns one line for
// the report, e.g. "replacement web-7d9f-x2k4z Ready 3.2s after the delete".
type FollowFunc func(ctx context.Context) (string, error)

// Detail is one "Name: value" line of the dry-run header.
type Detail struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HostMount is a node path a kind's helper pod needs, mounted at the same path (by the
// agent itself, from the node's root: internal/hostmount).
type HostMount struct {
	// Name says what it is for (a DNS label, unique across kinds).
	Name string
	Path string
	// Type is the hostPath type, e.g. corev1.HostPathDirectory, HostPathCharDev.
	Type     corev1.HostPathType
	ReadOnly bool
	// Recursive also mounts what is mounted below Path.
	Recursive bool
}

// HostCgroup is the node's cgroup filesystem, mounted at the same path in the helper:
// on a cgroup v2 node the helper's own /sys/fs/cgroup is only its own subtree (its
// cgroup namespace), and the kinds that act on a container's cgroup (freeze it, move a
// stressor into it) need the node's. Recursive: on a cgroup v1 (or hybrid) node it is a
// tmpfs with one mount per controller.
var HostCgroup = HostMount{Name: "host-cgroup", Path: "/sys/fs/cgroup", Type: corev1.HostPathDirectory, Recursive: true}

// API is how a fault that needs no helper pod is applied and undone through the
// Kubernetes API, one target pod at a time. Whatever Inject changes, it changes in one
// request that also carries Stamp (the experiment label and the undo record as an
// annotation), so `kubectl chaos stop` and `gc` can restore the pod from the pod alone
// after the CLI died.
type API[S any] struct {
	// Inject changes the target pod. stamp is the metadata patch
	// ({"metadata":{"labels":…,"annotations":…}}) to merge into the same request; undo
	// is the kind's data the engine has already put into the record. A kind whose
	// change cannot be undone (a deleted pod) ignores stamp.
	Inject func(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, s S, stamp map[string]any) error
	// Undo is the data stored in the undo record for pod (what Restore will need).
	// nil means there is nothing to restore (the change is final, e.g. a kill).
	Undo func(pod *corev1.Pod, s S) (json.RawMessage, error)
	// Restore undoes the change from the record's data alone, merging unstamp (which
	// removes the label and the record) into the same request.
	Restore func(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, undo json.RawMessage, unstamp map[string]any) error
}

// Entry is a registered kind seen through plan.Fault, as the engine uses it.
type Entry struct {
	name       string
	scope      string
	hostMounts []HostMount
	validate   func(plan.Fault) error
	describe   func(plan.Fault) []plan.Object
	details    func(plan.Fault) []Detail
	complete   func(context.Context, kubernetes.Interface, string, plan.Fault) error
	api        *entryAPI
	oneShot    func(plan.Fault) bool
	noDetach   func(plan.Fault) string
	check      func(context.Context, kubernetes.Interface, []*corev1.Pod, plan.Fault) ([]string, error)
	follow     func(context.Context, kubernetes.Interface, *corev1.Pod, string, plan.Fault) (FollowFunc, error)
}

type entryAPI struct {
	inject  func(context.Context, kubernetes.Interface, *corev1.Pod, plan.Fault, map[string]any) error
	undo    func(*corev1.Pod, plan.Fault) (json.RawMessage, error)
	restore func(context.Context, kubernetes.Interface, *corev1.Pod, json.RawMessage, map[string]any) error
}

var (
	mu      sync.RWMutex
	entries = map[string]*Entry{}
)

// Register adds a kind. Called from init in the kind's package; a second registration
// of the same name, or a name plan.Fault has no spec field for, is a programming error.
func Register[S any](k Kind[S]) {
	if k.Validate == nil || k.Describe == nil {
		panic(fmt.Sprintf("catalog: kind %q needs Validate and Describe", k.Name))
	}
	known := false
	for _, n := range plan.Kinds() {
		known = known || n == k.Name
	}
	if !known {
		panic(fmt.Sprintf("catalog: plan.Fault has no spec field named %q", k.Name))
	}
	e := &Entry{
		name:       k.Name,
		scope:      k.Scope,
		hostMounts: k.HostMounts,
		validate: func(f plan.Fault) error {
			s, err := specOf[S](f)
			if err != nil {
				return err
			}
			return k.Validate(s)
		},
		describe: func(f plan.Fault) []plan.Object {
			s, err := specOf[S](f)
			if err != nil {
				return []plan.Object{{Kind: "error", Spec: err.Error(), Remove: "nothing is created"}}
			}
			return k.Describe(s)
		},
	}
	k.hooks(e)
	if k.API != nil {
		e.api = k.apiEntry()
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := entries[k.Name]; dup {
		panic(fmt.Sprintf("catalog: kind %q registered twice", k.Name))
	}
	entries[k.Name] = e
}

// hooks sets the entry's optional steps, each reading the kind's spec from the fault.
func (k Kind[S]) hooks(e *Entry) {
	if k.Details != nil {
		e.details = func(f plan.Fault) []Detail {
			if s, err := specOf[S](f); err == nil {
				return k.Details(s)
			}
			return nil
		}
	}
	if k.OneShot != nil {
		e.oneShot = func(f plan.Fault) bool {
			s, err := specOf[S](f)
			return err == nil && k.OneShot(s)
		}
	}
	if k.NoDetach != nil {
		e.noDetach = func(f plan.Fault) string {
			if s, err := specOf[S](f); err == nil {
				return k.NoDetach(s)
			}
			return ""
		}
	}
	if k.Check != nil {
		e.check = func(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod, f plan.Fault) ([]string, error) {
			s, err := specOf[S](f)
			if err != nil {
				return nil, err
			}
			return k.Check(ctx, c, pods, s)
		}
	}
	if k.Follow != nil {
		e.follow = func(ctx context.Context, c kubernetes.Interface, p *corev1.Pod, container string, f plan.Fault) (FollowFunc, error) {
			s, err := specOf[S](f)
			if err != nil {
				return nil, err
			}
			return k.Follow(ctx, c, p, container, s)
		}
	}
	if k.Complete != nil {
		e.complete = func(ctx context.Context, c kubernetes.Interface, ns string, f plan.Fault) error {
			s, err := specOf[S](f)
			if err != nil {
				return err
			}
			return k.Complete(ctx, c, ns, s)
		}
	}
}

// apiEntry is the API-only path of the kind: apply and undo through the API server.
func (k Kind[S]) apiEntry() *entryAPI {
	a := k.API
	if a.Inject == nil || a.Restore == nil || a.Undo == nil {
		panic(fmt.Sprintf("catalog: API kind %q needs Inject, Undo and Restore", k.Name))
	}
	return &entryAPI{
		inject: func(ctx context.Context, c kubernetes.Interface, p *corev1.Pod, f plan.Fault, stamp map[string]any) error {
			s, err := specOf[S](f)
			if err != nil {
				return err
			}
			return a.Inject(ctx, c, p, s, stamp)
		},
		undo: func(p *corev1.Pod, f plan.Fault) (json.RawMessage, error) {
			s, err := specOf[S](f)
			if err != nil {
				return nil, err
			}
			return a.Undo(p, s)
		},
		restore: a.Restore,
	}
}

// specOf returns f's spec as S (through plan.Fault.Spec, the one place that knows
// which field is set).
func specOf[S any](f plan.Fault) (S, error) {
	var zero S
	spec, err := f.Spec()
	if err != nil {
		return zero, err
	}
	s, ok := spec.(S)
	if !ok {
		return zero, fmt.Errorf("fault kind %q: spec is %T, the catalog entry expects %T", f.Kind, spec, zero)
	}
	return s, nil
}

// Lookup returns the entry of kind name.
func Lookup(name string) (*Entry, error) {
	mu.RLock()
	e := entries[name]
	mu.RUnlock()
	if e == nil {
		return nil, fmt.Errorf("unknown fault kind %q (this build has: %v)", name, Kinds())
	}
	return e, nil
}

// For returns the entry of f's kind.
func For(f plan.Fault) (*Entry, error) {
	if f.Kind == "" {
		return nil, fmt.Errorf("fault kind is empty")
	}
	return Lookup(f.Kind)
}

// Validate checks f with its kind's rules (used by the CLI and by the agent).
func Validate(f plan.Fault) error {
	e, err := For(f)
	if err != nil {
		return err
	}
	return e.Validate(f)
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(entries))
	for k := range entries {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// AllHostMounts is the union of every kind's host mounts, by volume name: what a
// sweep-only helper needs to recover any kind's journal.
func AllHostMounts() []HostMount {
	mu.RLock()
	defer mu.RUnlock()
	seen := map[string]bool{}
	var out []HostMount
	for _, k := range sortedNames() {
		for _, m := range entries[k].hostMounts {
			if !seen[m.Name] {
				seen[m.Name] = true
				out = append(out, m)
			}
		}
	}
	return out
}

func sortedNames() []string {
	out := make([]string, 0, len(entries))
	for k := range entries {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Name is the kind's name.
func (e *Entry) Name() string { return e.name }

// Validate checks f's spec.
func (e *Entry) Validate(f plan.Fault) error { return e.validate(f) }

// Describe lists what f creates and how each thing is undone.
func (e *Entry) Describe(f plan.Fault) []plan.Object { return e.describe(f) }

// Scope says where Describe's objects live.
func (e *Entry) Scope() string { return e.scope }

// Details are the extra dry-run header lines for f.
func (e *Entry) Details(f plan.Fault) []Detail {
	if e.details == nil {
		return nil
	}
	return e.details(f)
}

// Complete runs the kind's completion step on f (which the caller owns), if any.
func (e *Entry) Complete(ctx context.Context, c kubernetes.Interface, namespace string, f plan.Fault) error {
	if e.complete == nil {
		return nil
	}
	return e.complete(ctx, c, namespace, f)
}

// HostMounts are the kind's extra helper mounts.
func (e *Entry) HostMounts() []HostMount { return e.hostMounts }

// OneShot reports whether f is complete once applied (see Kind.OneShot).
func (e *Entry) OneShot(f plan.Fault) bool { return e.oneShot != nil && e.oneShot(f) }

// NoDetach is why --detach is refused for f, "" if it is not.
func (e *Entry) NoDetach(f plan.Fault) string {
	if e.noDetach == nil {
		return ""
	}
	return e.noDetach(f)
}

// Check runs the kind's check on the target pods (see Kind.Check); f is the engine's
// copy of the fault, which it may complete.
func (e *Entry) Check(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod, f plan.Fault) ([]string, error) {
	if e.check == nil {
		return nil, nil
	}
	return e.check(ctx, c, pods, f)
}

// Checks reports whether the kind has a Check step.
func (e *Entry) Checks() bool { return e.check != nil }

// Follows reports whether the kind has a Follow step.
func (e *Entry) Follows() bool { return e.follow != nil }

// Follow starts following pod (see Kind.Follow); nil when there is nothing to follow.
func (e *Entry) Follow(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, container string, f plan.Fault) (FollowFunc, error) {
	if e.follow == nil {
		return nil, nil
	}
	return e.follow(ctx, c, pod, container, f)
}

// APIOnly reports whether the kind needs no helper pod.
func (e *Entry) APIOnly() bool { return e.api != nil }

// Inject applies an API-only fault to pod (see API.Inject).
func (e *Entry) Inject(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, f plan.Fault, stamp map[string]any) error {
	if e.api == nil {
		return fmt.Errorf("fault kind %q needs a helper pod, not an API call", e.name)
	}
	return e.api.inject(ctx, c, pod, f, stamp)
}

// Undo is the undo data of an API-only fault on pod (see API.Undo).
func (e *Entry) Undo(pod *corev1.Pod, f plan.Fault) (json.RawMessage, error) {
	if e.api == nil {
		return nil, fmt.Errorf("fault kind %q needs a helper pod, not an API call", e.name)
	}
	return e.api.undo(pod, f)
}

// Restore undoes an API-only fault from its record (see API.Restore).
func (e *Entry) Restore(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, undo json.RawMessage, unstamp map[string]any) error {
	if e.api == nil {
		return fmt.Errorf("fault kind %q needs a helper pod, not an API call", e.name)
	}
	return e.api.restore(ctx, c, pod, undo, unstamp)
}
