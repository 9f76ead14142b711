package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Outcomes of a run.
const (
	Passed      = "passed"      // every probe held, every step did what it says
	Failed      = "failed"      // a probe failed (the hypothesis did not hold) or a step failed
	Aborted     = "aborted"     // a probe with abortOn failed, or spec.duration ended: everything was recovered
	Interrupted = "interrupted" // Ctrl-C: everything was recovered
)

// Result is the outcome of one run, the source of the JSON and JUnit reports.
type Result struct {
	Scenario  string        `json:"scenario"`
	File      string        `json:"file"`
	Outcome   string        `json:"outcome"`
	Reason    string        `json:"reason,omitempty"`
	StartedAt time.Time     `json:"startedAt"`
	EndedAt   time.Time     `json:"endedAt"`
	Steps     []StepResult  `json:"steps"`
	Probes    []ProbeResult `json:"probes"`
	// Helpers is the run's helpers (one per node, shared by the fault steps): their
	// pods and how they ended.
	Helpers *session.Report `json:"helpers,omitempty"`
}

// StepResult is one step's outcome; a fault step carries its experiment's report (per
// target: injected and recovered times, per node: inject and recover latency).
type StepResult struct {
	Step       string          `json:"step"`
	Field      string          `json:"field"`
	Type       string          `json:"type"`
	StartedAt  time.Time       `json:"startedAt"`
	EndedAt    time.Time       `json:"endedAt"`
	Status     string          `json:"status"` // ok, failed, interrupted
	Error      string          `json:"error,omitempty"`
	Probe      *ProbeResult    `json:"probe,omitempty"`
	Experiment *session.Report `json:"experiment,omitempty"`
	// PlannedAt is when the step's experiment was stamped (its plan's createdAt).
	PlannedAt time.Time `json:"plannedAt,omitzero"`
}

// Runner executes a scenario.
type Runner struct {
	IO      *ui.IOStreams
	Checker *Checker
	// NoEvents: no Kubernetes Events on the targets of any step (run --events=false).
	NoEvents bool

	mu     sync.Mutex
	res    *Result
	abort  context.CancelCauseFunc
	failed bool

	// The run's helpers (pool.go), made by the first fault step that needs them.
	poolMu       sync.Mutex
	pool         *session.Pool
	poolKey      string
	poolErr      error
	poolDeadline time.Time
}

// errAbort is the cause of a run cancelled by an abortOn probe or a failed step.
var errAbort = errors.New("aborted")

// Run executes s: the before probes (steady state; nothing is injected when one
// fails), then the steps with the during probes, then the after probes. An abortOn
// probe, a failed step, spec.duration or ctx (Ctrl-C) stops every running step, whose
// experiments recover everything before Run returns. The error carries the exit code.
func (r *Runner) Run(ctx context.Context, s *Scenario) (*Result, error) {
	r.res = &Result{Scenario: s.Name, File: s.File, StartedAt: time.Now().UTC(), Steps: []StepResult{}, Probes: []ProbeResult{}}
	defer func() { r.res.EndedAt = time.Now().UTC() }()
	w := r.IO.ErrOut
	fmt.Fprintf(w, "scenario %s: %d step(s), %d probe(s), at most %s\n", s.Name, len(s.Steps), len(s.Probes), s.Duration)
	if !r.phase(ctx, s, "before") {
		r.res.Outcome, r.res.Reason = Failed, "the steady state did not hold before the steps: nothing was injected"
		return r.res, r.exitErr()
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	r.abort = cancel
	r.poolDeadline = time.Now().Add(s.Duration + poolGrace)
	runCtx, cancelT := context.WithTimeoutCause(runCtx, s.Duration, fmt.Errorf("spec.duration %s ended", s.Duration))
	stopDuring := r.during(runCtx, s)
	r.steps(runCtx, s.Steps)
	stopDuring()
	r.closePool()
	cause := context.Cause(runCtx)
	cancelT()
	cancel(nil)
	switch {
	case ctx.Err() != nil:
		r.res.Outcome, r.res.Reason = Interrupted, "interrupted: every step was stopped and recovered"
		return r.res, r.exitErr()
	case cause != nil:
		r.res.Outcome = Aborted
		if r.res.Reason == "" {
			r.res.Reason = cause.Error()
		}
		r.res.Reason += "; every step was stopped and recovered"
	}
	r.phase(ctx, s, "after")
	if r.res.Outcome == "" {
		r.res.Outcome = Passed
		if r.failed {
			r.res.Outcome = Failed
		}
	}
	return r.res, r.exitErr()
}

func (r *Runner) exitErr() error {
	switch r.res.Outcome {
	case Passed:
		return nil
	case Interrupted:
		return exit.InterruptedError(fmt.Errorf("scenario %s interrupted; every step was recovered", r.res.Scenario))
	}
	for _, st := range r.res.Steps {
		if st.Type == "fault" && st.Status == "failed" {
			return exit.FaultError(fmt.Errorf("scenario %s %s: step %s: %s", r.res.Scenario, r.res.Outcome, st.Step, st.Error))
		}
	}
	reason := r.res.Reason
	if reason == "" {
		reason = "a probe or step failed (see the report)"
	}
	return exit.HypothesisError(fmt.Errorf("scenario %s %s: %s", r.res.Scenario, r.res.Outcome, reason))
}

// phase runs the probes of a one-shot phase (before, after); false if one failed.
func (r *Runner) phase(ctx context.Context, s *Scenario, phase string) bool {
	ok := true
	for _, p := range s.Probes {
		if p.Has(phase) && ctx.Err() == nil {
			ok = r.check(ctx, p, phase) && ok
		}
	}
	return ok
}

func (r *Runner) check(ctx context.Context, p *Probe, phase string) bool {
	pr, ok := r.checkResult(ctx, p, phase)
	return ok || pr == nil
}

// checkResult runs p and records its result; nil when ctx ended under the probe (not
// the system's answer, not recorded).
func (r *Runner) checkResult(ctx context.Context, p *Probe, phase string) (*ProbeResult, bool) {
	pr := r.Checker.Check(ctx, p, phase)
	if ctx.Err() != nil && !pr.OK {
		return nil, false
	}
	r.mu.Lock()
	r.res.Probes = append(r.res.Probes, pr)
	if !pr.OK {
		r.failed = true
	}
	r.mu.Unlock()
	mark := "ok  "
	if !pr.OK {
		mark = "FAIL"
	}
	fmt.Fprintf(r.IO.ErrOut, "probe %s %-6s %s: %s\n", mark, phase, pr.Probe, pr.Message)
	if !pr.OK && p.AbortOn {
		r.stop(fmt.Sprintf("probe %s failed (abortOn): %s", pr.Probe, pr.Message))
	}
	return &pr, pr.OK
}

// stop aborts the run (first reason wins): the steps' contexts end, their experiments
// recover.
func (r *Runner) stop(reason string) {
	r.mu.Lock()
	if r.res.Reason == "" {
		r.res.Reason = reason
	}
	r.failed = true
	r.mu.Unlock()
	fmt.Fprintf(r.IO.ErrOut, "scenario %s: aborting: %s\n", r.res.Scenario, reason)
	r.abort(errAbort)
}

// during starts the during probes, each every interval until the returned stop.
func (r *Runner) during(ctx context.Context, s *Scenario) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, p := range s.Probes {
		if !p.Has("during") {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(p.Interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					r.check(ctx, p, "during")
				}
			}
		}()
	}
	return func() { cancel(); wg.Wait() }
}

