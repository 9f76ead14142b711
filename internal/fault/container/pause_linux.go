package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// EntryFreeze is the journal entry type of a frozen cgroup.
const EntryFreeze = "cgroup-freeze"

// Bounds of a freeze and a thaw. A process in uninterruptible sleep (D state) delays
// freezing; past freezeTimeout the cgroup is thawed again and the fault fails.
const (
	freezeTimeout = 10 * time.Second
	thawTimeout   = 5 * time.Second
	pollInterval  = time.Millisecond
)

func init() {
	fault.Register(plan.KindContainer, newInjector)
	journal.RegisterRecoverer(EntryFreeze, recoverFreeze)
}

func newInjector(f plan.Fault) (fault.Injector, error) {
	if f.Container == nil {
		return nil, errors.New("container fault without a spec")
	}
	if err := Validate(f.Container); err != nil {
		return nil, err
	}
	if f.Container.Action == plan.ContainerKill {
		sig, _ := SignalNumber(f.Container.Signal)
		return &killer{name: NormalizeSignal(f.Container.Signal), sig: sig, procRoot: journal.DefaultProcRoot()}, nil
	}
	return &pauser{procRoot: journal.DefaultProcRoot(), cgroupRoot: catalog.HostCgroup.Path}, nil
}

// pauser freezes the target container's cgroup.
type pauser struct {
	procRoot, cgroupRoot string
}

// Apply finds the container's freezer, journals it, freezes it and waits until every
// process is frozen. A cgroup someone else froze (runc pause, another experiment) is
// refused: thawing it at the end would undo their freeze.
func (p *pauser) Apply(ctx context.Context, t fault.Target, rec fault.Recorder) (fault.Active, error) {
	fz, err := FindFreezer(p.procRoot, p.cgroupRoot, t.PID, t.RuntimeID())
	if err != nil {
		return nil, err
	}
	if own, err := FindFreezer(p.procRoot, p.cgroupRoot, selfPID(), t.RuntimeID()); err == nil && own.Dir == fz.Dir {
		return nil, fmt.Errorf("refusing to freeze %s: the agent itself runs in that cgroup", fz.Dir)
	}
	if on, err := fz.Requested(); err != nil {
		return nil, fmt.Errorf("reading the freezer state of %s: %w", fz.Dir, err)
	} else if on {
		return nil, fmt.Errorf("container %s is already frozen (%s), by `runc pause`, another tool or another experiment: not touching it", t.Target, fz.Dir)
	}
	obj := FreezeObject(fz.Version, fz.Dir)
	obj.Condition = ""
	d, _ := json.Marshal(fz)
	if err := rec.Record(journal.Entry{Type: EntryFreeze, NetnsInode: t.NetnsInode, Data: d, Object: obj}); err != nil {
		return nil, fmt.Errorf("journaling the freeze of %s: %w", fz.Dir, err)
	}
	start := time.Now()
	if err := fz.Set(true); err != nil {
		return nil, err
	}
	if err := waitState(ctx, fz, true, freezeTimeout); err != nil {
		return nil, fmt.Errorf("freezing %s: %w (thawed again from the journal)", fz.Dir, err)
	}
	took := time.Since(start)
	n, _ := fz.Procs()
	obj.Spec += fmt.Sprintf(": %d process(es) frozen in %s", n, took.Round(10*time.Microsecond))
	note := fmt.Sprintf("%d process(es) of the container frozen in %s (cgroup v%d, %s)", n, took.Round(10*time.Microsecond), fz.Version, fz.Dir)
	return &paused{fz: fz, obj: obj, note: note}, nil
}

// waitState polls until the cgroup is (un)frozen, bounded by timeout.
func waitState(ctx context.Context, fz Freezer, frozen bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := fz.Frozen()
		if err != nil {
			return err
		}
		if got == frozen {
			return nil
		}
		if time.Now().After(deadline) {
			state := "frozen"
			if !frozen {
				state = "thawed"
			}
			return fmt.Errorf("not %s after %s (a process in uninterruptible sleep?)", state, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

type paused struct {
	mu   sync.Mutex
	fz   Freezer
	obj  plan.Object
	note string
	done bool
}

func (a *paused) Objects() []plan.Object { return []plan.Object{a.obj} }

// Notes says, as the kernel reports it, how many processes stopped.
func (a *paused) Notes() []string { return []string{a.note} }

// Recover thaws the cgroup and waits until its processes run again.
func (a *paused) Recover(ctx context.Context) ([]plan.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return nil, nil
	}
	start := time.Now()
	if err := thaw(ctx, a.fz); err != nil {
		return nil, err
	}
	a.done = true
	obj := a.obj
	obj.Spec = fmt.Sprintf("%s thawed in %s", a.fz.Dir, time.Since(start).Round(10*time.Microsecond))
	return []plan.Object{obj}, nil
}

// thaw thaws fz and waits for it; a cgroup that is gone (the container was removed) is
// success.
func thaw(ctx context.Context, fz Freezer) error {
	if err := fz.Set(false); err != nil {
		if Gone(err) {
			return nil
		}
		return err
	}
	if err := waitState(ctx, fz, false, thawTimeout); err != nil && !Gone(err) {
		return fmt.Errorf("thawing %s: %w", fz.Dir, err)
	}
	return nil
}

// recoverFreeze thaws a cgroup from its journal entry alone.
func recoverFreeze(ctx context.Context, e journal.Entry) error {
	var fz Freezer
	if err := json.Unmarshal(e.Data, &fz); err != nil {
		return fmt.Errorf("cgroup-freeze: bad journal data: %w", err)
	}
	if fz.Version != 1 && fz.Version != 2 || fz.Dir == "" {
		return fmt.Errorf("cgroup-freeze: journal entry %s has no cgroup", e.Data)
	}
	return thaw(ctx, fz)
}
