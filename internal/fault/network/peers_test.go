package network

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// stubDNS answers db.example (IPv4 and IPv6) and nothing else, for the test's duration.
func stubDNS(t *testing.T) {
	old := LookupHost
	LookupHost = func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "db.example" {
			return []netip.Addr{netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("::ffff:192.0.2.7")}, nil
		}
		return nil, errors.New("no such host")
	}
	t.Cleanup(func() { LookupHost = old })
}

func peerCluster() *fake.Clientset {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "shop", Labels: map[string]string{"app": "db"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.7", PodIPs: []corev1.PodIP{{IP: "10.244.1.7"}, {IP: "fd00::7"}}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "db"}, ClusterIP: "10.96.0.12", ClusterIPs: []string{"10.96.0.12"}}}
	return fake.NewClientset(p, svc)
}

// TestResolvePeers: --to and --external become the filter's CIDRs (a partition's peers),
// IPv4 and IPv6, deduplicated, with their names for the dry run; nothing unresolved is
// left for the agent.
func TestResolvePeers(t *testing.T) {
	stubDNS(t)
	ctx := context.Background()
	n := plan.Network{Delay: &plan.Delay{Latency: ms(200)}, Filter: plan.Filter{
		CIDRs: []string{"10.96.0.12/32"}, To: []string{"svc/db"}, External: []string{"db.example", "203.0.113.0/24", "2001:db8::1"}}}
	if err := Validate(&n); err != nil {
		t.Fatal(err)
	}
	if err := resolvePeers(ctx, peerCluster(), "shop", &n); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.96.0.12/32", "10.244.1.7/32", "fd00::7/128", "192.0.2.7/32", "2001:db8::7/128", "203.0.113.0/24", "2001:db8::1/128"}
	if !slices.Equal(n.Filter.CIDRs, want) {
		t.Errorf("CIDRs %v, want %v", n.Filter.CIDRs, want)
	}
	if u := n.Filter.Unresolved(); len(u) != 0 {
		t.Errorf("left unresolved: %v", u)
	}
	d := details(&n)
	if len(d) != 1 || !strings.Contains(d[0].Value, "svc/db, db.example (192.0.2.7/32, 2001:db8::7/128)") || !strings.Contains(d[0].Value, "resolved by the CLI") {
		t.Errorf("dry-run details %+v", d)
	}
	if err := Validate(&n); err != nil {
		t.Errorf("the resolved spec does not validate: %v", err)
	}

	p := plan.Network{Partition: &plan.Partition{Direction: "both", To: []string{"-l app=db"}}, Filter: plan.Filter{External: []string{"db.example"}}}
	if err := resolvePeers(ctx, peerCluster(), "shop", &p); err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.244.1.7/32", "fd00::7/128", "192.0.2.7/32", "2001:db8::7/128"}; !slices.Equal(p.Partition.Peers, want) || len(p.Filter.CIDRs) != 0 {
		t.Errorf("partition peers %v (filter %v), want %v", p.Partition.Peers, p.Filter.CIDRs, want)
	}
}

// TestPeersRefused: each bad peer is refused naming its flag, before (Validate) or at
// (resolvePeers) the completion step; nothing else is asked.
func TestPeersRefused(t *testing.T) {
	stubDNS(t)
	for _, c := range []struct {
		to, ext []string
		want    string
	}{
		{to: []string{""}, want: "--to: empty peer"},
		{to: []string{"-l "}, want: "--to: empty label selector"},
		{to: []string{"-l=app"}, want: "not a label selector"},
		{to: []string{"widget/x"}, want: "--to"},
		{to: []string{"app=nothing"}, want: "resolved to no IP address"},
		{to: []string{"svc/nope"}, want: "svc/nope"},
		{ext: []string{"nowhere.example"}, want: "--external nowhere.example does not resolve"},
		{ext: []string{"db.example:5432"}, want: "without a port"},
		{ext: []string{"[2001:db8::1]:80"}, want: "without a port"},
		{ext: []string{"fe80::1%eth0"}, want: "without a port"},
		{ext: []string{"https://db.example"}, want: "not a URL"},
		{ext: []string{"db..example"}, want: "an empty label"},
		{ext: []string{"-db.example"}, want: "starts or ends with '-'"},
		{ext: []string{"10.0.0.0/33"}, want: "not a CIDR"},
		{ext: []string{strings.Repeat("a.", 130) + "x"}, want: "longer than 253"},
		{ext: make([]string, MaxExternal+1), want: "at most 64"},
	} {
		n := plan.Network{Loss: &plan.Percent{Percent: 10}, Filter: plan.Filter{To: c.to, External: c.ext}}
		err := Validate(&n)
		if err == nil {
			err = resolvePeers(context.Background(), peerCluster(), "shop", &n)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("--to %q --external %q: %v, want %q", c.to, c.ext, err, c.want)
		}
	}
}
