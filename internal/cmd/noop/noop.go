// Package noop is the hidden `kubectl chaos noop`: a fault that changes nothing, to test
// the session and agent loop end to end.
package noop

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"

	// The kind these verbs build registers itself with the fault catalog.
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noop"
)

// Options of noop.
type Options struct {
	Experiment  *experiment.Options
	FailApply   bool
	FailRecover bool
	// CountPerRead >= 0 makes the agent report a made-up traffic counter growing by
	// that much per read (live view tests); -1: no counters.
	CountPerRead int
}

// NewCmdNoop returns the hidden command; runF replaces the run (tests).
func NewCmdNoop(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:               "noop TARGET...",
		Short:             "A fault that changes nothing (tests the session loop)",
		Hidden:            true,
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
	fl.BoolVar(&opts.FailApply, "fail-apply", false, "Make the agent fail to apply (exit-code tests)")
	fl.BoolVar(&opts.FailRecover, "fail-recover", false, "Make the agent fail to recover (exit-code tests)")
	fl.IntVar(&opts.CountPerRead, "count-per-read", -1, "Make the agent report a traffic counter growing by this much per read (live view tests)")
	_ = fl.MarkHidden("count-per-read")
	_ = fl.MarkHidden("fail-apply")
	_ = fl.MarkHidden("fail-recover")
	return cmd
}

func (o *Options) build() error {
	n := &plan.Noop{FailApply: o.FailApply, FailRecover: o.FailRecover}
	if o.CountPerRead >= 0 {
		n.Counting = &plan.NoopCounting{PerRead: uint64(o.CountPerRead)}
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindNoop, Action: "noop", Noop: n}
	return nil
}
