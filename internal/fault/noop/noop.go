// Package noop is a fault that changes nothing. It goes through the whole agent loop
// (journal entry, apply, recover) so the session and the agent can be tested without
// touching the kernel. Plan.Fault.Noop.FailApply / FailRecover make it fail on purpose.
package noop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// EntryType is the journal entry type of the noop object.
const EntryType = "noop"

// Errors returned on purpose.
var (
	ErrApply   = errors.New("noop: apply failed on purpose (failApply)")
	ErrRecover = errors.New("noop: recover failed on purpose (failRecover)")
)

func init() {
	fault.Register(plan.KindNoop, New)
	journal.RegisterRecoverer(EntryType, recoverEntry)
}

// data is the journal record of the noop object.
type data struct {
	Target      string `json:"target"`
	FailRecover bool   `json:"failRecover,omitempty"`
}

// Injector applies the noop fault.
type Injector struct{ spec plan.Noop }

// New builds the noop Injector.
func New(f plan.Fault) (fault.Injector, error) {
	if f.Kind != plan.KindNoop {
		return nil, fmt.Errorf("noop: fault kind is %q", f.Kind)
	}
	var s plan.Noop
	if f.Noop != nil {
		s = *f.Noop
	}
	return &Injector{spec: s}, nil
}

// Object describes the noop "object".
func Object(t plan.Target) plan.Object {
	return plan.Object{
		Kind:   "noop",
		Spec:   "nothing on " + t.String(),
		Remove: "nothing to remove",
	}
}

// Apply records one journal entry and returns an Active.
func (i *Injector) Apply(ctx context.Context, t fault.Target, rec fault.Recorder) (fault.Active, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := json.Marshal(data{Target: t.String(), FailRecover: i.spec.FailRecover})
	if err != nil {
		return nil, err
	}
	obj := Object(t.Target)
	if err := rec.Record(journal.Entry{Type: EntryType, NetnsInode: t.NetnsInode, Data: d, Object: obj}); err != nil {
		return nil, fmt.Errorf("noop: journaling %s: %w", t, err)
	}
	if i.spec.FailApply {
		return nil, ErrApply
	}
	a := &active{obj: obj, failRecover: i.spec.FailRecover}
	if c := i.spec.Counting; c != nil {
		return &countingActive{active: a, perRead: c.PerRead}, nil
	}
	return a, nil
}

// countingActive reports a made-up traffic counter (fault.Counting).
type countingActive struct {
	*active
	perRead uint64
	packets uint64
}

func (a *countingActive) ReadCounters() ([]plan.Counter, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.packets += a.perRead
	return []plan.Counter{
		{Name: "noop packets", Value: a.packets, Unit: "packets", Traffic: true},
		{Name: "noop held", Value: a.perRead / 2, Unit: "packets", Gauge: true},
	}, nil
}

// ContainerOptional: noop changes nothing, so it needs no container.
func (i *Injector) ContainerOptional() bool { return true }

// Notes tells the operator this fault does nothing.
func (i *Injector) Notes() []string {
	return []string{"noop fault: nothing is changed on the target"}
}

type active struct {
	mu          sync.Mutex
	obj         plan.Object
	failRecover bool
	done        bool
}

func (a *active) Objects() []plan.Object { return []plan.Object{a.obj} }

func (a *active) Recover(ctx context.Context) ([]plan.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failRecover {
		return nil, ErrRecover
	}
	if a.done {
		return nil, nil
	}
	a.done = true
	return []plan.Object{a.obj}, nil
}

func recoverEntry(ctx context.Context, e journal.Entry) error {
	var d data
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("noop: bad journal data: %w", err)
	}
	if d.FailRecover {
		return ErrRecover
	}
	return nil
}
