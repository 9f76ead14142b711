//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// dnsResult is the echo server's GET /resolve answer: what a resolver client inside
// that pod got (tools/echo/dns.go).
type dnsResult struct {
	Rcode string   `json:"rcode"`
	Addrs []string `json:"addrs"`
	Ms    float64  `json:"ms"`
	Error string   `json:"error,omitempty"`
}

func (r dnsResult) String() string {
	if r.Error != "" {
		return "error " + r.Error
	}
	return fmt.Sprintf("%s %s in %.1fms", r.Rcode, strings.Join(r.Addrs, ","), r.Ms)
}

// real is the echo DNS server's answer to an A query (DNSAnswerA).
func (r dnsResult) real() bool {
	return r.Rcode == "NOERROR" && strings.Join(r.Addrs, ",") == "192.0.2.10"
}

// resolveFrom asks, from inside the pod at podIP, the DNS server at server for name.
func resolveFrom(t *testing.T, podIP, server, name, network string) dnsResult {
	t.Helper()
	u := fmt.Sprintf("http://%s:8080/resolve?%s", podIP, url.Values{
		"server": {server + ":53"}, "name": {name}, "net": {network}, "type": {"A"}}.Encode())
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return dnsResult{Error: err.Error()}
	}
	defer resp.Body.Close()
	var r dnsResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return dnsResult{Error: err.Error()}
	}
	return r
}

// TestDNSError: through the real plugin, names matching --pattern get NXDOMAIN over UDP
// and TCP from inside the target pod, other names the real answer of the pod's DNS
// server (an echo pod: the cluster runs no CoreDNS), before, during and after Ctrl-C;
// the server pod itself is untouched, and nothing is left on the node or in the target.
func TestDNSError(t *testing.T) {
	sc := newScenario(t)
	server := sc.Echo("dnssrv", 1)[0]
	web := sc.Echo("web", 1)[0]
	ask := func(name, network string) dnsResult { return resolveFrom(t, web, server, name, network) }
	for _, n := range []string{"udp", "tcp"} {
		if r := ask("pay.fault.test", n); !r.real() {
			t.Fatalf("before the fault, %s: %s; want NOERROR 192.0.2.10", n, r)
		}
	}
	sc.TrackTargets("web")
	runFault(sc, faultRun[dnsResult]{
		Args:    []string{"network", "dns", "deploy/web", "--pattern", "*.fault.test", "--error", "NXDOMAIN", "--duration", "3m"},
		Measure: paced(200*time.Millisecond, func() dnsResult { return ask("pay.fault.test", "udp") }),
		Active:  func(r dnsResult) bool { return r.Rcode == "NXDOMAIN" },
		During: func(s *session) {
			for _, n := range []string{"udp", "tcp"} {
				for range 10 {
					if r := ask("a.b.fault.test", n); r.Rcode != "NXDOMAIN" {
						t.Errorf("matching name over %s: %s, want NXDOMAIN", n, r)
					}
					if r := ask("api.example.com", n); !r.real() {
						t.Errorf("other name over %s: %s, want the real answer", n, r)
					}
					if r := ask("fault.test", n); !r.real() {
						t.Errorf("fault.test (not under *.fault.test) over %s: %s, want the real answer", n, r)
					}
				}
			}
			// The server pod resolves through its own netns: not faulted.
			if r := resolveFrom(t, server, server, "pay.fault.test", "udp"); !r.real() {
				t.Errorf("the DNS server pod itself: %s, want the real answer", r)
			}
		},
		Gone: func(r dnsResult) bool { return r.real() },
		After: func(s *session) {
			for _, n := range []string{"udp", "tcp"} {
				if r := ask("pay.fault.test", n); !r.real() {
					t.Errorf("after recovery over %s: %s", n, r)
				}
			}
			if out := s.Output(); !strings.Contains(out, "matched") {
				t.Errorf("the agent reported no counters:\n%s", out)
			}
		},
	})
}
