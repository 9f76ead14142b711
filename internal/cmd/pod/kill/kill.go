// Package kill is `kubectl chaos pod kill`.
package kill

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

// Options of pod kill.
type Options struct {
	Experiment  *experiment.Options
	GracePeriod int64
	Force       bool
	Wait        bool
}

// NewCmdKill returns the command; runF replaces the run (tests).
func NewCmdKill(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "kill TARGET... [--grace-period SECONDS|--force] [--wait]",
		Short: "Delete target pods once (their controllers replace them)",
		Long: heredoc.Doc(`
			Delete the target pods through the API, as kubectl delete does: no helper pod, and
			nothing to undo, so --duration does not apply. Each delete is conditional on the
			pod's UID, so a pod that was replaced meanwhile is never the one deleted.

			--wait follows each pod's controller (ReplicaSet, StatefulSet, DaemonSet, Job)
			until the replacement is Ready and reports how long that took; a pod without a
			controller is refused with --wait. With --mode one (and --seed to repeat a pick)
			it is the usual game-day kill: the report names the pod that was picked.
		`),
		Example: cmdutil.Examples(`
			# Kill one pod of deploy/web and time its replacement
			kubectl chaos pod kill deploy/web --mode one --wait

			# Kill every pod of the StatefulSet at once, without grace
			kubectl chaos pod kill sts/db --force
		`),
		ValidArgsFunction: complete.TargetArgs(f),
	}
	cmd.RunE = cmdutil.FaultRunE(opts.Experiment, func() error { return opts.build(cmd) }, func(ctx context.Context) error {
		if runF != nil {
			return runF(opts)
		}
		return experiment.Run(ctx, opts.Experiment)
	})
	experiment.AddFlags(cmd, opts.Experiment)
	fl := cmd.Flags()
	fl.Int64Var(&opts.GracePeriod, "grace-period", -1, "Seconds the pod gets to shut down, 1-3600 (default: the pod's terminationGracePeriodSeconds)")
	fl.BoolVar(&opts.Force, "force", false, "Delete at once without grace: the pod object goes before the kubelet confirms its containers stopped")
	fl.BoolVar(&opts.Wait, "wait", false, "Follow each pod's controller until the replacement is Ready, and report the time")
	return cmd
}

func (o *Options) build(cmd *cobra.Command) error {
	p := &plan.Pod{Action: plan.PodKill, Force: o.Force, Wait: o.Wait}
	if cmd.Flags().Changed("grace-period") {
		g := o.GracePeriod
		p.GracePeriodSeconds = &g
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindPod, Action: plan.PodKill, Pod: p}
	return nil
}