func (r *Runner) steps(ctx context.Context, steps []*Step) {
	for _, st := range steps {
		if ctx.Err() != nil {
			return
		}
		r.step(ctx, st)
	}
}

func (r *Runner) step(ctx context.Context, st *Step) {
	switch {
	case st.Serial != nil:
		r.steps(ctx, st.Serial)
		return
	case st.Parallel != nil:
		var wg sync.WaitGroup
		for _, p := range st.Parallel {
			wg.Add(1)
			go func() { defer wg.Done(); r.step(ctx, p) }()
		}
		wg.Wait()
		return
	}
	sr := StepResult{Step: st.Title(), Field: st.Field, Type: st.Type(), StartedAt: time.Now().UTC(), Status: "ok"}
	fmt.Fprintf(r.IO.ErrOut, "step %s: %s\n", st.Field, st.Title())
	var err error
	switch {
	case st.Fault != nil:
		err = r.fault(ctx, st.Fault, &sr)
	case st.Probe != nil:
		pr, ok := r.checkResult(ctx, st.Probe, "step")
		if pr != nil && !ok {
			err = fmt.Errorf("probe failed: %s", pr.Message)
		}
		sr.Probe = pr
	case st.Command != nil:
		cctx, cancel := context.WithTimeout(ctx, st.Command.Timeout)
		var msg string
		msg, err = runCommand(cctx, st.Command)
		cancel()
		fmt.Fprintf(r.IO.ErrOut, "  %s\n", msg)
	default:
		t := time.NewTimer(st.Wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	sr.EndedAt = time.Now().UTC()
	switch {
	case ctx.Err() != nil && (err == nil || st.Fault != nil && exit.Code(err) == exit.Interrupted):
		sr.Status = "interrupted"
	case err != nil:
		sr.Status, sr.Error = "failed", err.Error()
	}
	r.mu.Lock()
	r.res.Steps = append(r.res.Steps, sr)
	r.mu.Unlock()
	// A failed probe step marks the hypothesis failed; it stops the run only with
	// abortOn (checkResult did). Any other failed step stops it.
	if sr.Status == "failed" && st.Probe == nil {
		r.stop(fmt.Sprintf("step %s (%s) failed: %s", st.Field, st.Title(), sr.Error))
	}
}

// fault runs the step's experiment through the engine, its report and progress on
// stderr (stdout is the scenario's), and keeps its report.
func (r *Runner) fault(ctx context.Context, fs *FaultStep, sr *StepResult) error {
	o := *fs.Options
	o.Yes, o.DryRun, o.Detach, o.Output = true, false, false, ""
	o.Events = o.Events && !r.NoEvents
	stepIO := *r.IO
	stepIO.Out = indent(r.IO.ErrOut)
	o.IO = &stepIO
	o.Helpers = r.helpersFor(ctx, &o)
	o.OnReport = func(p *experiment.Prepared, rep *session.Report) {
		r.mu.Lock()
		defer r.mu.Unlock()
		sr.Experiment, sr.PlannedAt = rep, p.CreatedAt
	}
	return experiment.RunOwned(ctx, &o)
}

// indent prefixes every line written to w with two spaces.
func indent(w io.Writer) io.Writer { return &prefixer{w: w, pad: "  ", bol: true} }
