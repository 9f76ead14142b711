// Package agent is what the helper pod runs: it reads its plan, resolves each target
// container, journals and applies the fault, reports JSON events on stdout, and recovers
// on every stop path (stdin EOF, stop line, SIGTERM, deadline), also after a crash by
// reading the journal.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/version"
)

// Resolver finds a target container's PID and namespaces on this node.
type Resolver interface {
	Resolve(ctx context.Context, t plan.Target) (fault.Target, error)
}

// Options for Run.
type Options struct {
	Plan   *plan.Plan
	Stdin  io.Reader // the operator's dead-man switch; nil = detached behaviour
	Stdout io.Writer // JSON events, one per line
	// TerminationLog is where the final plan.Result goes ("" = nowhere).
	TerminationLog string
	// JournalDir overrides Plan.JournalDir (tests).
	JournalDir string
	// Resolver defaults to the node's container runtime (Linux only).
	Resolver Resolver
	// HeartbeatInterval for heartbeat events; default 5s.
	HeartbeatInterval time.Duration
	// StepTimeout is a warm helper's per-step dead-man switch; default
	// plan.WarmStepTimeout (tests shorten it).
	StepTimeout time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// PodUID is the helper pod's UID (env POD_UID), written to the journal so a later
	// sweep can tell whether this helper is gone. "" = unknown.
	PodUID string
	// ProcRoot is the host's /proc for the sweep and the default resolver; default
	// /host/proc if present, else /proc.
	ProcRoot string
	// ProcessStart is when the agent's process started (zero: unknown), the first of
	// the marks on the first injected event.
	ProcessStart time.Time
	// InitStart is when the binary's first package inits ran (zero: unknown), just
	// after the exec: ProcessStart is the fork (runc's init, created before the exec).
	InitStart time.Time
	// CounterInterval is how often an attached agent reports its targets' counters;
	// default 1s. NoTrafficAfter is when a fault whose counters did not move is
	// flagged; default 10s.
	CounterInterval time.Duration
	NoTrafficAfter  time.Duration
}

// Defaults.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultHeartbeatTimeout  = 10 * time.Second
	// DefaultAttachTimeout bounds how long a freshly started attached agent waits for
	// the CLI to attach (its first heartbeat) before it gives up without injecting.
	DefaultAttachTimeout = 30 * time.Second
	// recoverTimeout bounds each target's recovery; it runs even after ctx is cancelled.
	recoverTimeout = 60 * time.Second
	// lockTimeout bounds the wait for the experiment's lock (a dying predecessor).
	lockTimeout = 5 * time.Second
	// MaxResultBytes is the kubelet's limit on a termination message.
	MaxResultBytes = 4096
)

// Errors Run wraps, so callers can pick an exit code.
var (
	// ErrApply: the fault could not be applied on some target (what was applied was recovered).
	ErrApply = errors.New("fault could not be applied")
	// ErrRecover: something may be left behind; the journal still records it.
	ErrRecover = errors.New("fault could not be recovered")
	// ErrPlan: the plan was refused before anything was done.
	ErrPlan = errors.New("invalid plan")
)

type runner struct {
	o        Options
	p        *plan.Plan
	dir      string
	restart  int
	res      *plan.Result
	byTarget map[string]*plan.TargetResult

	emitMu sync.Mutex
	// outMu serializes the lines on Stdout: a serving agent's steps share it.
	outMu *sync.Mutex
	stdin <-chan stdinMsg
	// step is the step plan's experiment ID of a serving agent's step runner (serve.go):
	// its events carry it.
	step string
	// steps are a serving agent's active steps (serve.go).
	steps    map[string]*stepRun
	stepDone chan *stepRun
	// marks are the steps up to the first injection (plan.Event.Marks), under emitMu.
	marks     []plan.Mark
	marksSent bool
}

type activeTarget struct {
	t   plan.Target
	a   fault.Active
	j   *journal.Journal
	res *plan.TargetResult
}

