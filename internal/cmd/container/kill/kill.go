// Package kill is `kubectl chaos container kill`.
package kill

import (
	"context"
	"strings"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	ctrfault "github.com/kubectl-chaos/kubectl-chaos/internal/fault/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of container kill.
type Options struct {
	Experiment *experiment.Options
	Signal     string
}

// NewCmdKill returns the command; runF replaces the run (tests).
func NewCmdKill(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "kill TARGET... [-c CONTAINER] [--signal KILL|TERM|…]",
		Short: "Send a signal to a container's main process once",
		Long: heredoc.Doc(`
			Signal the target container's main process once, through containerd's task API
			(kill(2) on its host PID where containerd cannot), and report whether it exited
			and the container's restart count before and after. The kubelet restarts the
			container as its restartPolicy says; nothing is left to undo, so --duration does
			not apply.

			A container's main process is PID 1 of its PID namespace: the kernel drops every
			signal it has no handler for, except KILL. A TERM to a PID 1 without a handler
			does nothing, and the report says so.
		`),
		Example: cmdutil.Examples(`
			# Kill the main process of one pod of deploy/web (SIGKILL)
			kubectl chaos container kill deploy/web --mode one

			# Ask the sidecar to shut down gracefully
			kubectl chaos container kill pod/web-0 -c proxy --signal TERM
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
	cmd.Flags().StringVar(&opts.Signal, "signal", ctrfault.DefaultSignal, "Signal to send, by name with or without SIG: "+strings.Join(ctrfault.SignalNames(), ", "))
	_ = cmd.RegisterFlagCompletionFunc("signal", cobra.FixedCompletions(ctrfault.SignalNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *Options) build() error {
	c := &plan.Container{Action: plan.ContainerKill, Signal: ctrfault.NormalizeSignal(o.Signal)}
	if _, err := ctrfault.SignalNumber(o.Signal); err != nil {
		return err
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindContainer, Action: plan.ContainerKill, Container: c}
	return nil
}
