// Package http is the `kubectl chaos http` command group.
package http

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/abort"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/delay"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/patch"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/replace"
)

// NewCmdHTTP returns the http group with its verbs.
func NewCmdHTTP(f *factory.Factory) *cobra.Command {
	return cmdutil.FaultGroup("http", "HTTP faults: abort, delay or change a pod's HTTP requests (and TLS connections by SNI)",
		abort.NewCmdAbort(f, nil),
		delay.NewCmdDelay(f, nil),
		replace.NewCmdReplace(f, nil),
		patch.NewCmdPatch(f, nil),
	)
}
