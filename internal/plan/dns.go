package plan

import (
	"fmt"
	"strings"
)

// KindDNS is the DNS fault family: the target's DNS queries are redirected to a resolver
// the agent serves inside the target's network namespace.
const KindDNS = "dns"

// DNS answers matching names wrongly (or late) and forwards every other query to the
// server the pod asked, unchanged. Exactly one of Error, Random, IPs and Delay is set.
type DNS struct {
	// Patterns are the names to fault, e.g. "payments.*.svc.cluster.local": '*' and '?'
	// match within one label; a leading "*." matches one or more labels.
	Patterns []string `json:"patterns"`
	// Error is the response code for matching names: SERVFAIL, NXDOMAIN or REFUSED.
	Error string `json:"error,omitempty"`
	// Random answers A and AAAA queries of matching names with random addresses.
	Random bool `json:"random,omitempty"`
	// IPs answer A (IPv4 ones) and AAAA (IPv6 ones) queries of matching names.
	IPs []string `json:"ips,omitempty"`
	// Delay holds matching queries this long, then forwards them.
	Delay Duration `json:"delay,omitempty"`
}

// Summary is e.g. "NXDOMAIN for example.com".
func (d *DNS) Summary() string {
	var what string
	switch {
	case d.Error != "":
		what = d.Error
	case d.Random:
		what = "random addresses"
	case len(d.IPs) > 0:
		what = "answer " + strings.Join(d.IPs, ",")
	case d.Delay > 0:
		what = "delay " + d.Delay.D().String()
	default:
		what = "(nothing)"
	}
	return fmt.Sprintf("%s for %s", what, strings.Join(d.Patterns, ","))
}
