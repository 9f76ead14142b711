// Package delay is `kubectl chaos http delay`.
package delay

import (
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http/httpverb"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of http delay.
type Options = httpverb.Options

// NewCmdDelay returns the command; runF replaces the run (tests).
func NewCmdDelay(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	return httpverb.NewCmd(f, httpverb.Verb{
		Action: plan.HTTPDelay,
		Use:    "TARGET... --port PORT --delay DURATION [--tls --sni NAMES]",
		Short:  "Hold a pod's matching HTTP requests (or TLS connections) before they reach the server",
		Long: `
			Hold each matching request for --delay, then forward it; the response comes back
			unchanged. With --tls --direction egress, hold TLS connections whose ClientHello
			names a server matching --sni before their first byte reaches the server; nothing
			is decrypted and other connections are untouched.
		`,
		Example: `
			# every request to deploy/web's port 8080 takes 200ms longer
			kubectl chaos http delay deploy/web --port 8080 --delay 200ms

			# pod/client's HTTPS handshakes with *.example.com take 2s longer
			kubectl chaos http delay pod/client --direction egress --port 443 --tls --sni '*.example.com' --delay 2s
		`,
		Flags: httpverb.FlagDelay | httpverb.FlagTLS,
	}, runF)
}
