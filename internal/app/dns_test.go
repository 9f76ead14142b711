package app

import (
	"strings"
	"testing"
)

// TestDNSDryRun: the dry run of network dns names the redirect of UDP and TCP 53, the
// listener and how each object goes, and creates nothing; bad input is refused before
// any API call.
func TestDNSDryRun(t *testing.T) {
	c := webCluster()
	r := run(t, c, "network", "dns", "deploy/web", "--pattern", "payments.*.svc.cluster.local", "--error", "SERVFAIL", "--dry-run")
	if r.err != nil {
		t.Fatalf("dry-run: %v\nstderr: %s", r.err, r.errOut)
	}
	noWrites(t, c)
	for _, want := range []string{
		"dns SERVFAIL for payments.*.svc.cluster.local",
		"table inet kubectl_chaos_dns_",
		"chain out { type nat hook output priority -100; policy accept; meta mark 0x4b43<hash> return; meta l4proto udp th dport 53 ct mark set 0x4b43<hash> redirect to :<listener-port>; meta l4proto tcp th dport 53 ct mark set 0x4b43<hash> redirect to :<listener-port>; }",
		"chain in { type filter hook input priority -150; policy accept; ct mark != 0x4b43<hash> meta l4proto udp th dport <listener-port> drop;",
		"DNS resolver (SERVFAIL for payments.*.svc.cluster.local; other names forwarded unchanged to the server the pod asked) on udp+tcp port <listener-port>",
		"conntrack entries of redirected connections",
		"removed by:",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("dry-run lacks %q", want)
		}
	}
	for _, bad := range [][]string{
		{"--pattern", "a.com", "--error", "NOERROR"},
		{"--pattern", "a.com", "--ip", "1.2.3"},
		{"--pattern", "a.com"},
	} {
		c := webCluster()
		r := run(t, c, append([]string{"network", "dns", "deploy/web", "--dry-run"}, bad...)...)
		if r.err == nil || len(c.Actions()) != 0 {
			t.Errorf("%v: err %v, %d API calls; want a refusal before any call", bad, r.err, len(c.Actions()))
		}
	}
}
