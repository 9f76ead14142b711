package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/target"
)

// Peers of a network fault: every verb takes --to (pods, services, workloads, selectors
// in the target namespace) and --external (hosts, IPs, CIDRs outside the cluster), as
// Chaos Mesh's target and externalTargets. The CLI resolves them into CIDRs when the
// fault starts (resolvePeers, the kind's completion step): a partition's into its
// Peers, the other verbs' into the filter's CIDRs, which every backend matches (tc u32,
// nft, NFQUEUE rules: the destination on egress, the source on ingress). The addresses
// are those of the moment the fault starts: a pod of a --to workload replaced while the
// fault runs is not followed, and a host name's later answers are not either.

// MaxExternal bounds the number of --external values, and MaxHostName the length of
// one host name (DNS).
const (
	MaxExternal = 64
	MaxHostName = 253
)

// ResolveTimeout bounds the CLI's lookup of all the --external host names.
const ResolveTimeout = 10 * time.Second

// LookupHost resolves a host name to its addresses; tests replace it.
var LookupHost = func(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// validatePeers checks the shape of --to and --external (they are resolved later, by
// the CLI, with the API and DNS).
func validatePeers(n *plan.Network) error {
	f := n.Filter
	if err := toPeers(f.To); err != nil {
		return err
	}
	if len(f.External) > MaxExternal {
		return fmt.Errorf("--external: at most %d values, got %d", MaxExternal, len(f.External))
	}
	for _, e := range f.External {
		if _, _, err := externalPeer(e); err != nil {
			return err
		}
	}
	return nil
}

// toPeers checks --to values: not empty, not an empty selector.
func toPeers(to []string) error {
	for _, t := range to {
		if _, err := target.PeerText(t); err != nil {
			return err
		}
	}
	return nil
}

// externalPeer reads one --external value: a CIDR or an IP (its prefix), else a host
// name to resolve (host). A port, a scheme or a zone is refused: --port filters ports.
func externalPeer(s string) (p netip.Prefix, host string, err error) {
	s = strings.TrimSpace(s)
	if pf, err := netip.ParsePrefix(s); err == nil {
		return pf.Masked(), "", nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), "", nil
	}
	const form = "a host name, an IPv4/IPv6 address or a CIDR like 203.0.113.0/24"
	switch {
	case s == "":
		return p, "", fmt.Errorf("--external: empty value; give %s", form)
	case strings.Contains(s, "://"):
		return p, "", fmt.Errorf("--external %q: give %s, not a URL (ports go to --port)", s, form)
	case strings.Contains(s, ":"), strings.HasPrefix(s, "["):
		return p, "", fmt.Errorf("--external %q: give %s without a port (filter ports with --port)", s, form)
	case strings.Contains(s, "/"):
		return p, "", fmt.Errorf("--external %q: not a CIDR; give %s", s, form)
	}
	if why := hostNameProblem(s); why != "" {
		return p, "", fmt.Errorf("--external %q is not a host name: %s; give %s", s, why, form)
	}
	return p, strings.TrimSuffix(s, "."), nil
}

// hostNameProblem says why s is not a DNS host name (RFC 1123 labels, "_" allowed), or "".
func hostNameProblem(s string) string {
	if len(s) > MaxHostName {
		return fmt.Sprintf("longer than %d characters", MaxHostName)
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		switch {
		case l == "":
			return "an empty label"
		case len(l) > 63:
			return "a label longer than 63 characters"
		case strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-"):
			return "a label starts or ends with '-'"
		case strings.ContainsFunc(l, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}):
			return "only letters, digits, '-' and '_' in dot-separated labels"
		}
	}
	return ""
}

// resolvePeers is the kind's completion step: --to peers (looked up in the targets'
// namespace) and --external hosts into CIDRs, so the plan the agents receive carries
// addresses only.
func resolvePeers(ctx context.Context, c kubernetes.Interface, namespace string, n *plan.Network) error {
	p, f := n.Partition, &n.Filter
	to := f.To
	if p != nil {
		to = p.To
	}
	if len(to) == 0 && len(f.External) == 0 {
		return nil
	}
	var cidrs, names []string
	if len(to) > 0 {
		var err error
		if cidrs, names, err = target.Peers(ctx, c, namespace, to); err != nil {
			return exit.AsAPIError("resolving --to peers", err)
		}
		if len(cidrs) == 0 {
			return exit.Usagef("--to %s: the peers have no IP address yet (no running pods, or a headless service without endpoints)", strings.Join(to, ","))
		}
	}
	ext, extNames, err := resolveExternal(ctx, f.External)
	if err != nil {
		return err
	}
	cidrs, names = append(cidrs, ext...), append(names, extNames...)
	f.External = nil
	if p != nil {
		p.Peers, p.PeerNames, p.To = append(p.Peers, cidrs...), append(p.PeerNames, names...), nil
		return nil
	}
	f.CIDRs, f.PeerNames, f.To = union(f.CIDRs, cidrs), append(f.PeerNames, names...), nil
	return nil
}

// resolveExternal turns --external values into CIDRs, looking host names up (all their
// IPv4 and IPv6 addresses). A host that does not resolve is refused by name.
func resolveExternal(ctx context.Context, ext []string) (cidrs, names []string, err error) {
	if len(ext) == 0 {
		return nil, nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
	defer cancel()
	for _, e := range ext {
		p, host, err := externalPeer(e)
		if err != nil {
			return nil, nil, exit.UsageError(err)
		}
		if host == "" {
			cidrs, names = append(cidrs, p.String()), append(names, p.String())
			continue
		}
		addrs, err := LookupHost(ctx, host)
		if err != nil || len(addrs) == 0 {
			why := "no address"
			if err != nil {
				why = err.Error()
			}
			return nil, nil, exit.Usagef("--external %s does not resolve (%s): give an IP or CIDR, or a name this machine's DNS resolves", host, why)
		}
		var hp []string
		for _, a := range addrs {
			a = a.Unmap()
			hp = append(hp, netip.PrefixFrom(a, a.BitLen()).String())
		}
		slices.Sort(hp)
		hp = slices.Compact(hp)
		cidrs = append(cidrs, hp...)
		names = append(names, host+" ("+strings.Join(hp, ", ")+")")
	}
	return cidrs, names, nil
}

// union appends the CIDRs of b not already in a.
func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, c := range b {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}
