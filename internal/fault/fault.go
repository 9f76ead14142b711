// Package fault defines what every fault family implements for the agent: an Injector
// that applies the fault to one resolved target, recording each kernel object in the
// journal before it creates it, and an Active handle that removes it again.
package fault

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Target is a plan target resolved on the node.
type Target struct {
	plan.Target
	// PID of the target container's main process, in the host PID namespace.
	PID int
	// NetnsPath opens the target's network namespace, e.g. /proc/<pid>/ns/net.
	NetnsPath string
	// NetnsInode identifies that namespace; stable across container restarts of the pod.
	NetnsInode uint64
	// CgroupPath is the container's cgroup directory (for stress faults), if known.
	CgroupPath string
	// Cgroups are the container's cgroups as the node sees them, one per hierarchy it is
	// in (cgroup v1: each controller hierarchy; v2: the unified one).
	Cgroups []Cgroup
	// Experiment is the plan's experiment ID. Injectors name the objects they own after it
	// (with the target), so two experiments on one target never share an object name.
	Experiment string
	// ResolvedBy says how the PID was found ("containerd", "/proc scan"), for the events.
	ResolvedBy string
	// Runtime is how to reach the node's container runtime (set by the agent from the
	// plan), for faults that ask it directly (container kill).
	Runtime plan.Runtime
}

// Cgroup is one cgroup hierarchy a container is in.
type Cgroup struct {
	// Controllers of the hierarchy: "" for the unified (v2) one, else the v1 list as in
	// /proc/<pid>/cgroup ("cpu,cpuacct", "memory", "name=systemd").
	Controllers string
	// Path inside the hierarchy, as the node's cgroup namespace sees it.
	Path string
	// Dir is that cgroup's directory on the agent's cgroup mounts.
	Dir string
}

// Unified reports whether c is the cgroup v2 hierarchy.
func (c Cgroup) Unified() bool { return c.Controllers == "" }

// Recorder writes a journal entry durably. Injectors call it before creating the object.
type Recorder interface {
	Record(e journal.Entry) error
}

// Active is an applied fault on one target. It keeps whatever must stay open for the
// fault to live (an owned nftables socket, an nfqueue loop) until Recover.
type Active interface {
	// Objects lists the kernel objects that were created.
	Objects() []plan.Object
	// Recover removes the fault gracefully and returns what it removed. Idempotent.
	Recover(ctx context.Context) ([]plan.Object, error)
}

// Injector applies one fault to one target. On error, whatever it recorded is
// recovered from the journal by the caller, so partial work is never left behind.
type Injector interface {
	Apply(ctx context.Context, t Target, rec Recorder) (Active, error)
}

// Notes is optional: an Injector that picked a fallback (no sch_netem, ...) says so here,
// and the agent emits each note as an event.
type Notes interface {
	Notes() []string
}

// Reporter is optional: an Active that keeps working after Apply is handed a way to
// report what it does — the time fault's rescans patch processes started later, the DNS
// resolver counts the queries it matched and the answers it altered; the agent emits
// each report as a note of its target.
type Reporter interface {
	SetReport(report func(string))
}

// Counting is optional: an Active that can read back what its kernel objects did (rule
// and qdisc counters, packets held, queries altered) says so here. The agent reads it
// every second while attached and streams it to the CLI (EventCounters), so a fault
// that matches nothing is seen as such instead of silently "active". Counters must be
// cheap (one netlink dump) and safe to call concurrently with Recover.
type Counting interface {
	ReadCounters() ([]plan.Counter, error)
}

// ContainerOptional is optional: an Injector whose fault touches no container (noop)
// says so, and a target the node cannot find is then no reason to fail.
type ContainerOptional interface {
	ContainerOptional() bool
}

// OneShot is optional: an Injector whose fault is complete when Apply returns (a
// signal sent) says so, and the agent then reports and exits instead of holding the
// fault until a stop path fires.
type OneShot interface {
	OneShot() bool
}

// Factory builds the Injector for a plan's fault.
type Factory func(f plan.Fault) (Injector, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes kind available to the agent. Called from init in the fault packages.
func Register(kind string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	factories[kind] = f
}

// New returns the Injector for f.
func New(f plan.Fault) (Injector, error) {
	mu.RLock()
	fac := factories[f.Kind]
	mu.RUnlock()
	if fac == nil {
		return nil, fmt.Errorf("fault kind %q is not supported by this agent (have: %v)", f.Kind, Kinds())
	}
	return fac(f)
}

// Kinds lists the registered kinds.
func Kinds() []string {
	mu.RLock()
	defer mu.RUnlock()
	var ks []string
	for k := range factories {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
