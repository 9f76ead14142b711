package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Names of the marks on the first injected event (plan.Event.Marks), in order.
const (
	markProcess  = "process-start"    // the agent's process was created (fork: runc's init, before the exec)
	markInit     = "init-start"       // the binary's first package inits (just after the exec)
	markPlan     = "plan-read"        // agent.Run began: plan decoded, package inits done
	markResolved = "targets-resolved" // every target resolved (while waiting for the CLI)
	markGo       = "first-heartbeat"  // the CLI's first heartbeat: inject now
	markInjected = "injected"         // the first target's fault is in the kernel
)

// resolveFresh is how long a resolution made before the first heartbeat is trusted:
// past it (the CLI took long to attach), the targets are resolved again, as a
// container may have restarted meanwhile (new PID; the netns stays the sandbox's).
const resolveFresh = time.Second

// mark records a named moment of the agent's start.
func (r *runner) mark(name string) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.marks = append(r.marks, plan.Mark{Name: name, At: r.o.Now().UTC()})
}

// resolved is one target's resolution.
type resolved struct {
	ft  fault.Target
	err error
}

// resolution is the targets' resolution running in the background; wait returns it.
type resolution struct {
	done chan struct{}
	at   time.Time
	res  []resolved
}

// resolveAll resolves every target at once, in the background (resolving only reads:
// the runtime's API, /proc).
func (r *runner) resolveAll(ctx context.Context) *resolution {
	rs := &resolution{done: make(chan struct{}), res: make([]resolved, len(r.p.Targets))}
	go func() {
		defer close(rs.done)
		var wg sync.WaitGroup
		for i, t := range r.p.Targets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ft, err := r.o.Resolver.Resolve(ctx, t)
				rs.res[i] = resolved{ft: ft, err: err}
			}()
		}
		wg.Wait()
		rs.at = time.Now()
		r.mark(markResolved)
	}()
	return rs
}

// wait returns the resolutions, made again when they are older than resolveFresh.
func (rs *resolution) wait(ctx context.Context, r *runner) []resolved {
	<-rs.done
	if time.Since(rs.at) <= resolveFresh {
		return rs.res
	}
	again := r.resolveAll(ctx)
	<-again.done
	return again.res
}

// apply injects every target at once (each in its own journal); a failed target is
// recovered from its journal. The actives are in the plan's target order.
func (r *runner) apply(ctx context.Context, inj fault.Injector, pre *resolution) ([]*activeTarget, error) {
	p := r.p
	meta := journal.Meta{Experiment: p.Experiment, Deadline: p.Deadline, Detached: p.Detached,
		HelperPodUID: r.o.PodUID, Restart: r.restart}
	res := pre.wait(ctx, r)
	slots := make([]*activeTarget, len(p.Targets))
	errs := make([]error, len(p.Targets))
	var notesMu sync.Mutex
	var notes []string
	note := func(ss []string) {
		notesMu.Lock()
		defer notesMu.Unlock()
		for _, s := range ss {
			if !slices.Contains(notes, s) {
				notes = append(notes, s)
				r.emit(plan.Event{Type: plan.EventNote, Message: s})
			}
		}
	}
	var wg sync.WaitGroup
	for i, t := range p.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots[i], errs[i] = r.applyOne(ctx, inj, meta, t, res[i], note)
		}()
	}
	wg.Wait()
	var actives []*activeTarget
	for _, a := range slots {
		if a != nil {
			actives = append(actives, a)
		}
	}
	if n, ok := inj.(fault.Notes); ok && len(actives) > 0 {
		note(n.Notes())
	}
	if err := errors.Join(errs...); err != nil {
		return actives, fmt.Errorf("%w: %w", ErrApply, err)
	}
	return actives, nil
}

