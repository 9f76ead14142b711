// Package dns is `kubectl chaos network dns`.
package dns

import (
	"context"
	"strings"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	dnsfault "github.com/kubectl-chaos/kubectl-chaos/internal/fault/dns"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of network dns.
type Options struct {
	Experiment *experiment.Options
	Patterns   []string
	Error      string
	Random     bool
	IPs        []string
	Delay      time.Duration
}

// NewCmdDNS returns the command; runF replaces the run (tests).
func NewCmdDNS(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f)}
	cmd := &cobra.Command{
		Use:   "dns TARGET... --pattern NAMES (--error RCODE | --random | --ip ADDRS | --delay DURATION)",
		Short: "Answer a pod's DNS queries for some names wrongly or late",
		Long: heredoc.Doc(`
			Redirect the target pods' DNS queries (UDP and TCP port 53, whatever server they
			ask) to a resolver the agent serves inside each pod's network namespace (an
			nftables table the tool owns). Names matching --pattern get the asked error,
			random or fixed addresses (A and AAAA), or their real answer --delay later;
			every other query is forwarded unchanged to the server the pod asked, so EDNS,
			truncation and the retry over TCP keep working. Nothing outside the target pods
			changes and nothing is installed in the cluster.

			Patterns: '*' and '?' match within one label; a leading '*.' matches one or more
			labels ('*.example.com' matches a.example.com and a.b.example.com, not
			example.com). Made-up answers carry TTL 0 so nothing caches them past the fault.
		`),
		Example: cmdutil.Examples(`
			# the payments services of every namespace do not exist for deploy/web
			kubectl chaos network dns deploy/web --pattern 'payments.*.svc.cluster.local' --error NXDOMAIN

			# api.example.com resolves to a fixed address (A and AAAA from the list)
			kubectl chaos network dns pod/client --pattern api.example.com --ip 10.0.0.99,fd00::99

			# every name under example.com answers 2s late, show the plan first
			kubectl chaos network dns -l app=api --pattern '*.example.com,example.com' --delay 2s --dry-run
		`),
		ValidArgsFunction: complete.TargetArgs(f),
	}
	cmd.RunE = cmdutil.FaultRunE(opts.Experiment, opts.build, func(ctx context.Context) error {
		if runF != nil {
			return runF(opts)
		}
		return experiment.Run(ctx, opts.Experiment)
	})
	experiment.AddFlags(cmd, opts.Experiment)
	fl := cmd.Flags()
	fl.StringSliceVar(&opts.Patterns, "pattern", nil, "Names to fault, comma-separated, with '*' and '?' wildcards (required)")
	fl.StringVar(&opts.Error, "error", "", "Answer matching names with this response code: "+strings.Join(dnsfault.Errors, ", "))
	fl.BoolVar(&opts.Random, "random", false, "Answer A and AAAA queries of matching names with random addresses")
	fl.StringSliceVar(&opts.IPs, "ip", nil, "Answer matching names with these addresses (IPv4 for A, IPv6 for AAAA), comma-separated")
	fl.DurationVar(&opts.Delay, "delay", 0, "Forward queries of matching names this much later, e.g. 500ms (at most "+dnsfault.MaxDelay.String()+")")
	_ = cmd.RegisterFlagCompletionFunc("error", cobra.FixedCompletions(dnsfault.Errors, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// build puts the flags into the spec; dns.Validate checks them.
func (o *Options) build() error {
	d := &plan.DNS{
		Patterns: append([]string(nil), o.Patterns...),
		Error:    strings.ToUpper(o.Error),
		Random:   o.Random,
		IPs:      append([]string(nil), o.IPs...),
		Delay:    plan.Duration(o.Delay),
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindDNS, Action: "dns", DNS: d}
	return nil
}