// Run applies the plan and blocks until a stop path fires; it always recovers before it
// returns. ctx cancellation is the SIGTERM path. The returned error wraps ErrPlan,
// ErrApply or ErrRecover; the Result is non-nil whenever the plan could be read.
func Run(ctx context.Context, o Options) (*plan.Result, error) {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ProcRoot == "" {
		o.ProcRoot = journal.DefaultProcRoot()
	}
	if o.Plan == nil {
		return nil, fmt.Errorf("%w: no plan", ErrPlan)
	}
	r := &runner{o: o, p: o.Plan, byTarget: map[string]*plan.TargetResult{}, outMu: &sync.Mutex{}}
	r.res = &plan.Result{Experiment: r.p.Experiment, Node: r.p.Node, Targets: []plan.TargetResult{}}
	r.dir = o.JournalDir
	if r.dir == "" {
		r.dir = r.p.JournalDir
	}
	if r.dir == "" {
		r.dir = plan.DefaultJournalDir
	}
	if r.p.Serve {
		return r.serve(ctx)
	}
	return r.run(ctx)
}

func (r *runner) run(ctx context.Context) (*plan.Result, error) {
	p := r.p
	if !r.o.ProcessStart.IsZero() {
		r.marks = append(r.marks, plan.Mark{Name: markProcess, At: r.o.ProcessStart.UTC()})
	}
	if !r.o.InitStart.IsZero() {
		r.marks = append(r.marks, plan.Mark{Name: markInit, At: r.o.InitStart.UTC()})
	}
	r.mark(markPlan)
	r.countRestarts()
	r.emit(plan.Event{Type: plan.EventStarted, Message: fmt.Sprintf(
		"kubectl-chaos agent %s: %s on %d target(s), deadline %s", version.Version,
		p.Fault.Summary(), len(p.Targets), p.Deadline.UTC().Format(time.RFC3339))})
	pr, res, err := r.prepare(ctx)
	if pr == nil {
		return res, err
	}
	defer pr.lock.Release()
	inj, oneShot, existing, old := pr.inj, pr.oneShot, pr.existing, pr.old
	done := make(chan struct{})
	defer close(done)
	if r.o.Stdin != nil {
		r.stdin = readStdin(r.o.Stdin, done)
	}
	// Resolving only reads: it runs while the CLI's attach is being set up (and the
	// sweep below), so the first heartbeat finds the targets resolved.
	pre := r.resolveAll(ctx)
	r.sweepOthers(ctx)
	if reason, err := r.awaitStart(ctx, existing, old, oneShot); reason != "" {
		return r.finish(reason, err)
	}
	r.mark(markGo)
	return r.inject(ctx, inj, pre, oneShot)
}

// inject applies the fault to the resolved targets, holds it until a stop path fires
// and recovers it: the part of a run an agent of one plan and a serving agent's step
// share.
func (r *runner) inject(ctx context.Context, inj fault.Injector, pre *resolution, oneShot bool) (*plan.Result, error) {
	if !r.o.Now().Before(r.p.Deadline) {
		return r.finish(plan.ReasonDeadline, nil)
	}
	actives, applyErr := r.apply(ctx, inj, pre)
	if len(actives) == 0 {
		return r.finish(plan.ReasonFailed, applyErr)
	}
	reason := plan.ReasonDone
	if !oneShot {
		cw := r.newCounterWatch(actives)
		reason = r.wait(ctx, len(actives), cw)
		cw.report() // the last word before the objects go
	}
	recErr := r.recover(ctx, actives)
	return r.finish(reason, errors.Join(recErr, applyErr))
}

// prepared is what comes before a fault: the injector, the experiment's journal lock
// (the caller releases it) and what a dead predecessor journaled.
type prepared struct {
	inj      fault.Injector
	oneShot  bool
	lock     *journal.Lock
	existing []string
	old      []*journal.File
}

