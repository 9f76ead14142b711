// Package failure is `kubectl chaos pod failure`.
package failure

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

// Options of pod failure.
type Options struct {
	Experiment *experiment.Options
	PauseImage string
}

// NewCmdFailure returns the command; runF replaces the run (tests).
func NewCmdFailure(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "failure TARGET... --duration DURATION [--pause-image IMAGE]",
		Short: "Make target pods' containers stop serving for a while (pause image), then restore them",
		Long: heredoc.Doc(`
			Patch every container of the target pods to run the node's pause (sandbox) image,
			which every node already has, for --duration, then patch their own images back (the
			image is the only container field a running pod lets change), as Chaos Mesh's
			pod-failure does. The original images and the deadline are recorded on each pod
			(annotation kubectl-chaos/undo, label kubectl-chaos/experiment) in the same request,
			so kubectl chaos stop and gc restore the pods after this command died.

			Facts, not hidden: each image change restarts the container, so its restart count
			goes up by at least 2 and stays so; a container with its own command crash-loops in
			the pause image, and one with imagePullPolicy Always may fail to pull it (both still
			a failure); a pod without a readiness probe stays Ready. --detach is refused:
			nothing in the cluster would restore the images on time without this command (use
			container pause, whose helper thaws the container by itself).

			The pause image is read from each target node's status (the image named
			…/pause:TAG; the kubelet lists at most 50 images there); --pause-image names it
			when the node does not list it or you may not read nodes.
		`),
		Example: cmdutil.Examples(`
			# One pod of deploy/web stops serving for 2 minutes
			kubectl chaos pod failure deploy/web --mode one --duration 2m

			# Name the pause image (no permission to read nodes)
			kubectl chaos pod failure pod/web-0 --duration 30s --pause-image registry.k8s.io/pause:3.10
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
	cmd.Flags().StringVar(&opts.PauseImage, "pause-image", "", "Image the containers run during the fault (default: the pause image each target's node lists in its status)")
	return cmd
}

func (o *Options) build() error {
	o.Experiment.Fault = plan.Fault{Kind: plan.KindPod, Action: plan.PodFailure,
		Pod: &plan.Pod{Action: plan.PodFailure, PauseImage: o.PauseImage}}
	return nil
}
