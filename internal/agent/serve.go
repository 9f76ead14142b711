package agent

// A serving agent (Plan.Serve) is the helper of a kubectl chaos run. A pod's
// activeDeadlineSeconds can only be lowered and its environment cannot change, so the
// run creates its helper once per node with the whole run's deadline, and each fault
// step comes on stdin as "plan KEY JSON": the step's plan is checked again exactly as a
// plan from the environment is (and against the helper's own plan), applied, held
// until the step's own deadline ("stop STEP", the agent's stop, stdin EOF and SIGTERM
// end it earlier) and recovered, journaled under the step's experiment ID like any
// fault, so a restarted agent or a sweep recovers it after a kill -9.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/version"
)

// maxSteps bounds the steps one serving agent holds at once.
const maxSteps = 32

// stepRun is one step of a serving agent: its runner, its stop channel and, once it
// ended, its result.
type stepRun struct {
	sub  *runner
	stop chan stdinMsg
	res  *plan.Result
	err  error
	// beat: the step's last "heartbeat STEP" (a warm helper's steps); lost: its
	// dead-man switch fired.
	beat time.Time
	lost bool
}

// signal passes a stop (or EOF) to the step; one is enough.
func (s *stepRun) signal(k msgKind) {
	select {
	case s.stop <- stdinMsg{kind: k}:
	default:
	}
}

// serve runs a serving agent until its stop, stdin EOF, SIGTERM or deadline; every
// step still active then is recovered before it returns.
func (r *runner) serve(ctx context.Context) (*plan.Result, error) {
	p := r.p
	r.emit(plan.Event{Type: plan.EventStarted, Message: fmt.Sprintf(
		"kubectl-chaos agent %s: serving the steps of run %s on node %s until %s", version.Version,
		p.Experiment, p.Node, p.Deadline.UTC().Format(time.RFC3339))})
	if err := r.checkServe(); err != nil {
		return r.fail(fmt.Errorf("%w: %w", ErrPlan, err))
	}
	lock, err := journal.WaitLock(ctx, r.dir, p.Experiment, lockTimeout)
	if err != nil {
		return r.fail(fmt.Errorf("%w: taking the journal lock of run %s: %w", ErrApply, p.Experiment, err))
	}
	defer lock.Release()
	done := make(chan struct{})
	defer close(done)
	r.stdin = readStdin(r.o.Stdin, done)
	r.steps = map[string]*stepRun{}
	r.stepDone = make(chan *stepRun, maxSteps)
	// What a predecessor killed mid-step left goes first; the CLI hears of it once it
	// listens (lines written before its attach reach nobody).
	later, recErr := r.recoverSteps(ctx)
	r.sweepOthers(ctx)
	emitLater := func() {
		for _, e := range later {
			r.emit(e)
		}
	}
	if recErr != nil {
		emitLater()
		return r.finish(plan.ReasonFailed, recErr)
	}
	if reason := r.waitFirstHeartbeat(ctx); reason != "" {
		emitLater()
		return r.finish(reason, nil)
	}
	// The CLI sends step plans once a line of ours came through its attach.
	r.emit(plan.Event{Type: plan.EventHeartbeat, Message: "serving: 0 step(s) active"})
	emitLater()
	reason := r.serveLoop(ctx)
	return r.finish(reason, r.endSteps(reason))
}

// checkServe checks the serving helper's own plan.
func (r *runner) checkServe() error {
	if err := r.p.Validate(); err != nil {
		return err
	}
	if err := journal.ValidName(r.p.Experiment); err != nil {
		return err
	}
	if r.p.Detached || r.o.Stdin == nil {
		return errors.New("a serving helper takes its steps on stdin: it cannot be detached")
	}
	return nil
}

