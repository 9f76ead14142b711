// Package httpverb is the shared shape of the `kubectl chaos http` verbs (abort, delay,
// replace, patch): the same request filters and plan, each verb offering the response
// flags that make sense for it.
package httpverb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	httpfault "github.com/kubectl-chaos/kubectl-chaos/internal/fault/http"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Response flags a verb offers.
const (
	FlagCode = 1 << iota
	FlagBody
	FlagHeader
	FlagDelay
	FlagTLS
)

// Verb describes one http verb.
type Verb struct {
	Action  string // plan.HTTPAbort, …
	Use     string // after the verb's name: "TARGET... --port PORT [--code CODE]"
	Short   string
	Long    string // heredoc text
	Example string
	Flags   int // Flag* the verb offers
	Body    string
}

// Options of an http verb.
type Options struct {
	Experiment    *experiment.Options
	Port          int
	Direction     string
	Path          string
	Method        string
	Code          int
	Delay         time.Duration
	Body          string
	Headers       []string
	Percent       float64
	IncludeProbes bool
	TLS           bool
	SNI           []string

	verb    Verb
	bodySet func() bool
}

// NewCmd returns the command for v; runF replaces the run (tests).
func NewCmd(f *factory.Factory, v Verb, runF func(*Options) error) *cobra.Command {
	opts := &Options{Experiment: experiment.NewOptions(f), verb: v}
	cmd := &cobra.Command{
		Use:               v.Action + " " + v.Use,
		Short:             v.Short,
		Long:              heredoc.Doc(v.Long) + "\n" + heredoc.Doc(common),
		Example:           cmdutil.Examples(v.Example),
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
	fl.IntVar(&opts.Port, "port", 0, "The server's TCP port: the target's own (ingress) or the remote one (egress), 1-65535 (required)")
	fl.StringVar(&opts.Direction, "direction", plan.HTTPIngress, "ingress: requests the target serves; egress: requests the target makes")
	fl.StringVar(&opts.Path, "path", "", "Only requests whose path matches this glob ('*' within a segment, '?', [a-z], a trailing /** for anything below)")
	fl.StringVar(&opts.Method, "method", "", "Only requests with this method (GET, POST, …)")
	fl.Float64Var(&opts.Percent, "percent", 100, "Percentage of matching requests (TLS connections) hit, in (0, 100]")
	fl.BoolVar(&opts.IncludeProbes, "include-probes", false, "Also fault requests from the node's own addresses (kubelet probes), ingress only")
	if v.Flags&FlagCode != 0 {
		fl.IntVar(&opts.Code, "code", 0, fmt.Sprintf("Status code of the response, %d-%d", httpfault.MinCode, httpfault.MaxCode))
	}
	if v.Flags&FlagDelay != 0 {
		fl.DurationVar(&opts.Delay, "delay", 0, "Hold matching requests (TLS connections) this long, e.g. 200ms (at most "+httpfault.MaxDelay.String()+") (required)")
		_ = cmd.MarkFlagRequired("delay")
	}
	if v.Flags&FlagBody != 0 {
		fl.StringVar(&opts.Body, "body", "", v.Body)
	}
	if v.Flags&FlagHeader != 0 {
		fl.StringArrayVar(&opts.Headers, "header", nil, "Response header NAME=VALUE (repeatable)")
	}
	if v.Flags&FlagTLS != 0 {
		fl.BoolVar(&opts.TLS, "tls", false, "Act on TLS connections by the server name of their ClientHello (--sni), without decrypting")
		fl.StringSliceVar(&opts.SNI, "sni", nil, "With --tls: server names to match, comma-separated, with '*' and '?' wildcards")
	}
	_ = cmd.MarkFlagRequired("port")
	_ = cmd.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions([]string{plan.HTTPIngress, plan.HTTPEgress}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("method", cobra.FixedCompletions([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, cobra.ShellCompDirectiveNoFileComp))
	opts.bodySet = func() bool { return fl.Changed("body") }
	return cmd
}

const common = `
	Mechanism: in each target pod's network namespace, an nftables table the tool owns
	steers the port's TCP traffic to a transparent HTTP/1.1 proxy the agent serves inside
	that namespace (TPROXY for ingress, so the application still sees the real client
	address; a NAT redirect for egress). Requests are matched one by one (keep-alive,
	chunked and streaming bodies pass as they come); everything that does not match is
	relayed byte for byte. Requests from the node's addresses (kubelet probes) are left
	alone unless --include-probes. HTTP/2 (h2c prior knowledge or upgrade) and TLS
	without --tls pass through unmodified. Only connections opened after the fault starts
	are affected.
`

// build puts the flags into the spec; http.Validate checks the ranges.
func (o *Options) build() error {
	if o.Port < 1 || o.Port > 65535 {
		return fmt.Errorf("--port must be in 1-65535, got %d", o.Port)
	}
	if o.Percent <= 0 || o.Percent > 100 {
		return fmt.Errorf("--percent must be in (0, 100], got %g", o.Percent)
	}
	h := &plan.HTTP{
		Action: o.verb.Action, Direction: strings.ToLower(o.Direction), Port: uint16(o.Port),
		Path: o.Path, Method: strings.ToUpper(o.Method), Code: o.Code, Delay: plan.Duration(o.Delay),
		IncludeProbes: o.IncludeProbes, TLS: o.TLS, SNI: append([]string(nil), o.SNI...),
	}
	if o.Percent < 100 {
		h.Percent = o.Percent
	}
	if h.Direction == plan.HTTPIngress {
		h.Direction = ""
	}
	if o.bodySet != nil && o.bodySet() {
		b := o.Body
		h.Body = &b
	}
	for _, kv := range o.Headers {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("--header %q: want NAME=VALUE", kv)
		}
		h.Headers = append(h.Headers, plan.Header{Name: strings.TrimSpace(name), Value: value})
	}
	o.Experiment.Fault = plan.Fault{Kind: plan.KindHTTP, Action: o.verb.Action, HTTP: h}
	return nil
}
