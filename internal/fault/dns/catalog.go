// Package dns implements DNS faults: the target's DNS traffic (UDP and TCP port 53) is
// redirected, by an owned nftables table in its network namespace, to a resolver the
// agent serves inside that namespace. Matching names get the asked error, random or
// fixed addresses, or a delay; every other query is forwarded, byte for byte, to the
// server the pod asked (EDNS, truncation and the TCP retry keep working). Validate and
// Describe are portable; the agent side is *_linux.go.
package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Limits.
const (
	MaxDelay = time.Minute
	MaxIPs   = 16
)

// Errors are the accepted --error response codes.
var Errors = []string{"SERVFAIL", "NXDOMAIN", "REFUSED"}

func init() {
	catalog.Register(catalog.Kind[*plan.DNS]{
		Name:     plan.KindDNS,
		Validate: Validate,
		Describe: Describe,
		Scope:    "created in each target pod's network namespace",
	})
}

// Validate checks a DNS fault spec; errors name the CLI flag and the accepted values.
func Validate(d *plan.DNS) error {
	if d == nil {
		return fmt.Errorf("dns fault without a spec")
	}
	if _, err := redirect.ParseNames("--pattern", d.Patterns); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{d.Error != "", d.Random, len(d.IPs) > 0, d.Delay != 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("give exactly one of --error, --random, --ip and --delay (got %d)", n)
	}
	if d.Error != "" && !slices.Contains(Errors, d.Error) {
		return fmt.Errorf("--error %q: want one of %s", d.Error, strings.Join(Errors, ", "))
	}
	if len(d.IPs) > MaxIPs {
		return fmt.Errorf("--ip: at most %d addresses, got %d", MaxIPs, len(d.IPs))
	}
	for _, ip := range d.IPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("--ip %q: not an IPv4 or IPv6 address", ip)
		}
	}
	if d.Delay < 0 || d.Delay.D() > MaxDelay {
		return fmt.Errorf("--delay must be in (0, %s], got %s", MaxDelay, d.Delay.D())
	}
	return nil
}

// Layout is the redirect a DNS fault installs; the agent fills in table, mark and port.
func Layout(d *plan.DNS, table string, mark uint32, listen uint16) redirect.Layout {
	return redirect.Layout{Table: table, Mark: mark, Listen: listen, Protos: []string{"udp", "tcp"}, Port: 53,
		Serves: "DNS resolver (" + d.Summary() + "; other names forwarded unchanged to the server the pod asked)"}
}

// Describe lists what the fault creates, for --dry-run.
func Describe(d *plan.DNS) []plan.Object {
	return Layout(d, "kubectl_chaos_dns_<experiment>_<hash>", redirect.MarkUnknown, redirect.PortUnknown).Objects()
}