// applyOne journals and injects one resolved target.
func (r *runner) applyOne(ctx context.Context, inj fault.Injector, meta journal.Meta, t plan.Target, rv resolved, note func([]string)) (*activeTarget, error) {
	p := r.p
	tr := r.byTarget[t.String()]
	var errs []error
	targetErr := func(msg string, err error) {
		err = fmt.Errorf("%s %s: %w", msg, t, err)
		tr.Error = err.Error()
		errs = append(errs, err)
		r.emit(plan.Event{Type: plan.EventError, Target: t.String(), Message: msg, Error: err.Error()})
	}
	if rv.err != nil {
		targetErr("resolving", rv.err)
		return nil, errors.Join(errs...)
	}
	ft := rv.ft
	ft.Experiment = p.Experiment
	ft.Runtime = p.Runtime
	if ft.PID != 0 && ft.RuntimeID() != t.RuntimeID() {
		// The resolver followed a container the kubelet replaced after the plan was made.
		r.emit(plan.Event{Type: plan.EventNote, Target: t.String(), Message: fmt.Sprintf(
			"container %s restarted before injection; injecting into its successor %s", short(t.RuntimeID()), short(ft.RuntimeID()))})
	}
	msg := fmt.Sprintf("container %s: pid %d, netns %s (inode %d)", short(ft.RuntimeID()), ft.PID, ft.NetnsPath, ft.NetnsInode)
	if ft.ResolvedBy != "" {
		msg += ", found via " + ft.ResolvedBy
	}
	if ft.PID == 0 {
		msg = fmt.Sprintf("container %s not found on this host; the %s fault needs none", short(t.RuntimeID()), p.Fault.Kind)
	}
	r.emit(plan.Event{Type: plan.EventResolved, Target: t.String(), Message: msg})
	j, err := journal.Create(r.dir, meta, t)
	if err != nil {
		targetErr("journaling", err)
		return nil, errors.Join(errs...)
	}
	start := time.Now()
	a, err := inj.Apply(ctx, ft, j)
	el := time.Since(start)
	if err != nil {
		targetErr("applying the fault on", err)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
		removed, rerr := j.Recover(cctx)
		cancel()
		if rerr != nil {
			err := fmt.Errorf("%w: after a failed apply: %w", ErrRecover, rerr)
			tr.Error += "; " + err.Error()
			errs = append(errs, err)
			r.emit(plan.Event{Type: plan.EventError, Target: t.String(), Message: "recovering a partial apply", Error: rerr.Error()})
		} else {
			tr.Recovered = true
			tr.RecoveredAt = r.o.Now().UTC()
			r.emit(plan.Event{Type: plan.EventRecovered, Target: t.String(), Objects: removed,
				Message: "partial apply recovered from the journal"})
		}
		return nil, errors.Join(errs...)
	}
	tr.Injected = true
	tr.InjectedAt = r.o.Now().UTC()
	r.emit(plan.Event{Type: plan.EventInjected, Target: t.String(), Objects: a.Objects(), Elapsed: plan.Duration(el)})
	if n, ok := a.(fault.Notes); ok {
		note(n.Notes())
	}
	r.reportsOf(t.String(), a)
	return &activeTarget{t: t, a: a, j: j, res: tr}, nil
}

// recover removes the fault from every active target at once: the targets are
// separate containers, and with many of them on one node a stop must not take their
// sum (issue 17: 10 pods, 105 ms one after the other).
func (r *runner) recover(ctx context.Context, actives []*activeTarget) error {
	errs := make([]error, len(actives))
	var wg sync.WaitGroup
	for i, at := range actives {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.recoverOne(ctx, at)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// recoverOne removes the fault from one target, from its journal if the graceful
// recovery fails.
func (r *runner) recoverOne(ctx context.Context, at *activeTarget) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
	defer cancel()
	pending := at.j.Pending()
	start := time.Now()
	objs, err := at.a.Recover(cctx)
	if err == nil {
		if len(objs) == 0 {
			objs = pending
		}
		err = at.j.Done()
	} else {
		r.emit(plan.Event{Type: plan.EventError, Target: at.t.String(),
			Message: "graceful recovery failed, recovering from the journal", Error: err.Error()})
		var jerr error
		objs, jerr = at.j.Recover(cctx)
		if jerr == nil {
			err = nil
		} else {
			err = fmt.Errorf("%w on %s: %w", ErrRecover, at.t, errors.Join(err, jerr))
		}
	}
	el := time.Since(start)
	if err != nil {
		at.res.Error = err.Error()
		r.emit(plan.Event{Type: plan.EventError, Target: at.t.String(), Message: "recovering", Error: err.Error()})
		return err
	}
	at.res.Recovered = true
	at.res.RecoveredAt = r.o.Now().UTC()
	r.emit(plan.Event{Type: plan.EventRecovered, Target: at.t.String(), Objects: objs, Elapsed: plan.Duration(el)})
	return nil
}
