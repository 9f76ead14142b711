// Package pod is the `kubectl chaos pod` command group.
package pod

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/pod/failure"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/pod/kill"

	// The kind these verbs build registers itself with the fault catalog.
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/pod"
)

// NewCmdPod returns the pod group with its verbs.
func NewCmdPod(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "pod",
		Short:   "Pod faults through the API (no helper pod): kill, failure",
		GroupID: cmdutil.GroupFaults,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		kill.NewCmdKill(f, nil),
		failure.NewCmdFailure(f, nil),
	)
	return cmd
}
