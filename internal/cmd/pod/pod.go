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
	return cmdutil.FaultGroup("pod", "Pod faults through the API (no helper pod): kill, failure",
		kill.NewCmdKill(f, nil),
		failure.NewCmdFailure(f, nil),
	)
}
