// Package container is the `kubectl chaos container` command group.
package container

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/container/kill"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/container/pause"

	// The kind these verbs build registers itself with the fault catalog.
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/container"
)

// NewCmdContainer returns the container group with its verbs.
func NewCmdContainer(f *factory.Factory) *cobra.Command {
	return cmdutil.FaultGroup("container", "Container faults: pause (freeze) a container, kill its main process",
		pause.NewCmdPause(f, nil),
		kill.NewCmdKill(f, nil),
	)
}