// prepare checks the plan (injector), takes its experiment's journal lock, reads what
// a dead predecessor journaled and makes the result's targets: for an agent of one plan
// and a serving agent's step alike. On failure it returns the run's end instead.
func (r *runner) prepare(ctx context.Context) (*prepared, *plan.Result, error) {
	p := r.p
	inj, err := r.injector()
	if err != nil {
		res, err := r.fail(fmt.Errorf("%w: %w", ErrPlan, err))
		return nil, res, err
	}
	shot, _ := inj.(fault.OneShot)
	pr := &prepared{inj: inj, oneShot: shot != nil && shot.OneShot()}
	if pr.lock, err = journal.WaitLock(ctx, r.dir, p.Experiment, lockTimeout); err != nil {
		res, err := r.fail(fmt.Errorf("%w: taking the journal lock of experiment %s: %w", ErrApply, p.Experiment, err))
		return nil, res, err
	}
	if pr.existing, pr.old, err = r.readJournals(); err != nil {
		pr.lock.Release()
		res, err := r.fail(fmt.Errorf("%w: %w", ErrRecover, err))
		return nil, res, err
	}
	r.initTargets()
	return pr, nil, nil
}

// initTargets makes the result's entry of every target of the plan.
func (r *runner) initTargets() {
	for _, t := range r.p.Targets {
		r.res.Targets = append(r.res.Targets, plan.TargetResult{Target: t.String()})
	}
	for i := range r.res.Targets {
		r.byTarget[r.res.Targets[i].Target] = &r.res.Targets[i]
	}
}

// countRestarts reads the restart count of an existing journal of this experiment: a
// predecessor was killed mid-fault, so this run counts as a restart from its first
// event on (the journal lock settles who works on it).
func (r *runner) countRestarts() {
	if journal.ValidName(r.p.Experiment) != nil {
		return
	}
	paths, _ := journal.List(r.dir, r.p.Experiment)
	for _, path := range paths {
		if f, err := journal.Read(path); err == nil {
			r.restart = max(r.restart, f.Restart+1)
		}
	}
}

// injector checks the plan as the CLI did (it may not come from our CLI) and builds
// the fault's injector and the container resolver.
func (r *runner) injector() (fault.Injector, error) {
	p := r.p
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := journal.ValidName(p.Experiment); err != nil {
		return nil, err
	}
	if err := catalog.Validate(p.Fault); err != nil {
		return nil, err
	}
	inj, err := fault.New(p.Fault)
	if err != nil {
		return nil, err
	}
	if r.o.Resolver == nil {
		// A container the kubelet replaced since the plan was made is followed until
		// the fault's deadline at the latest (docs/agent.md, "A restart between the plan
		// and the injection").
		r.o.Resolver = container.New(container.Options{
			Endpoint: p.Runtime.Endpoint, Namespace: p.Runtime.Namespace, ProcRoot: r.o.ProcRoot,
			NotBefore: p.CreatedAt, Until: p.Deadline,
		})
		if co, ok := inj.(fault.ContainerOptional); ok && co.ContainerOptional() {
			// A fault that touches no container (noop) does not fail for one that
			// cannot be found on this host (session tests with made-up IDs).
			r.o.Resolver = lenientResolver{r.o.Resolver}
		}
	}
	return inj, nil
}

// readJournals reads this experiment's journals (under its lock): what a dead
// predecessor left to recover first.
func (r *runner) readJournals() (paths []string, old []*journal.File, err error) {
	paths, err = journal.List(r.dir, r.p.Experiment)
	if err != nil {
		return nil, nil, fmt.Errorf("listing journals: %w", err)
	}
	for _, path := range paths {
		f, err := journal.Read(path)
		if err != nil {
			return nil, nil, err
		}
		old = append(old, f)
		r.restart = max(r.restart, f.Restart+1)
	}
	return paths, old, nil
}

// sweepOthers recovers the journals of other experiments whose agents are dead.
func (r *runner) sweepOthers(ctx context.Context) {
	swept, err := journal.SweepWith(context.WithoutCancel(ctx), journal.SweepOptions{Dir: r.dir, Now: r.o.Now(), ProcRoot: r.o.ProcRoot})
	for _, s := range swept {
		r.emit(plan.Event{Type: plan.EventNote, Message: fmt.Sprintf(
			"swept experiment %s (%s): removed %d object(s) left by a dead agent", s.Experiment, s.Reason, len(s.Removed)),
			Objects: s.Removed, Error: s.Error})
	}
	if err != nil {
		r.emit(plan.Event{Type: plan.EventError, Message: "sweeping other experiments' journals", Error: err.Error()})
	}
}

