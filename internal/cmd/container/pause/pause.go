// Package pause is `kubectl chaos container pause`.
package pause

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

// Options of container pause.
type Options struct {
	Experiment *experiment.Options
}

// NewCmdPause returns the command; runF replaces the run (tests).
func NewCmdPause(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "pause TARGET... [-c CONTAINER] --duration DURATION",
		Short: "Freeze a container for a while: every process of it stops, then resumes",
		Long: heredoc.Doc(`
			Freeze the target container's cgroup (cgroup v1 freezer, or cgroup.freeze on
			cgroup v2) for --duration, then thaw it. Every process of the container stops at
			once and keeps its memory, sockets and files: clients see a pod that accepts
			connections (the kernel still does) but never answers. The helper pod on the
			node thaws it on every stop path: Ctrl-C, --duration, kubectl chaos stop, the
			helper's deletion, and after a crash from its journal.

			While frozen, exec probes and kubectl exec hang; a liveness probe that fails
			makes the kubelet restart the container once it is thawed. A container that is
			already frozen (runc pause, another experiment) is left alone.
		`),
		Example: cmdutil.Examples(`
			# Freeze the app container of one pod of deploy/web for 30s
			kubectl chaos container pause deploy/web -c app --mode one --duration 30s

			# See which cgroup would be frozen and how it is thawed
			kubectl chaos container pause pod/web-0 --duration 1m --dry-run
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
	return cmd
}

func (o *Options) build() error {
	o.Experiment.Fault = plan.Fault{Kind: plan.KindContainer, Action: plan.ContainerPause,
		Container: &plan.Container{Action: plan.ContainerPause}}
	return nil
}
