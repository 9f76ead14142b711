// Package stress is the `kubectl chaos stress` command group.
package stress

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/stress/cpu"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/stress/memory"

	// The kind these verbs build registers itself with the fault catalog.
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/stress"
)

// NewCmdStress returns the stress group with its verbs.
func NewCmdStress(f *factory.Factory) *cobra.Command {
	return cmdutil.FaultGroup("stress", "Stress faults charged to the target container: cpu, memory",
		cpu.NewCmdCPU(f, nil),
		memory.NewCmdMemory(f, nil),
	)
}
