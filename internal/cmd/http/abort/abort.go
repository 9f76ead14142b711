// Package abort is `kubectl chaos http abort`.
package abort

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/httpverb"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of http abort.
type Options = httpverb.Options

// NewCmdAbort returns the command; runF replaces the run (tests).
func NewCmdAbort(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	return httpverb.NewCmd(f, httpverb.Verb{
		Action: plan.HTTPAbort,
		Use:    "TARGET... --port PORT [--code CODE [--body TEXT] [--header NAME=VALUE]] [--tls --sni NAMES]",
		Short:  "Answer a pod's matching HTTP requests with an error, or reset them",
		Long: `
			Answer matching requests with --code (and --body, --header) without asking the
			server, or, without --code, reset the connection (TCP RST). With --tls
			--direction egress, reset TLS connections whose ClientHello names a server
			matching --sni; nothing is decrypted and other connections are untouched.
		`,
		Example: `
			# GET /api/... of deploy/web answers 503 half of the time, for 2 minutes
			kubectl chaos http abort deploy/web --port 8080 --path '/api/**' --method GET --code 503 --percent 50 --duration 2m

			# reset pod/client's HTTPS connections to api.example.com
			kubectl chaos http abort pod/client --direction egress --port 443 --tls --sni api.example.com
		`,
		Flags: httpverb.FlagCode | httpverb.FlagBody | httpverb.FlagHeader | httpverb.FlagTLS,
		Body:  "Body of the --code response",
	}, runF)
}