// serveLoop takes step plans and stops until the agent itself is stopped.
func (r *runner) serveLoop(ctx context.Context) string {
	dl := time.NewTimer(r.p.Deadline.Sub(r.o.Now()))
	defer dl.Stop()
	hb := time.NewTicker(r.o.HeartbeatInterval)
	defer hb.Stop()
	var beats <-chan time.Time
	if r.p.Warm {
		t := time.NewTicker(r.stepTimeout() / 10)
		defer t.Stop()
		beats = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return plan.ReasonSignal
		case <-dl.C:
			return plan.ReasonDeadline
		case <-hb.C:
			r.emit(plan.Event{Type: plan.EventHeartbeat, Message: fmt.Sprintf("serving: %d step(s) active", len(r.steps))})
		case <-beats:
			r.checkBeats()
		case s := <-r.stepDone:
			r.stepEnded(s)
		case m := <-r.stdin:
			switch m.kind {
			case msgHeartbeat:
				if s := r.steps[m.arg]; s != nil && m.arg != "" {
					s.beat = r.o.Now()
				}
			case msgStop:
				if m.arg == "" {
					return plan.ReasonStopped
				}
				if s := r.steps[m.arg]; s != nil {
					s.signal(msgStop)
				}
			case msgEOF:
				return plan.ReasonEOF
			case msgPlan:
				r.startStep(ctx, m.arg)
			}
		}
	}
}

// endSteps stops every active step and waits until each has recovered; the error
// joins the recoveries that failed (the journal keeps them for the next agent).
func (r *runner) endSteps(reason string) error {
	k := msgStop
	if reason == plan.ReasonEOF {
		k = msgEOF
	}
	for _, s := range r.steps {
		s.signal(k)
	}
	for len(r.steps) > 0 {
		r.stepEnded(<-r.stepDone)
	}
	if r.res.Error != "" {
		return fmt.Errorf("%w: %s", ErrRecover, r.res.Error)
	}
	return nil
}

// stepEnded takes in a step's end: its targets join the agent's result, and a failed
// recovery becomes the agent's (exit non-zero: the next agent recovers the journal).
func (r *runner) stepEnded(s *stepRun) {
	delete(r.steps, s.sub.step)
	if s.res != nil {
		r.res.Targets = append(r.res.Targets, stepTargets(s.sub.p, s.res.Targets)...)
	}
	if errors.Is(s.err, ErrRecover) {
		msg := fmt.Sprintf("step %s: %v", s.sub.step, s.err)
		if r.res.Error != "" {
			msg = r.res.Error + "; " + msg
		}
		r.res.Error = msg
	}
}

// stepTargets tags a step's target results with the step's experiment ID and each pod's
// UID: the serving agent's result gathers every step's, and ls/gc write the Events of
// each step from it when the CLI could not (internal/podevents).
func stepTargets(step *plan.Plan, trs []plan.TargetResult) []plan.TargetResult {
	out := make([]plan.TargetResult, len(trs))
	for i, tr := range trs {
		tr.Step = step.Experiment
		for _, t := range step.Targets {
			if t.String() == tr.Target {
				tr.PodUID = t.PodUID
			}
		}
		out[i] = tr
	}
	return out
}

// startStep checks a plan line and starts its step; a refused one is said with an
// error and the step's exit event (and nothing is created).
func (r *runner) startStep(ctx context.Context, arg string) {
	key, js, _ := strings.Cut(arg, " ")
	if err := r.checkKey(key); err != nil {
		// Not the CLI's: no step ID is echoed, so a forger cannot end the CLI's view
		// of a step.
		r.emit(plan.Event{Type: plan.EventError, Message: "step plan refused", Error: err.Error()})
		return
	}
	step, err := plan.Decode(js)
	if err == nil && step.Experiment == "" {
		err = errors.New("plan: experiment is empty")
	}
	if err != nil {
		// No step to name: an exit event without one would read as the agent's.
		r.emit(plan.Event{Type: plan.EventError, Message: "step plan refused", Error: err.Error()})
		return
	}
	if err := r.checkStep(step); err != nil {
		err = fmt.Errorf("%w: step plan refused: %w", ErrPlan, err)
		r.emit(plan.Event{Type: plan.EventError, Step: step.Experiment, Message: "step plan refused", Error: err.Error()})
		r.emit(plan.Event{Type: plan.EventExit, Step: step.Experiment, Reason: plan.ReasonFailed, Error: err.Error()})
		return
	}
	sub := r.stepRunner(step)
	s := &stepRun{sub: sub, stop: make(chan stdinMsg, 1)}
	sub.stdin = s.stop
	s.beat = r.o.Now()
	r.steps[step.Experiment] = s
	go func() {
		s.res, s.err = sub.runStep(ctx)
		r.stepDone <- s
	}()
}

