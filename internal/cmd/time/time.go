// Package time is the `kubectl chaos time` command group.
package time

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/time/shift"
)

// NewCmdTime returns the time group with its verbs.
func NewCmdTime(f *factory.Factory) *cobra.Command {
	return cmdutil.FaultGroup("time", "Time faults: shift the clock a pod's processes see",
		shift.NewCmdShift(f, nil),
	)
}
