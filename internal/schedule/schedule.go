// Package schedule runs something on a cron schedule (--schedule, optionally --until)
// or N times at a fixed interval (--repeat N --interval D), one run at a time: a firing
// whose time comes while the previous run is still going is skipped and said so, never
// started next to it. The clock is injected, so tests run a day of firings at once.
package schedule

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
)

// MaxRepeat bounds --repeat.
const MaxRepeat = 10000

// Spec is how often to run: Cron (with Until) or Repeat with Interval; the zero Spec
// runs once.
type Spec struct {
	Cron     string
	Until    time.Time
	Repeat   int
	Interval time.Duration
	// RepeatSet: --repeat was given (so 0 is refused, not taken as "once").
	RepeatSet bool
}

// parser takes the standard 5 fields, an optional leading seconds field (6 fields)
// and the descriptors (@hourly, @every 30s).
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Once: the Spec asks for a single run.
func (s Spec) Once() bool { return s.Cron == "" && !s.RepeatSet }

// Validate checks the flags at now and returns the firing times: next(prev, n) is the
// n-th firing (n from 1) given the previous one's time (start for the first), false
// when there is none. Errors name the flag and its accepted range.
func (s Spec) Validate(now time.Time) (next func(prev time.Time, n int) (time.Time, bool), err error) {
	switch {
	case s.Cron != "" && s.RepeatSet:
		return nil, fmt.Errorf("--schedule and --repeat exclude each other: a cron decides when each run starts, or --repeat N --interval D does")
	case !s.RepeatSet && s.Interval != 0:
		return nil, fmt.Errorf("--interval goes with --repeat N (for a cron, --schedule '@every %s')", s.Interval)
	case s.Once() && !s.Until.IsZero():
		return nil, fmt.Errorf("--until bounds --schedule or --repeat; alone it means nothing")
	case !s.Until.IsZero() && !s.Until.After(now):
		return nil, fmt.Errorf("--until must be in the future, got %s (now %s)", s.Until.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if s.RepeatSet {
		if s.Repeat < 1 || s.Repeat > MaxRepeat {
			return nil, fmt.Errorf("--repeat must be between 1 and %d, got %d", MaxRepeat, s.Repeat)
		}
		if s.Interval <= 0 && s.Repeat > 1 {
			return nil, fmt.Errorf("--interval must be more than 0 with --repeat %d (e.g. --interval 10m), got %s", s.Repeat, s.Interval)
		}
		return func(prev time.Time, n int) (time.Time, bool) {
			if n > s.Repeat {
				return time.Time{}, false
			}
			if n == 1 {
				return prev, s.bounded(prev)
			}
			at := prev.Add(s.Interval)
			return at, s.bounded(at)
		}, nil
	}
	if s.Cron == "" {
		return func(prev time.Time, n int) (time.Time, bool) { return prev, n == 1 }, nil
	}
	sched, err := parser.Parse(s.Cron)
	if err != nil {
		return nil, fmt.Errorf("--schedule %q is not a cron schedule (MIN HOUR DAY MONTH WEEKDAY, an optional leading SECONDS field, or @hourly, @every 30s): %v", s.Cron, err)
	}
	first := sched.Next(now)
	if first.IsZero() {
		return nil, fmt.Errorf("--schedule %q never fires", s.Cron)
	}
	if !s.bounded(first) {
		return nil, fmt.Errorf("--schedule %q fires first at %s, after --until %s: nothing would run", s.Cron, first.Format(time.RFC3339), s.Until.Format(time.RFC3339))
	}
	return func(prev time.Time, _ int) (time.Time, bool) {
		at := sched.Next(prev)
		return at, !at.IsZero() && s.bounded(at)
	}, nil
}

func (s Spec) bounded(at time.Time) bool { return s.Until.IsZero() || !at.After(s.Until) }

// ParseUntil reads --until: an RFC 3339 time, or a duration from now (2h).
func ParseUntil(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("--until must be a time like %s or a duration from now like 2h, got %q", now.Add(2*time.Hour).Format(time.RFC3339), v)
}

// Clock is the time source of Run.
type Clock interface {
	Now() time.Time
	After(time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Firing is one run of a schedule.
type Firing struct {
	N  int       // 1, 2, … (skipped firings are not counted)
	At time.Time // when it was due
}

// Run runs fire at each firing of next (from Spec.Validate) until there is none, ctx
// ends, or fire says stop; w gets a line per wait and per skipped firing. It returns
// the worst exit code of the firings (Worst).
func Run(ctx context.Context, clock Clock, w io.Writer, next func(time.Time, int) (time.Time, bool),
	fire func(context.Context, Firing) (code int, stop bool)) int {
	worst := exit.OK
	prev := clock.Now()
	ran := 0
	for slot := 1; ; slot++ {
		at, ok := next(prev, slot)
		if !ok {
			return worst
		}
		prev = at
		if now := clock.Now(); at.Before(now) && ran > 0 {
			// Due while the previous run was going: refused, not started late.
			skipped, first := 0, at
			for ok && at.Before(now) {
				skipped++
				slot++
				prev = at
				at, ok = next(prev, slot)
			}
			fmt.Fprintf(w, "schedule: %d firing(s) due from %s to %s skipped: run %d was still running (overlapping runs are refused)\n",
				skipped, first.Format(time.TimeOnly), prev.Format(time.TimeOnly), ran)
			if !ok {
				return worst
			}
			prev = at
		}
		if d := at.Sub(clock.Now()); d > 0 {
			fmt.Fprintf(w, "schedule: run %d at %s (in %s)\n", ran+1, at.Format(time.DateTime), d.Round(time.Second))
			select {
			case <-ctx.Done():
				return Worst(worst, exit.Interrupted)
			case <-clock.After(d):
			}
		}
		ran++
		code, stop := fire(ctx, Firing{N: ran, At: at})
		worst = Worst(worst, code)
		if stop || ctx.Err() != nil {
			return worst
		}
	}
}

// severity orders exit codes from best to worst: a run where something may be left
// (fault) outranks an API error, which outranks bad input, an interruption, and a
// hypothesis that did not hold.
var severity = map[int]int{exit.OK: 0, exit.Hypothesis: 1, exit.Interrupted: 2, exit.Usage: 3, exit.API: 4, exit.Fault: 5}

// Worst is the worse of two exit codes.
func Worst(a, b int) int {
	if severity[b] > severity[a] {
		return b
	}
	return a
}
