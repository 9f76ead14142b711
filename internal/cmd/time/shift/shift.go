// Package shift is `kubectl chaos time shift`.
package shift

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/timefault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/units"
)

// Options of time shift.
type Options struct {
	Experiment *experiment.Options
	Offset     string
	Clocks     []string
	Rescan     time.Duration
}

// NewCmdShift returns the command; runF replaces the run (tests).
func NewCmdShift(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "shift TARGET... --offset DURATION",
		Short: "Shift the clock a pod's processes see (vDSO, x86_64 nodes)",
		Long: heredoc.Doc(`
			Shift the clocks every process of the target container reads through the vDSO
			(clock_gettime, gettimeofday, time: what time.Now(), date and TLS certificate
			checks use) by --offset, then give the real clock back. The agent rewrites the
			vDSO clock functions in each process's memory through ptrace; processes started
			during the fault are found by a rescan (--rescan), and children forked while
			their parent was shifted are restored with it.

			Only CLOCK_REALTIME is shifted unless --clocks says otherwise. Shifting
			CLOCK_MONOTONIC (or BOOTTIME) is possible but stalls or fires every timer of the
			target's runtime (Go timers, absolute clock_nanosleep): the plan warns about it.

			Not covered: programs that make the clock syscalls themselves, processes exec'd
			and gone between two rescans, 32-bit processes, and nodes that are not x86_64
			(refused there). Each process is reported: shifted, or skipped and why.
		`),
		Example: cmdutil.Examples(`
			# Ten minutes in the past for every pod of deploy/web, for 2 minutes
			kubectl chaos time shift deploy/web --offset -10m --duration 2m

			# A year ahead (certificate expiry), only the api container, show the plan first
			kubectl chaos time shift pod/web-0 -c api --offset 1y --dry-run

			# Half a second of skew on the wall clock and the coarse wall clock
			kubectl chaos time shift -l app=db --offset 500ms --clocks CLOCK_REALTIME,CLOCK_REALTIME_COARSE
		`),
		ValidArgsFunction: complete.TargetArgs(f),
	}
	cmd.RunE = cmdutil.FaultRunE(opts.Experiment, opts.build, func(ctx context.Context) error {
		if runF != nil {
			return runF(opts)
		}
		return experiment.Run(ctx, opts.Experiment)
	})
	experiment.AddFlags(cmd, opts.Experiment)
	fl := cmd.Flags()
	fl.StringVar(&opts.Offset, "offset", "", "How far to shift the clocks, e.g. -10m, 2h, -3d, 1y (d = 24h, y = 365d; at most ±10y; required)")
	fl.StringSliceVar(&opts.Clocks, "clocks", nil, "Clocks to shift (default CLOCK_REALTIME): "+strings.Join(timefault.ClockNames(), ", "))
	fl.DurationVar(&opts.Rescan, "rescan", timefault.DefaultRescan, fmt.Sprintf("How often to look for processes started during the fault (0 = never; %s-%s)", timefault.MinRescan, timefault.MaxRescan))
	_ = cmd.MarkFlagRequired("offset")
	_ = cmd.RegisterFlagCompletionFunc("clocks", cobra.FixedCompletions(timefault.ClockNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *Options) build() error {
	off, err := units.ParseOffset(o.Offset)
	if err != nil {
		return fmt.Errorf("--offset: %w", err)
	}
	var clocks []string
	for _, name := range o.Clocks {
		c, ok := timefault.LookupClock(name)
		if !ok {
			return fmt.Errorf("--clocks: unknown clock %q; accepted: %s", name, strings.Join(timefault.ClockNames(), ", "))
		}
		clocks = append(clocks, c.Name)
	}
	s := &plan.TimeShift{Offset: plan.Duration(off), Clocks: clocks, Rescan: plan.Duration(o.Rescan)}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindTime, Action: "shift", Time: s}
	return nil
}
