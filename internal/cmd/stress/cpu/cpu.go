// Package cpu is `kubectl chaos stress cpu`.
package cpu

import (
	"context"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of stress cpu.
type Options struct {
	Experiment *experiment.Options
	Workers    int
	Load       int
}

// NewCmdCPU returns the command; runF replaces the run (tests).
func NewCmdCPU(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "cpu TARGET... [--workers N] [--load PERCENT]",
		Short: "Burn CPU in a pod's container, charged to the container's CPU limit",
		Long: heredoc.Doc(`
			Start a stressor in each target container: --workers threads, each busy --load
			percent of one CPU (a duty cycle measured in the thread's own CPU time, so the
			load holds on a busy node). The stressor is the agent's binary, moved into the
			container's cgroups before it does any work: its CPU is charged to the container
			and bounded by the container's CPU limit, which it shares with the container's
			own processes. It runs in the container's PID namespace, so the container's own
			top shows it, and it is killed when the experiment ends.
		`),
		Example: cmdutil.Examples(`
			# Two CPUs of load in every pod of deploy/web for 2 minutes
			kubectl chaos stress cpu deploy/web --workers 2 --load 100 --duration 2m

			# Half a CPU in one pod picked at random, show the plan first
			kubectl chaos stress cpu -l app=api --mode one --load 50 --dry-run
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
	fl.IntVar(&opts.Workers, "workers", 1, "Number of worker threads, 1-128")
	fl.IntVar(&opts.Load, "load", 100, "Percent of one CPU each worker keeps busy, 1-100")
	return cmd
}

func (o *Options) build() error {
	o.Experiment.Fault = plan.Fault{Kind: plan.KindStress, Action: "cpu", Stress: &plan.Stress{
		CPU: &plan.CPUStress{Workers: o.Workers, Load: o.Load},
	}}
	return nil
}