// stepTimeout is a warm helper's per-step dead-man switch (Options.StepTimeout, tests
// shorten it; else plan.WarmStepTimeout).
func (r *runner) stepTimeout() time.Duration {
	if r.o.StepTimeout > 0 {
		return r.o.StepTimeout
	}
	return plan.WarmStepTimeout
}

// checkBeats recovers each step of a warm helper whose CLI went silent: its attach
// ended (Ctrl-C lost, kill -9, network) and stdin EOF cannot tell, as the helper's
// stdin outlives every attach. The step ends as on EOF ("the operator left"); the
// helper serves on.
func (r *runner) checkBeats() {
	now := r.o.Now()
	for id, s := range r.steps {
		if s.lost || now.Sub(s.beat) < r.stepTimeout() {
			continue
		}
		s.lost = true
		r.emit(plan.Event{Type: plan.EventNote, Step: id, Message: fmt.Sprintf(
			"no heartbeat of this step for %s: its operator is gone, recovering it", r.stepTimeout())})
		s.signal(msgEOF)
	}
}

// checkKey: the plan line's key must hash to the helper's stepKey.
func (r *runner) checkKey(key string) error {
	sum := sha256.Sum256([]byte(key))
	if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(r.p.StepKey)) != 1 {
		return errors.New("step plan refused: its key does not match the helper's stepKey")
	}
	return nil
}

// checkStep checks a step plan against the helper's own plan; what any plan must be
// (version, kind, the kind's limits) is checked by runStep as for a plan from the
// environment.
func (r *runner) checkStep(step *plan.Plan) error {
	base := r.p
	now := r.o.Now()
	jdir := func(d string) string {
		if d == "" {
			return plan.DefaultJournalDir
		}
		return d
	}
	switch {
	case step.Serve:
		return errors.New("a step plan cannot serve steps itself (serve: true)")
	case step.Node != base.Node:
		return fmt.Errorf("node %q is not this helper's node %q", step.Node, base.Node)
	case step.Detached:
		return errors.New("a step of a run is attached (detached: true refused)")
	case step.Experiment == base.Experiment:
		return fmt.Errorf("experiment %s is the run's own ID, not a step's", step.Experiment)
	case r.steps[step.Experiment] != nil:
		return fmt.Errorf("step %s is already active on this helper", step.Experiment)
	case len(r.steps) >= maxSteps:
		return fmt.Errorf("%d steps are active on this helper already (at most %d)", len(r.steps), maxSteps)
	case step.Deadline.After(base.Deadline):
		return fmt.Errorf("deadline %s is after the helper's %s", step.Deadline.UTC().Format(time.RFC3339), base.Deadline.UTC().Format(time.RFC3339))
	case !step.Deadline.After(now):
		return fmt.Errorf("deadline %s has passed", step.Deadline.UTC().Format(time.RFC3339))
	case step.Runtime != base.Runtime:
		return fmt.Errorf("runtime %+v is not the helper's %+v (the socket it mounts)", step.Runtime, base.Runtime)
	case jdir(step.JournalDir) != jdir(base.JournalDir):
		return fmt.Errorf("journalDir %q is not the helper's %q", step.JournalDir, base.JournalDir)
	}
	return nil
}

