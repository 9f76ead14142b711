package shift

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

func parse(t *testing.T, args ...string) (*experiment.Options, error) {
	t.Helper()
	io, _, _, _ := ui.Test()
	f := factory.NewFake(io, nil, time.Now(), nil)
	var got *experiment.Options
	cmd := NewCmdShift(f, func(o *Options) error { got = o.Experiment; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(io.Out)
	cmd.SetErr(io.ErrOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exit.UsageError(err) })
	err := cmd.Execute()
	return got, err
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		want plan.TimeShift
	}{
		{[]string{"deploy/web", "--offset", "-10m"},
			plan.TimeShift{Offset: plan.Duration(-10 * time.Minute), Rescan: plan.Duration(time.Second)}},
		{[]string{"pod/x", "--offset", "1y", "--rescan", "0"},
			plan.TimeShift{Offset: plan.Duration(365 * 24 * time.Hour)}},
		{[]string{"pod/x", "--offset", "-3d12h", "--clocks", "realtime,clock_monotonic", "--rescan", "500ms"},
			plan.TimeShift{Offset: plan.Duration(-84 * time.Hour), Clocks: []string{"CLOCK_REALTIME", "CLOCK_MONOTONIC"}, Rescan: plan.Duration(500 * time.Millisecond)}},
		{[]string{"pod/x", "--offset", "+500ms", "--clocks", "CLOCK_TAI"},
			plan.TimeShift{Offset: plan.Duration(500 * time.Millisecond), Clocks: []string{"CLOCK_TAI"}, Rescan: plan.Duration(time.Second)}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if o.Fault.Kind != plan.KindTime || o.Fault.Action != "shift" {
				t.Errorf("fault %s/%s, want time/shift", o.Fault.Kind, o.Fault.Action)
			}
			if diff := cmp.Diff(&tt.want, o.Fault.Time); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBadInput: refused before anything happens (runF never runs), with a usage error
// that names the flag and the accepted range.
func TestBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"pod/x"}, `required flag(s) "offset" not set`},
		{[]string{"pod/x", "--offset", "0s"}, "--offset must not be zero"},
		{[]string{"pod/x", "--offset", "11y"}, "--offset must be within ±10y"},
		{[]string{"pod/x", "--offset", "-87661h"}, "--offset must be within ±10y"},
		{[]string{"pod/x", "--offset", "soon"}, `--offset: "soon" is not a duration`},
		{[]string{"pod/x", "--offset", "-1d-2h"}, "is not a duration"},
		{[]string{"pod/x", "--offset", "1m", "--clocks", "CLOCK_PROCESS_CPUTIME_ID"}, `--clocks: unknown clock "CLOCK_PROCESS_CPUTIME_ID"; accepted: CLOCK_REALTIME`},
		{[]string{"pod/x", "--offset", "1m", "--clocks", "realtime,CLOCK_REALTIME"}, "--clocks: CLOCK_REALTIME given twice"},
		{[]string{"pod/x", "--offset", "1m", "--rescan", "10ms"}, "--rescan must be 0 (off) or between 100ms and 1m0s"},
		{[]string{"--offset", "1m"}, "no target"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
			if o != nil {
				t.Fatal("the run was reached")
			}
			if code := exit.Code(err); code != exit.Usage {
				t.Errorf("exit code %d, want %d (usage)", code, exit.Usage)
			}
		})
	}
}
