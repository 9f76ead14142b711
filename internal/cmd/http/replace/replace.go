// Package replace is `kubectl chaos http replace`.
package replace

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/httpverb"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of http replace.
type Options = httpverb.Options

// NewCmdReplace returns the command; runF replaces the run (tests).
func NewCmdReplace(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	return httpverb.NewCmd(f, httpverb.Verb{
		Action: plan.HTTPReplace,
		Use:    "TARGET... --port PORT (--code CODE | --body TEXT | --header NAME=VALUE)...",
		Short:  "Forward a pod's matching HTTP requests, then replace the response's code, body or headers",
		Long: `
			Forward each matching request to the server, then replace the status code, the
			body (framed with Content-Length) or headers of its response.
		`,
		Example: `
			# the server's answers to /health become 500 with an empty body
			kubectl chaos http replace deploy/web --port 8080 --path /health --code 500 --body ''
		`,
		Flags: httpverb.FlagCode | httpverb.FlagBody | httpverb.FlagHeader,
		Body:  "Body that replaces the response's",
	}, runF)
}