// awaitStart is what comes before the fault: a restarted agent recovers its
// predecessor's targets and waits for its operator; an attached agent waits for the
// CLI's first heartbeat. A non-empty reason ends the run; a one-shot fault is not
// repeated by a restarted agent.
func (r *runner) awaitStart(ctx context.Context, existing []string, old []*journal.File, oneShot bool) (reason string, err error) {
	if len(old) > 0 {
		r.emit(plan.Event{Type: plan.EventNote, Message: fmt.Sprintf(
			"restarted after the previous agent died: recovering %d target(s) from its journal first", len(old))})
		if err := r.recoverOld(ctx, existing, old); err != nil {
			return plan.ReasonFailed, err
		}
		if oneShot {
			// At most once: the previous agent may already have done it.
			r.emit(plan.Event{Type: plan.EventNote, Message: "one-shot fault: not repeated after a restart (the previous agent may have done it)"})
			return plan.ReasonDone, nil
		}
		if reason := r.waitOperator(ctx); reason != "" {
			return reason, nil
		}
		r.emit(plan.Event{Type: plan.EventNote, Message: "resuming the fault until the deadline"})
		return "", nil
	}
	if !r.p.Detached && r.stdin != nil {
		// An attached agent injects only once its operator is listening: events written
		// before the CLI attaches are lost, and an operator that never attaches must
		// not leave a fault running. The CLI sends a heartbeat as soon as it attaches.
		return r.waitFirstHeartbeat(ctx), nil
	}
	return "", nil
}

// fail ends a run that did nothing.
func (r *runner) fail(err error) (*plan.Result, error) {
	r.res.Error = err.Error()
	r.emit(plan.Event{Type: plan.EventError, Error: err.Error()})
	return r.finish(plan.ReasonFailed, err)
}

func (r *runner) finish(reason string, err error) (*plan.Result, error) {
	r.res.Reason = reason
	if err != nil && r.res.Error == "" {
		r.res.Error = err.Error()
	}
	r.emit(plan.Event{Type: plan.EventExit, Reason: reason, Error: r.res.Error})
	if r.o.TerminationLog != "" {
		if werr := os.WriteFile(r.o.TerminationLog, EncodeResult(r.res), 0o644); werr != nil {
			err = errors.Join(err, fmt.Errorf("writing termination log %s: %w", r.o.TerminationLog, werr))
		}
	}
	return r.res, err
}

// recoverOld removes what a killed predecessor recorded.
func (r *runner) recoverOld(ctx context.Context, paths []string, files []*journal.File) error {
	var errs []error
	for i, path := range paths {
		f := files[i]
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
		start := time.Now()
		removed, err := journal.Recover(cctx, path)
		el := time.Since(start)
		cancel()
		if err != nil {
			r.emit(plan.Event{Type: plan.EventError, Target: f.Target.String(), Message: "recovering the previous agent's journal", Error: err.Error()})
			if tr := r.byTarget[f.Target.String()]; tr != nil {
				tr.Error = err.Error()
			}
			errs = append(errs, err)
			continue
		}
		r.emit(plan.Event{Type: plan.EventRecovered, Target: f.Target.String(), Objects: removed,
			Elapsed: plan.Duration(el), Message: "recovered from the previous agent's journal"})
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrRecover, errors.Join(errs...))
	}
	return nil
}

// waitFirstHeartbeat waits, bounded, for the attached operator's first heartbeat. It
// returns the stop reason, or "" to go on and inject.
func (r *runner) waitFirstHeartbeat(ctx context.Context) string {
	return r.awaitHeartbeat(ctx, max(r.p.HeartbeatTimeout.D(), DefaultAttachTimeout))
}

