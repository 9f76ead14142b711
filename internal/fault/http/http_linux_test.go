package http_test

import (
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	httpfault "github.com/kubectl-chaos/kubectl-chaos/internal/fault/http"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// server serves HTTP on the pod's port 8080 (IPv4 and IPv6): the body says the client
// address the application saw; /stream writes ?n chunks 20 ms apart.
func server(t testing.TB, p *rtest.Pair) {
	mux := nethttp.NewServeMux()
	mux.HandleFunc("/", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Seen-By", "app")
		fmt.Fprintf(w, "from %s %s %s", r.RemoteAddr, r.Method, r.URL.Path)
	})
	mux.HandleFunc("/json", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"a":1,"b":{"c":2}}`)
	})
	mux.HandleFunc("/echo", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		// Streamed back piece by piece while the request body still comes in.
		rc := nethttp.NewResponseController(w)
		rc.EnableFullDuplex()
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				rc.Flush()
			}
			if err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/stream", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		for i := range 5 {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(nethttp.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	})
	for _, l := range []net.Listener{rtest.ListenIn(t, p.Pod, "tcp4", ":8080"), rtest.ListenIn(t, p.Pod, "tcp6", "[::]:8080")} {
		srv := &nethttp.Server{Handler: mux}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
	}
}

// client is an HTTP client whose connections start in namespace ns.
func client(ns string, keepAlive bool) *nethttp.Client {
	return &nethttp.Client{Timeout: 10 * time.Second, Transport: &nethttp.Transport{
		DialContext: rtest.DialIn(ns), DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 4,
	}}
}

type reply struct {
	code int
	body string
	hdr  nethttp.Header
	err  error
}

func get(c *nethttp.Client, method, url string) reply {
	req, _ := nethttp.NewRequest(method, url, strings.NewReader(""))
	resp, err := c.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{code: resp.StatusCode, body: string(b), hdr: resp.Header, err: err}
}

func apply(t testing.TB, p *rtest.Pair, h plan.HTTP) (fault.Active, func()) {
	t.Helper()
	inj, err := fault.New(plan.Fault{Kind: plan.KindHTTP, HTTP: &h})
	if err != nil {
		t.Fatal(err)
	}
	ft := p.Target("exp-dnshttp-" + h.Action)
	j := rtest.Journal(t, ft)
	a, err := inj.Apply(context.Background(), ft, j)
	if err != nil {
		if _, rerr := j.Recover(context.Background()); rerr != nil {
			t.Error(rerr)
		}
		t.Fatal(err)
	}
	recovered := false
	rec := func() {
		if recovered {
			return
		}
		recovered = true
		if _, err := a.Recover(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := j.Done(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(rec)
	return a, rec
}

// TestServerSideAbortKeepsClientAddress: requests into the pod to a matching path get the
// asked status, others the application's answer with the real client address; kubelet
// probes (from the node's address) and lo are left alone; after recovery everything is as
// before and nothing of ours is left in the namespace.
func TestServerSideAbortKeepsClientAddress(t *testing.T) {
	p := rtest.NewPair(t)
	server(t, p)
	before := p.Tables(t) + p.IPRules(t)
	peer := client(p.Peer, true)
	node := client("", true)
	base4 := fmt.Sprintf("http://%s:8080", p.PodIP)
	base6 := fmt.Sprintf("http://[%s]:8080", p.PodIP6)
	if r := get(peer, "GET", base4+"/fail"); r.err != nil || r.code != 200 || !strings.Contains(r.body, p.PeerIP.String()) {
		t.Fatalf("baseline: %+v", r)
	}
	peer.CloseIdleConnections() // connections made before the fault are not redirected
	body := "down for maintenance"
	a, rec := apply(t, p, plan.HTTP{Action: plan.HTTPAbort, Port: 8080, Path: "/fail", Method: "GET", Code: 503,
		Body: &body, Headers: []plan.Header{{Name: "Retry-After", Value: "5"}}})
	t.Logf("objects: %v", a.Objects())
	for _, base := range []string{base4, base6} {
		if r := get(peer, "GET", base+"/fail"); r.err != nil || r.code != 503 || r.body != body || r.hdr.Get("Retry-After") != "5" {
			t.Errorf("GET %s/fail during the fault: %+v, want 503 %q", base, r, body)
		}
		if r := get(peer, "POST", base+"/fail"); r.err != nil || r.code != 200 {
			t.Errorf("POST %s/fail (method does not match): %+v", base, r)
		}
		r := get(peer, "GET", base+"/ok")
		want := p.PeerIP.String()
		if base == base6 {
			want = p.PeerIP6.String()
		}
		if r.err != nil || r.code != 200 || !strings.Contains(r.body, want) || r.hdr.Get("X-Seen-By") != "app" {
			t.Errorf("GET %s/ok during the fault: %+v, want 200 from %s", base, r, want)
		}
	}
	if r := get(node, "GET", "http://10.231.1.1:8080/fail"); r.err != nil || r.code != 200 || !strings.Contains(r.body, p.HostPeerIP.String()) {
		t.Errorf("probe from the node's address: %+v, want the application's 200", r)
	}
	// Streaming responses pass as they come.
	start := time.Now()
	r := get(peer, "GET", base4+"/stream")
	if r.err != nil || strings.Count(r.body, "chunk") != 5 || time.Since(start) < 80*time.Millisecond {
		t.Errorf("stream: %+v after %s", r, time.Since(start))
	}
	// A direct connection to the proxy's port is dropped by our table.
	if ap := a.(*httpfault.Active); ap != nil {
		d := rtest.DialIn(p.Peer)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		c, err := d(ctx, "tcp", fmt.Sprintf("%s:%d", p.PodIP, ap.L.Port))
		cancel()
		if err == nil {
			c.Close()
			t.Errorf("a direct connection to the listener port %d was accepted", ap.L.Port)
		}
		t.Logf("counters: %s", ap.Counters())
	}
	rec()
	if r := get(peer, "GET", base4+"/fail"); r.err != nil || r.code != 200 {
		t.Errorf("after recovery: %+v", r)
	}
	if after := p.Tables(t) + p.IPRules(t); after != before {
		t.Errorf("namespace state changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
