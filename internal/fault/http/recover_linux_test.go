package http_test

import (
	"fmt"
	"io"
	nethttp "net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	httpfault "github.com/kubectl-chaos/kubectl-chaos/internal/fault/http"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// peerServer serves HTTP on the peer's port 8080, where the target's egress requests go.
func peerServer(t testing.TB, p *rtest.Pair) {
	h := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "peer %s", r.URL.Path)
	})
	srv := &nethttp.Server{Handler: h}
	go srv.Serve(rtest.ListenIn(t, p.Peer, "tcp4", ":8080"))
	t.Cleanup(func() { srv.Close() })
}

// nftIn runs nft -f with script inside namespace ns.
func nftIn(t testing.TB, ns, script string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v: %s\n%s", ns, err, out, script)
	}
}

// loseFirstFIN makes the pod's namespace drop the first FIN sent from port (the proxy's
// listener): what a loaded node's full backlog does once in a while. The retransmission
// (≥200 ms later) passes.
func loseFirstFIN(t testing.TB, p *rtest.Pair, port uint16) {
	const table = "kc_httpfix_finloss"
	nftIn(t, p.Pod, fmt.Sprintf(`table inet %s {
	chain out {
		type filter hook output priority -300; policy accept;
		tcp sport %d tcp flags & fin == fin quota until 60 bytes counter drop
	}
}`, table, port))
	t.Cleanup(func() {
		exec.Command("ip", "netns", "exec", p.Pod, "nft", "delete", "table", "inet", table).Run()
	})
}

// TestRecoverEndsHeldRequest: a request the egress delay holds when the fault is
// recovered ends at once for its client (the connection closes), even when the first
// FIN the proxy sends is lost: recovery waits for the client's acknowledgment while the
// redirect still rewrites the proxy's packets. Before, the FIN's retransmission left
// after the table and the conntrack entry were gone, with the listener's address the
// client does not know, and the client waited until its own timeout (10 s). Afterwards
// a new request gets the real server's answer as fast as before the fault.
func TestRecoverEndsHeldRequest(t *testing.T) {
	p := rtest.NewPair(t)
	peerServer(t, p)
	url := fmt.Sprintf("http://%s:8080/slow", p.PeerIP)
	c := client(p.Pod, false)
	base, _ := median(5, func() time.Duration { return timed(t, c, url) })
	a, rec := apply(t, p, plan.HTTP{Action: plan.HTTPDelay, Direction: plan.HTTPEgress, Port: 8080, Path: "/slow", Delay: plan.Duration(5 * time.Second)})
	ap := a.(*httpfault.Active)
	loseFirstFIN(t, p, ap.L.Port)
	done := make(chan reply, 1)
	go func() { done <- get(c, "GET", url) }()
	for deadline := time.Now().Add(5 * time.Second); ap.Proxy.C.Matched.Load() == 0; time.Sleep(5 * ms) {
		if time.Now().After(deadline) {
			t.Fatalf("the request did not reach the proxy: %s", ap.Counters())
		}
	}
	time.Sleep(50 * ms) // now in the delay
	start := time.Now()
	rec()
	recovered := time.Since(start)
	select {
	case r := <-done:
		ended := time.Since(start)
		t.Logf("held request: %v; recovery took %s, the client's request ended %s after recovery started", r.err, recovered, ended)
		if r.err == nil {
			t.Errorf("held request answered %d %q, want its connection closed", r.code, r.body)
		}
		if ended > DrainBound {
			t.Errorf("held request ended %s after recovery started, want ≤ %s", ended, DrainBound)
		}
	case <-time.After(4 * time.Second):
		t.Fatalf("held request still waiting 4 s after recovery started (recovery took %s): the client never heard the connection end", recovered)
	}
	after, all := median(5, func() time.Duration { return timed(t, c, url) })
	t.Logf("real server: %s before the fault, %s after recovery (%v)", base, after, all)
	if after > base+200*ms {
		t.Errorf("after recovery: median %s, before the fault %s", after, base)
	}
}

// DrainBound is how long after recovery starts a client of a held request may wait to
// hear its connection end: one lost FIN and its retransmission (RTO ≥200 ms) plus
// scheduling on this loaded machine, far below the client's 10 s timeout.
const DrainBound = 1500 * ms

// TestKeepAliveAfterRecover: for every action, ingress and egress, a keep-alive client
// whose idle connection went through the fault is answered by the real server on its
// very next request after recovery (its connection is closed, and Go's client retries
// an idempotent request on a new one), within the time the same request took before
// the fault plus 1 s.
func TestKeepAliveAfterRecover(t *testing.T) {
	p := rtest.NewPair(t)
	server(t, p)
	peerServer(t, p)
	body := `{"chaos":true}`
	actions := []plan.HTTP{
		{Action: plan.HTTPDelay, Delay: plan.Duration(50 * ms)},
		{Action: plan.HTTPAbort, Code: 503},
		{Action: plan.HTTPReplace, Code: 500, Body: &body},
		{Action: plan.HTTPPatch, Headers: []plan.Header{{Name: "X-Chaos", Value: "1"}}},
	}
	for _, dir := range []string{plan.HTTPIngress, plan.HTTPEgress} {
		from, url, real := p.Peer, fmt.Sprintf("http://%s:8080/ka", p.PodIP), "from "+p.PeerIP.String()
		if dir == plan.HTTPEgress {
			from, url, real = p.Pod, fmt.Sprintf("http://%s:8080/ka", p.PeerIP), "peer /ka"
		}
		for _, h := range actions {
			t.Run(dir+"/"+h.Action, func(t *testing.T) {
				c := client(from, true)
				defer c.CloseIdleConnections()
				base, _ := median(3, func() time.Duration { return timed(t, c, url) })
				c.CloseIdleConnections() // the next connection goes through the fault
				h.Direction, h.Port = dir, 8080
				a, rec := apply(t, p, h)
				if r := get(c, "GET", url); r.err != nil || (r.code == 200 && strings.Contains(r.body, real) && h.Action != plan.HTTPDelay && h.Action != plan.HTTPPatch) {
					t.Fatalf("during the fault: %+v, want the fault's answer", r)
				}
				conns := a.(*httpfault.Active).Proxy.C.Conns.Load()
				rec()
				start := time.Now()
				r := get(c, "GET", url)
				took := time.Since(start)
				if r.err != nil || r.code != 200 || !strings.Contains(r.body, real) || r.hdr.Get("X-Chaos") != "" {
					t.Errorf("first request after recovery: %+v, want the real answer %q", r, real)
				}
				if took > base+time.Second {
					t.Errorf("first request after recovery took %s, before the fault %s", took, base)
				}
				t.Logf("before %s, first after recovery %s (proxy connections %d)", base, took, conns)
			})
		}
	}
}
