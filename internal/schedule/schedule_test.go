package schedule

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
)

// fakeClock jumps to the end of every wait at once; runs advance it by what they take.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

var t0 = time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		spec Spec
		want string // "" valid
	}{
		{"once", Spec{}, ""},
		{"cron", Spec{Cron: "*/30 * * * *"}, ""},
		{"cron with seconds", Spec{Cron: "*/5 * * * * *"}, ""},
		{"descriptor", Spec{Cron: "@every 90s", Until: t0.Add(time.Hour)}, ""},
		{"bad cron", Spec{Cron: "*/30 * *"}, "--schedule \"*/30 * *\" is not a cron schedule"},
		{"bad field", Spec{Cron: "61 * * * *"}, "--schedule"},
		{"repeat", Spec{Repeat: 3, Interval: time.Minute, RepeatSet: true}, ""},
		{"repeat once", Spec{Repeat: 1, RepeatSet: true}, ""},
		{"repeat 0", Spec{Repeat: 0, Interval: time.Minute, RepeatSet: true}, "--repeat must be between 1 and 10000, got 0"},
		{"repeat huge", Spec{Repeat: 10001, Interval: time.Minute, RepeatSet: true}, "--repeat must be between 1 and 10000"},
		{"no interval", Spec{Repeat: 3, RepeatSet: true}, "--interval must be more than 0 with --repeat 3"},
		{"negative interval", Spec{Repeat: 3, Interval: -time.Second, RepeatSet: true}, "--interval must be more than 0"},
		{"interval alone", Spec{Interval: time.Minute}, "--interval goes with --repeat"},
		{"both", Spec{Cron: "@hourly", Repeat: 2, Interval: time.Minute, RepeatSet: true}, "--schedule and --repeat exclude each other"},
		{"until past", Spec{Cron: "@hourly", Until: t0.Add(-time.Minute)}, "--until must be in the future"},
		{"until alone", Spec{Until: t0.Add(time.Hour)}, "--until bounds --schedule or --repeat"},
		{"until before first", Spec{Cron: "0 12 * * *", Until: t0.Add(time.Hour)}, "fires first at 2026-12-01T12:00:00Z, after --until"},
	} {
		_, err := tt.spec.Validate(t0)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.want)
		}
	}
	if u, err := ParseUntil("2h", t0); err != nil || !u.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("until 2h: %s %v", u, err)
	}
	if u, err := ParseUntil("2026-12-01T18:00:00Z", t0); err != nil || u.Hour() != 18 {
		t.Errorf("until RFC 3339: %s %v", u, err)
	}
	if _, err := ParseUntil("tomorrow", t0); err == nil || !strings.Contains(err.Error(), "--until must be a time like") {
		t.Errorf("until tomorrow: %v", err)
	}
}

// A cron every 10 minutes for an hour: six firings at their times, each run taking 2
// minutes; the worst exit code wins.
func TestRunCron(t *testing.T) {
	clk := &fakeClock{now: t0}
	next, err := Spec{Cron: "*/10 * * * *", Until: t0.Add(time.Hour)}.Validate(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var at []string
	codes := []int{exit.OK, exit.Hypothesis, exit.OK, exit.OK, exit.OK, exit.OK}
	var w bytes.Buffer
	worst := Run(context.Background(), clk, &w, next, func(_ context.Context, f Firing) (int, bool) {
		at = append(at, f.At.Format("15:04"))
		if !clk.now.Equal(f.At) {
			t.Errorf("run %d started at %s, due %s", f.N, clk.now, f.At)
		}
		clk.now = clk.now.Add(2 * time.Minute)
		return codes[f.N-1], false
	})
	if got := strings.Join(at, " "); got != "10:10 10:20 10:30 10:40 10:50 11:00" {
		t.Errorf("firings %s", got)
	}
	if worst != exit.Hypothesis {
		t.Errorf("worst %d, want %d", worst, exit.Hypothesis)
	}
}

// A run longer than the interval: the firings due meanwhile are skipped, said on w, and
// never run late or next to it.
func TestRunSkipsOverlap(t *testing.T) {
	clk := &fakeClock{now: t0}
	next, err := Spec{Repeat: 5, Interval: time.Minute, RepeatSet: true}.Validate(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	var runs []string
	worst := Run(context.Background(), clk, &w, next, func(_ context.Context, f Firing) (int, bool) {
		runs = append(runs, f.At.Sub(t0).String())
		if f.N == 1 {
			clk.now = clk.now.Add(150 * time.Second) // past the 2nd and 3rd firings
			return exit.Fault, false
		}
		clk.now = clk.now.Add(10 * time.Second)
		return exit.OK, false
	})
	if got := strings.Join(runs, " "); got != "0s 3m0s 4m0s" {
		t.Errorf("runs due at %s, want 0s 3m0s 4m0s", got)
	}
	if !strings.Contains(w.String(), "2 firing(s) due from 10:01:05 to 10:02:05 skipped: run 1 was still running (overlapping runs are refused)") {
		t.Errorf("skip line missing:\n%s", w.String())
	}
	if worst != exit.Fault {
		t.Errorf("worst %d, want %d", worst, exit.Fault)
	}
}

func TestRunStops(t *testing.T) {
	clk := &fakeClock{now: t0}
	next, _ := Spec{Cron: "@every 1m"}.Validate(clk.Now())
	n := 0
	worst := Run(context.Background(), clk, &bytes.Buffer{}, next, func(context.Context, Firing) (int, bool) {
		n++
		return exit.Interrupted, n == 3
	})
	if n != 3 || worst != exit.Interrupted {
		t.Errorf("%d runs, worst %d", n, worst)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if worst := Run(ctx, RealClock{}, &bytes.Buffer{}, next, func(context.Context, Firing) (int, bool) {
		t.Error("ran after Ctrl-C")
		return 0, false
	}); worst != exit.Interrupted {
		t.Errorf("cancelled before the first firing: worst %d", worst)
	}
	if Worst(exit.Fault, exit.Hypothesis) != exit.Fault || Worst(exit.OK, exit.API) != exit.API || Worst(exit.Hypothesis, exit.Interrupted) != exit.Interrupted {
		t.Error("Worst")
	}
}
