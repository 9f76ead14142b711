// Package iocmd is the `kubectl chaos io` command group (named so it does not shadow the
// standard library's io).
package iocmd

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/attr"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/latency"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/mistake"

	// The kind these verbs build registers itself with the fault catalog.
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/iofault"
)

// NewCmdIO returns the io group with its verbs.
func NewCmdIO(f *factory.Factory) *cobra.Command {
	return cmdutil.FaultGroup("io", "File system faults under a directory of a pod: latency, errors, wrong data, attributes",
		latency.NewCmdLatency(f, nil),
		fault.NewCmdFault(f, nil),
		mistake.NewCmdMistake(f, nil),
		attr.NewCmdAttr(f, nil),
	)
}