// waitOperator decides whether a restarted agent resumes: detached ones do; attached
// ones only when their operator's heartbeat arrives in time. It returns the stop
// reason, or "" to resume.
func (r *runner) waitOperator(ctx context.Context) string {
	if r.p.Detached {
		return ""
	}
	timeout := r.p.HeartbeatTimeout.D()
	if timeout <= 0 {
		timeout = DefaultHeartbeatTimeout
	}
	r.emit(plan.Event{Type: plan.EventNote, Message: fmt.Sprintf("waiting up to %s for the operator's heartbeat on stdin", timeout)})
	return r.awaitHeartbeat(ctx, timeout)
}

// awaitHeartbeat waits for a heartbeat line on stdin for at most timeout (and not past
// the deadline). It returns the stop reason, or "" when the heartbeat came.
func (r *runner) awaitHeartbeat(ctx context.Context, timeout time.Duration) string {
	t := time.NewTimer(timeout)
	defer t.Stop()
	dl := time.NewTimer(r.p.Deadline.Sub(r.o.Now()))
	defer dl.Stop()
	for {
		select {
		case <-ctx.Done():
			return plan.ReasonSignal
		case <-dl.C:
			return plan.ReasonDeadline
		case <-t.C:
			return plan.ReasonNoHeartbeat
		case m := <-r.stdin:
			switch {
			case m.kind == msgHeartbeat:
				return ""
			case m.kind == msgStop && m.arg == "":
				return plan.ReasonStopped
			case m.kind == msgEOF:
				return plan.ReasonEOF
			}
		}
	}
}

// reportsOf hands an Active that counts what it does (fault.Reporter) a way to report
// it: each report becomes a note event of its target.
func (r *runner) reportsOf(target string, a fault.Active) {
	if rp, ok := a.(fault.Reporter); ok {
		rp.SetReport(func(s string) { r.emit(plan.Event{Type: plan.EventNote, Target: target, Message: s}) })
	}
}

// wait blocks until a stop path fires and returns its reason.
func (r *runner) wait(ctx context.Context, n int, cw *counterWatch) string {
	dl := time.NewTimer(r.p.Deadline.Sub(r.o.Now()))
	defer dl.Stop()
	hb := time.NewTicker(r.o.HeartbeatInterval)
	defer hb.Stop()
	var counters <-chan time.Time
	if len(cw.targets) > 0 {
		ct := time.NewTicker(r.counterInterval())
		defer ct.Stop()
		counters = ct.C
	}
	stdin := r.stdin
	for {
		select {
		case <-ctx.Done():
			return plan.ReasonSignal
		case <-dl.C:
			return plan.ReasonDeadline
		case <-hb.C:
			r.emit(plan.Event{Type: plan.EventHeartbeat, Message: fmt.Sprintf("%d target(s) active", n)})
		case <-counters:
			cw.report()
		case m := <-stdin:
			switch {
			case m.kind == msgStop && m.arg == "":
				return plan.ReasonStopped
			case m.kind == msgEOF:
				if !r.p.Detached {
					return plan.ReasonEOF
				}
				stdin = nil // detached: nobody listens any more, run on
			}
		}
	}
}

// emit writes one event as one line; writes are serialized.
func (r *runner) emit(e plan.Event) {
	e.Time = r.o.Now().UTC()
	e.Node = r.p.Node
	e.Restart = r.restart
	if e.Step == "" {
		e.Step = r.step
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	if e.Type == plan.EventInjected && !r.marksSent {
		r.marksSent = true
		e.Marks = append(r.marks, plan.Mark{Name: markInjected, At: e.Time})
	}
	line := append(plan.EncodeEvent(e), '\n')
	r.outMu.Lock()
	defer r.outMu.Unlock()
	r.o.Stdout.Write(line)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// lenientResolver resolves what it can and returns the bare target otherwise.
type lenientResolver struct{ r Resolver }

func (l lenientResolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	ft, err := l.r.Resolve(ctx, t)
	if err != nil {
		return fault.Target{Target: t}, nil
	}
	return ft, nil
}
