// Package memory is `kubectl chaos stress memory`.
package memory

import (
	"context"
	"fmt"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/stress"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/units"
)

// Options of stress memory.
type Options struct {
	Experiment *experiment.Options
	Size       string
	Workers    int
}

// NewCmdMemory returns the command; runF replaces the run (tests).
func NewCmdMemory(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "memory TARGET... --size SIZE|PERCENT% [--workers N]",
		Short: "Hold memory in a pod's container, charged to the container's memory limit",
		Long: heredoc.Doc(`
			Start a stressor in each target container that allocates --size, writes every
			page and holds it until the experiment ends. The stressor is the agent's binary,
			moved into the container's cgroups before it allocates anything: the memory is
			charged to the container, exactly like the container's own.

			--size is a Kubernetes quantity (256Mi, 1Gi, 500M) or a percentage of the
			container's memory limit (50%; at most 100%; refused for a container without a
			limit). A size above the limit is allowed: the kernel's OOM killer then acts as it
			would for the container's own processes, and the report says what was held and
			what the OOM killer did.
		`),
		Example: cmdutil.Examples(`
			# Hold 256Mi in every pod of deploy/web for 5 minutes
			kubectl chaos stress memory deploy/web --size 256Mi

			# Fill 90% of each container's memory limit, show the plan first
			kubectl chaos stress memory -l app=api --size 90% --dry-run
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
	fl.StringVar(&opts.Size, "size", "", "Memory to hold: a quantity like 256Mi or 1Gi, or a percentage of the container's memory limit like 50% (required)")
	fl.IntVar(&opts.Workers, "workers", 1, "Number of worker threads sharing --size, 1-64")
	_ = cmd.MarkFlagRequired("size")
	return cmd
}

// sizeRange is what --size accepts (stress.Validate checks the byte range).
var sizeRange = fmt.Sprintf("a quantity between %s and %s, or a percentage of the memory limit in (0%%, 100%%]",
	resource.NewQuantity(stress.MinMemoryBytes, resource.BinarySI), resource.NewQuantity(stress.MaxMemoryBytes, resource.BinarySI))

func (o *Options) build() error {
	m, err := ParseSize(o.Size)
	if err != nil {
		return err
	}
	// The spec's 0 means the default (1); a --workers 0 typed by the user is a mistake.
	if o.Workers < 1 {
		return fmt.Errorf("--workers must be between 1 and %d, got %d", stress.MaxMemoryWorkers, o.Workers)
	}
	m.Workers = o.Workers
	o.Experiment.Fault = plan.Fault{Kind: plan.KindStress, Action: "memory", Stress: &plan.Stress{Memory: m}}
	return nil
}

// ParseSize reads --size: a Kubernetes quantity (bytes) or a percentage ("50%"). The
// range is the stress kind's to check.
func ParseSize(s string) (*plan.MemoryStress, error) {
	b, pct, err := units.ParseMemory("--size", s, sizeRange)
	if err != nil {
		return nil, err
	}
	return &plan.MemoryStress{Bytes: b, Percent: pct}, nil
}
