package target

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Peers resolves partition peers (--to pod/NAME, svc/NAME, deploy/NAME…, a label
// selector "k=v,…", a bare pod name, or an IP/CIDR literal) in namespace to CIDRs (/32
// or /128 per pod IP, and a Service's cluster IPs), sorted and deduplicated. names are
// the display names, one per distinct peer. A peer that resolves to no address is an
// exit.UsageError.
func Peers(ctx context.Context, c kubernetes.Interface, namespace string, to []string) (cidrs, names []string, err error) {
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	r := resolver{c: c}
	set := map[netip.Prefix]bool{}
	seen := map[string]bool{}
	for _, peer := range to {
		peer, err := PeerText(peer)
		if err != nil {
			return nil, nil, exit.UsageError(err)
		}
		prefixes, name, err := r.peer(ctx, namespace, peer)
		if err != nil {
			return nil, nil, err
		}
		if len(prefixes) == 0 {
			return nil, nil, exit.Usagef("--to %s resolved to no IP address in namespace %s (no running pods with an IP)", name, namespace)
		}
		for _, p := range prefixes {
			set[p] = true
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	ps := make([]netip.Prefix, 0, len(set))
	for p := range set {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	for _, p := range ps {
		cidrs = append(cidrs, p.String())
	}
	return cidrs, names, nil
}

// PeerText is one --to value as Peers reads it: trimmed, with kubectl's "-l " (or
// "-l=") before a label selector dropped. An empty value, or an empty selector (which
// would select every pod of the namespace), is an error naming --to.
func PeerText(peer string) (string, error) {
	peer = strings.TrimSpace(peer)
	sel := false
	for _, p := range []string{"-l=", "-l ", "--selector=", "--selector "} {
		if rest, ok := strings.CutPrefix(peer+" ", p); ok {
			peer, sel = strings.TrimSpace(rest), true
			break
		}
	}
	switch {
	case peer == "" && sel:
		return "", fmt.Errorf("--to: empty label selector (it would select every pod of the namespace); give k=v")
	case peer == "":
		return "", fmt.Errorf("--to: empty peer; use pod/NAME, svc/NAME, deploy/NAME, a label selector k=v or a CIDR")
	case sel && !isSelector(peer):
		return "", fmt.Errorf("--to -l %q: not a label selector; give k=v, k!=v, k in (a,b)…", peer)
	}
	return peer, nil
}

// isSelector tells a label selector from TYPE/NAME: label keys may contain '/', but a
// selector always has an operator.
func isSelector(s string) bool {
	return strings.ContainsAny(s, "=!()") || strings.Contains(s, " in ") || strings.Contains(s, " notin ")
}

func (r resolver) peer(ctx context.Context, ns, peer string) ([]netip.Prefix, string, error) {
	if p, err := netip.ParsePrefix(peer); err == nil {
		return []netip.Prefix{p.Masked()}, p.Masked().String(), nil
	}
	if a, err := netip.ParseAddr(peer); err == nil {
		return []netip.Prefix{hostPrefix(a)}, a.String(), nil
	}
	if isSelector(peer) {
		sel, err := labels.Parse(peer)
		if err != nil {
			return nil, "", exit.Usagef("--to %q: not a valid label selector: %v", peer, firstLine(err))
		}
		pods, err := r.listPods(ctx, ns, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return nil, "", err
		}
		return podPrefixes(pods), "-l " + peer, nil
	}
	ref, err := ParseRef(peer)
	if err != nil {
		return nil, "", exit.Usagef("--to: %v; use pod/NAME, svc/NAME, deploy/NAME, a label selector k=v or a CIDR", err)
	}
	name := ref.String()
	if ref.Bare {
		name = "pod/" + ref.Name
	}
	if ref.Kind == KindService {
		// A Service without a selector still has cluster IPs worth cutting off.
		svc, pods, err := r.service(ctx, ns, ref, false)
		if err != nil {
			return nil, "", err
		}
		return append(podPrefixes(pods), serviceIPs(svc)...), name, nil
	}
	pods, err := r.podsOf(ctx, ns, ref)
	if err != nil {
		return nil, "", err
	}
	out := podPrefixes(pods)
	return out, name, nil
}

func hostPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen())
}

// podPrefixes returns the IPs of pods that are alive (not finished, not being deleted).
func podPrefixes(pods []corev1.Pod) []netip.Prefix {
	var out []netip.Prefix
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, ip := range podIPs(p) {
			if a, err := netip.ParseAddr(ip); err == nil {
				out = append(out, hostPrefix(a))
			}
		}
	}
	return out
}

func serviceIPs(svc *corev1.Service) []netip.Prefix {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []netip.Prefix
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil { // skips "None" (headless)
			out = append(out, hostPrefix(a))
		}
	}
	return out
}