// stepRunner is the runner of one step: the helper's options with the step's plan,
// writing on the same stdout, its events tagged with the step's ID.
func (r *runner) stepRunner(step *plan.Plan) *runner {
	o := r.o
	o.Plan, o.TerminationLog, o.ProcessStart = step, "", time.Time{}
	sub := &runner{o: o, p: step, dir: r.dir, byTarget: map[string]*plan.TargetResult{}, outMu: r.outMu, step: step.Experiment}
	sub.res = &plan.Result{Experiment: step.Experiment, Node: step.Node, Targets: []plan.TargetResult{}}
	return sub
}

// runStep is one step: the plan checked as an agent of one plan checks its own, the
// step's journal lock, then inject (apply, hold until a stop path, recover).
func (r *runner) runStep(ctx context.Context) (*plan.Result, error) {
	p := r.p
	r.mark(markPlan)
	r.emit(plan.Event{Type: plan.EventStarted, Message: fmt.Sprintf("step %s: %s on %d target(s), deadline %s",
		p.Experiment, p.Fault.Summary(), len(p.Targets), p.Deadline.UTC().Format(time.RFC3339))})
	pr, res, err := r.prepare(ctx)
	if pr == nil {
		return res, err
	}
	defer pr.lock.Release()
	if len(pr.old) > 0 {
		// The same step sent again after its agent died: what that one left goes first.
		if err := r.recoverOld(ctx, pr.existing, pr.old); err != nil {
			return r.finish(plan.ReasonFailed, err)
		}
	}
	return r.inject(ctx, pr.inj, r.resolveAll(ctx), pr.oneShot)
}

// recoverSteps recovers the step journals a previous agent of this helper pod left
// when it died (kill -9, OOM kill): they are found by the helper pod's UID in their
// meta, as the step IDs were only in that agent's memory. It returns the events that
// say so, for when the CLI listens.
func (r *runner) recoverSteps(ctx context.Context) ([]plan.Event, error) {
	if r.o.PodUID == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: listing journals in %s: %w", ErrRecover, r.dir, err)
	}
	var evs []plan.Event
	var errs []error
	for _, de := range ents {
		id := de.Name()
		if !de.IsDir() || strings.HasPrefix(id, ".") || id == r.p.Experiment {
			continue
		}
		l, err := journal.TryLock(r.dir, id)
		if err != nil {
			continue // a live agent's, or not ours to judge
		}
		e, err := r.recoverStep(ctx, id)
		evs = append(evs, e...)
		if err != nil {
			errs = append(errs, err)
		}
		l.Release()
	}
	if len(errs) > 0 {
		return evs, fmt.Errorf("%w: %w", ErrRecover, errors.Join(errs...))
	}
	return evs, nil
}

// recoverStep recovers one step's journals if this helper pod wrote them.
func (r *runner) recoverStep(ctx context.Context, id string) ([]plan.Event, error) {
	paths, err := journal.List(r.dir, id)
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	files := make([]*journal.File, len(paths))
	for i, path := range paths {
		f, err := journal.Read(path)
		if err != nil {
			return nil, err
		}
		if f.HelperPodUID != r.o.PodUID {
			return nil, nil // another helper's
		}
		files[i] = f
	}
	var evs []plan.Event
	var errs []error
	for i, path := range paths {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverTimeout)
		start := time.Now()
		removed, err := journal.Recover(cctx, path)
		cancel()
		target := files[i].Target.String()
		if err != nil {
			errs = append(errs, err)
			evs = append(evs, plan.Event{Type: plan.EventError, Step: id, Target: target,
				Message: "recovering the journal of this helper's previous agent", Error: err.Error()})
			continue
		}
		evs = append(evs, plan.Event{Type: plan.EventRecovered, Step: id, Target: target, Objects: removed,
			Elapsed: plan.Duration(time.Since(start)), Message: "recovered from the journal of this helper's previous agent, which died"})
	}
	err = errors.Join(errs...)
	exit := plan.Event{Type: plan.EventExit, Step: id, Reason: plan.ReasonFailed,
		Error: "the helper's agent died during this step; its fault was recovered from the journal"}
	if err != nil {
		exit.Error += "; some of it could not be: " + err.Error()
	}
	return append(evs, exit), err
}
