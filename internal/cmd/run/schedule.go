package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/history"
	"github.com/kubectl-chaos/kubectl-chaos/internal/scenario"
	"github.com/kubectl-chaos/kubectl-chaos/internal/schedule"
)

// sched is a validated --schedule/--repeat with its firing times.
type sched struct {
	spec schedule.Spec
	next func(time.Time, int) (time.Time, bool)
}

// scheduleSpec validates --schedule, --until, --repeat and --interval (and, once the
// file is loaded, a Chaos Mesh Schedule's own cron, which --schedule or --repeat
// override).
func (o *Options) scheduleSpec(s *scenario.Scenario) (*sched, error) {
	now := o.Clock.Now()
	until, err := schedule.ParseUntil(o.Until, now)
	if err != nil {
		return nil, err
	}
	spec := schedule.Spec{Cron: o.Schedule, Until: until, Repeat: o.Repeat, Interval: o.Interval, RepeatSet: o.RepeatSet}
	if s != nil && spec.Cron == "" && !spec.RepeatSet && s.Schedule != "" {
		spec.Cron = s.Schedule
	}
	next, err := spec.Validate(now)
	if err != nil {
		return nil, err
	}
	return &sched{spec: spec, next: next}, nil
}

// words says how often, for the prompt.
func (s *sched) words() string {
	switch {
	case s.spec.Cron != "":
		w := "on the schedule " + s.spec.Cron
		if !s.spec.Until.IsZero() {
			w += " until " + s.spec.Until.Format(time.RFC3339)
		}
		return w
	case s.spec.RepeatSet:
		return fmt.Sprintf("%d time(s), %s apart", s.spec.Repeat, s.spec.Interval)
	}
	return "once"
}

// printFirings lists the next firings after a dry run's plan.
func printFirings(w io.Writer, s *sched, now time.Time) {
	if s.spec.Once() {
		return
	}
	var at []string
	prev := now
	for n := 1; n <= 5; n++ {
		t, ok := s.next(prev, n)
		if !ok {
			break
		}
		at = append(at, t.Format(time.DateTime))
		prev = t
	}
	fmt.Fprintf(w, "\nSchedule: %s; first runs at %s (one at a time: a firing due while a run is going is skipped)\n",
		s.words(), strings.Join(at, ", "))
}

// lock refuses a second run of the same scenario file from this machine while one runs.
func (o *Options) lock() (func(), error) {
	dir := ""
	if o.StateDir != nil {
		dir = o.StateDir()
	}
	abs, err := filepath.Abs(o.File)
	if err != nil {
		abs = o.File
	}
	release, err := history.Lock(dir, abs)
	switch {
	case errors.Is(err, history.ErrLocked):
		return nil, exit.Usagef("scenario %s is already running from this machine (%v): overlapping runs are refused", o.File, err)
	case err != nil:
		fmt.Fprintf(o.IO.ErrOut, "warning: overlapping runs of %s cannot be refused: %v\n", o.File, err)
		return func() {}, nil
	}
	return release, nil
}

// runScheduled runs the scenario at each firing, one at a time, and returns the worst
// firing's exit code.
func (o *Options) runScheduled(ctx context.Context, s *scenario.Scenario, ns string, sch *sched) error {
	fmt.Fprintf(o.IO.ErrOut, "schedule: scenario %s %s (Ctrl-C stops the run under way, recovers it and ends the schedule)\n", s.Name, sch.words())
	runs := 0
	var last error
	worst := schedule.Run(ctx, o.Clock, o.IO.ErrOut, sch.next, func(ctx context.Context, f schedule.Firing) (int, bool) {
		fmt.Fprintf(o.IO.ErrOut, "schedule: run %d (due %s)\n", f.N, f.At.Format(time.DateTime))
		runs = f.N
		err := o.runOnce(ctx, s, ns, f.N)
		if err != nil {
			last = err
		}
		return exit.Code(err), exit.Code(err) == exit.Interrupted
	})
	fmt.Fprintf(o.IO.ErrOut, "schedule: %d run(s) of scenario %s, worst exit code %d\n", runs, s.Name, worst)
	if worst == exit.OK {
		return nil
	}
	if last == nil {
		last = errors.New("interrupted before a run")
	}
	return &exit.Error{Code: worst, Err: fmt.Errorf("schedule of scenario %s: %d run(s), worst exit code %d; last error: %w", s.Name, runs, worst, last)}
}

// firingPath is a report's path for one firing: report-3.json for the third.
func firingPath(path string, firing int) string {
	if firing == 0 {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), firing, ext)
}

// record adds the run to the local history.
func (o *Options) record(res *scenario.Result, runErr error, firing int) {
	if o.StateDir == nil || res == nil {
		return
	}
	store := history.Store{Dir: o.StateDir()}
	if store.Dir == "" {
		return
	}
	e := history.Entry{ID: "run-" + strings.TrimPrefix(experiment.NewID(), "chaos-"), Kind: history.KindScenario,
		StartedAt: res.StartedAt, EndedAt: res.EndedAt, Result: res.Outcome, ExitCode: exit.Code(runErr), Firing: firing}
	if o.cmd != nil {
		e.Command = history.CommandLine(o.cmd, []string{o.File})
	} else {
		e.Command = "kubectl chaos run " + o.File
	}
	if runErr != nil {
		e.Error = experiment.Shorten(runErr.Error(), 300)
	}
	seen := map[string]bool{}
	for _, st := range res.Steps {
		if st.Experiment == nil {
			continue
		}
		e.Experiments = append(e.Experiments, st.Experiment.Experiment)
		for _, n := range st.Experiment.Nodes {
			if n.Result == nil {
				continue
			}
			for _, t := range n.Result.Targets {
				if !seen[t.Target] {
					seen[t.Target] = true
					e.Targets = append(e.Targets, t.Target)
				}
			}
		}
	}
	if err := store.Append(e); err != nil {
		fmt.Fprintf(o.IO.ErrOut, "warning: %v\n", err)
	}
}
