// Package patch is `kubectl chaos http patch`.
package patch

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/httpverb"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of http patch.
type Options = httpverb.Options

// NewCmdPatch returns the command; runF replaces the run (tests).
func NewCmdPatch(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	return httpverb.NewCmd(f, httpverb.Verb{
		Action: plan.HTTPPatch,
		Use:    "TARGET... --port PORT (--body JSON | --header NAME=VALUE)...",
		Short:  "Forward a pod's matching HTTP requests, then add headers or merge JSON into the response",
		Long: `
			Forward each matching request to the server, then add --header fields to its
			response and merge --body (a JSON merge patch, RFC 7386) into a JSON response
			body. A body that is not JSON, is compressed or is over 8 MiB passes unchanged
			(counted as skipped in the agent's counters).
		`,
		Example: `
			# /api/user answers say the account is locked
			kubectl chaos http patch deploy/web --port 8080 --path /api/user --body '{"locked":true}'
		`,
		Flags: httpverb.FlagBody | httpverb.FlagHeader,
		Body:  "JSON merge patch (RFC 7386) merged into JSON response bodies",
	}, runF)
}
