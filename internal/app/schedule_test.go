package app

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/history"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// A --schedule run on the fake cluster: a cron every second, runs that last more than a
// second. It fires at least twice, skips the firings due while a run goes (and says
// so), refuses a second run of the same file meanwhile, writes one report per firing
// and one history entry per run, and exits with the worst firing's code.
func TestLiveSchedule(t *testing.T) {
	file := writeScenario(t, `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata: {name: every-second}
spec:
  duration: 1m
  steps:
  - fault: {verb: noop, targets: pod/web-1, duration: 1s}
`)
	dir := t.TempDir()
	withState := func(f *factory.Factory) { f.StateDir = func() string { return dir } }
	rep := filepath.Join(t.TempDir(), "report.json")
	r := startLiveOn(t, webCluster(), withState, "run", file, "--schedule", "* * * * * *", "--until", "10s", "--report", rep, "--yes")
	for end := time.Now().Add(20 * time.Second); !strings.Contains(r.errOut.String(), "schedule: run 1 (due"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no first run:\n%s", r.errOut.String())
		}
	}
	// The same file again, while the schedule runs: refused, nothing created.
	io, _, _, errOut := ui.Test()
	f := factory.NewFake(io, webCluster(), testNow, nil)
	withState(f)
	root := NewRootCmd(f)
	root.SetArgs([]string{"run", file, "--yes"})
	if err := executeRoot(context.Background(), root); exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), "is already running from this machine") {
		t.Errorf("second run: exit %d (%v), want 1 naming the running one\n%s", exit.Code(err), err, errOut)
	}
	if err := r.wait(t, 60*time.Second); err != nil {
		t.Fatalf("exit %d (%v)\nstderr:\n%s", exit.Code(err), err, r.errOut.String())
	}
	errs := r.errOut.String()
	if !strings.Contains(errs, "schedule: run 2 (due") {
		t.Fatalf("fired fewer than twice:\n%s", errs)
	}
	if !strings.Contains(errs, "skipped: run 1 was still running (overlapping runs are refused)") {
		t.Errorf("no skipped firing although each run lasts more than the 1s period:\n%s", errs)
	}
	entries, _, err := history.Store{Dir: dir}.Read(0)
	if err != nil {
		t.Fatal(err)
	}
	runs := len(regexp.MustCompile(`schedule: run \d+ \(due`).FindAllString(errs, -1))
	if len(entries) != runs || len(entries) < 2 {
		t.Fatalf("%d history entries for %d runs:\n%s", len(entries), runs, errs)
	}
	for i, e := range entries {
		if e.Kind != history.KindScenario || e.Firing != i+1 || e.Result != "passed" || e.ExitCode != 0 || len(e.Experiments) != 1 ||
			len(e.Targets) != 1 || !strings.Contains(e.Command, "--schedule") {
			t.Errorf("entry %d: %+v", i, e)
		}
		if _, err := os.Stat(strings.TrimSuffix(rep, ".json") + "-" + string(rune('1'+i)) + ".json"); err != nil {
			t.Errorf("report of firing %d: %v", i+1, err)
		}
		if i > 0 && e.StartedAt.Before(entries[i-1].EndedAt) {
			t.Errorf("run %d started at %s, before run %d ended at %s", i+1, e.StartedAt, i, entries[i-1].EndedAt)
		}
	}
	if n := r.helpersLeft(t); n != 0 {
		t.Errorf("%d helper pods left", n)
	}
}

func TestRunScheduleFlagsRefused(t *testing.T) {
	file := writeScenario(t, "apiVersion: kubectl-chaos/v1\nkind: Scenario\nmetadata: {name: x}\nspec:\n  steps:\n  - wait: 1s\n")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--schedule", "every minute"}, "--schedule \"every minute\" is not a cron schedule"},
		{[]string{"--repeat", "0"}, "--repeat must be between 1 and 10000, got 0"},
		{[]string{"--repeat", "3"}, "--interval must be more than 0 with --repeat 3"},
		{[]string{"--repeat", "3", "--interval", "-1s"}, "--interval must be more than 0"},
		{[]string{"--schedule", "@hourly", "--repeat", "2", "--interval", "1m"}, "--schedule and --repeat exclude each other"},
		{[]string{"--schedule", "@hourly", "--until", "2020-01-01T00:00:00Z"}, "--until must be in the future"},
		{[]string{"--schedule", "@hourly", "--until", "soon"}, "--until must be a time like"},
		{[]string{"--interval", "1m"}, "--interval goes with --repeat"},
	} {
		r := run(t, webCluster(), append([]string{"run", file}, tt.args...)...)
		if exit.Code(r.err) != exit.Usage || !strings.Contains(r.err.Error(), tt.want) || r.calls != 0 {
			t.Errorf("%v: exit %d (%v), %d client calls; want 1 with %q and no call", tt.args, exit.Code(r.err), r.err, r.calls, tt.want)
		}
	}
}
