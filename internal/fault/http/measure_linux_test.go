package http_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

const ms = time.Millisecond

// median of n measurements.
func median(n int, f func() time.Duration) (time.Duration, []time.Duration) {
	var all []time.Duration
	for range n {
		all = append(all, f())
	}
	s := slices.Clone(all)
	slices.Sort(s)
	return s[n/2], all
}

// timed is the time one GET takes, failing the test on an unexpected answer.
func timed(t testing.TB, c *nethttp.Client, url string) time.Duration {
	start := time.Now()
	r := get(c, "GET", url)
	d := time.Since(start)
	if r.err != nil || r.code != 200 {
		t.Fatalf("GET %s: %+v", url, r)
	}
	return d
}

// pair measures a and b alternately n times (so load changes on this shared machine hit
// both alike) and returns their medians.
func pair(n int, a, b func() time.Duration) (ma, mb time.Duration, all []time.Duration) {
	var as, bs []time.Duration
	for range n {
		as, bs = append(as, a()), append(bs, b())
	}
	all = slices.Clone(as)
	slices.Sort(as)
	slices.Sort(bs)
	return as[n/2], bs[n/2], all
}

// TestDelay: a matching request arrives --delay (400 ms: a late timer on this loaded
// machine is a small part of it) later: its median over 15 fresh
// connections minus the median of a non-matching path measured alternately with it (the
// baseline of the same moment) is the delay ±10 %; the other path stays well below the
// delay (its no-fault median is measured first).
func TestDelay(t *testing.T) {
	p := rtest.NewPair(t)
	server(t, p)
	c := client(p.Peer, false)
	base := fmt.Sprintf("http://%s:8080", p.PodIP)
	slow0, fast0, _ := pair(15, func() time.Duration { return timed(t, c, base+"/slow") }, func() time.Duration { return timed(t, c, base+"/fast") })
	const delay = 400 * ms
	_, rec := apply(t, p, plan.HTTP{Action: plan.HTTPDelay, Port: 8080, Path: "/slow", Delay: plan.Duration(delay)})
	slow, fast, all := pair(15, func() time.Duration { return timed(t, c, base+"/slow") }, func() time.Duration { return timed(t, c, base+"/fast") })
	rec()
	added := slow - fast
	t.Logf("delay %s: no fault /slow %s /fast %s; with the fault /slow %s (%v), /fast %s: added %s", delay, slow0, fast0, slow, all, fast, added)
	if added < delay*9/10 || added > delay*11/10 {
		t.Errorf("added %s, want %s ±10%%", added, delay)
	}
	if fast > fast0+delay/4 {
		t.Errorf("other path: %s with the fault, %s before: delayed too", fast, fast0)
	}
}

// TestPercent: replace --percent 30 changes the body of 30 ±3 % of 4000 requests over
// keep-alive connections (σ 0.7 pp: ±3 pp is over 4σ), the others carry the
// application's answer.
func TestPercent(t *testing.T) {
	p := rtest.NewPair(t)
	server(t, p)
	body := "replaced"
	_, rec := apply(t, p, plan.HTTP{Action: plan.HTTPReplace, Port: 8080, Body: &body, Percent: 30})
	const n, workers = 4000, 4
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client(p.Peer, true)
			for range n / workers {
				r := get(c, "GET", fmt.Sprintf("http://%s:8080/x", p.PodIP))
				k := "other"
				switch {
				case r.err != nil:
					k = "error"
				case r.code == 200 && r.body == body:
					k = "replaced"
				case r.code == 200 && strings.Contains(r.body, p.PeerIP.String()):
					k = "app"
				}
				mu.Lock()
				counts[k]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rec()
	pct := 100 * float64(counts["replaced"]) / n
	t.Logf("--percent 30: %d of %d replaced (%.2f %%), %v", counts["replaced"], n, pct, counts)
	if pct < 27 || pct > 33 {
		t.Errorf("%.2f %% replaced, want 30 ±3", pct)
	}
	if counts["replaced"]+counts["app"] != n {
		t.Errorf("answers other than the two expected: %v", counts)
	}
}

// TestKeepAliveChunked: on one keep-alive connection through the proxy, a plain request,
// a patched one, a chunked request body streamed both ways (each piece echoed back
// before the next is sent) and a streaming response (first chunk long before the last)
// all work; the proxy saw one connection and five requests.
func TestKeepAliveChunked(t *testing.T) {
	p := rtest.NewPair(t)
	server(t, p)
	a, rec := apply(t, p, plan.HTTP{Action: plan.HTTPPatch, Port: 8080, Path: "/json", Headers: []plan.Header{{Name: "X-Chaos", Value: "1"}}})
	c := client(p.Peer, true)
	c.Transport.(*nethttp.Transport).MaxConnsPerHost = 1
	base := fmt.Sprintf("http://%s:8080", p.PodIP)
	if r := get(c, "GET", base+"/ok"); r.err != nil || r.code != 200 || r.hdr.Get("X-Chaos") != "" {
		t.Errorf("GET /ok: %+v", r)
	}
	if r := get(c, "GET", base+"/json"); r.err != nil || r.body != `{"a":1,"b":{"c":2}}` || r.hdr.Get("X-Chaos") != "1" {
		t.Errorf("GET /json (patched header): %+v", r)
	}
	// Chunked request body (unknown length), echoed piece by piece.
	pr, pw := io.Pipe()
	req, _ := nethttp.NewRequest("POST", base+"/echo", pr)
	done := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			done <- fmt.Errorf("response transfer encoding %v, want chunked", resp.TransferEncoding)
			return
		}
		br := bufio.NewReader(resp.Body)
		for i := range 3 {
			line, err := br.ReadString('\n')
			if err != nil || line != fmt.Sprintf("piece %d\n", i) {
				done <- fmt.Errorf("echo %d: %q %v", i, line, err)
				return
			}
			if i < 2 {
				fmt.Fprintf(pw, "piece %d\n", i+1) // the next piece only after this one came back
			} else {
				pw.Close()
			}
		}
		_, err = io.Copy(io.Discard, br)
		done <- err
	}()
	fmt.Fprintf(pw, "piece 0\n")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("chunked echo: %v", err)
		}
	case <-time.After(10 * time.Second):
		pw.CloseWithError(io.ErrClosedPipe)
		t.Fatal("chunked echo stuck: the proxy holds a streamed body")
	}
	// Streaming response: five chunks 20 ms apart.
	start := time.Now()
	resp, err := c.Get(base + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	rest, _ := io.ReadAll(br)
	resp.Body.Close()
	all := time.Since(start)
	t.Logf("stream: first chunk after %s, all after %s", first, all)
	if strings.Count(string(rest), "chunk") != 4 || all-first < 60*ms {
		t.Errorf("stream through the proxy: first chunk %s, all %s, rest %q: not streamed", first, all, rest)
	}
	if r := get(c, "GET", base+"/ok"); r.err != nil || r.code != 200 {
		t.Errorf("GET /ok at the end: %+v", r)
	}
	ctr := a.(interface{ Counters() string }).Counters()
	t.Logf("counters: %s", ctr)
	if !strings.HasPrefix(ctr, "connections 1 ") || !strings.Contains(ctr, "requests 5, matched 1, altered 1") {
		t.Errorf("counters %q: want 1 connection carrying 5 requests, 1 matched", ctr)
	}
	rec()
}

// tlsServer serves HTTPS on the peer's port 8443 (httptest's certificate).
func tlsServer(t testing.TB, p *rtest.Pair) {
	srv := httptest.NewUnstartedServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) { fmt.Fprint(w, "tls ok") }))
	srv.Listener.Close()
	srv.Listener = rtest.ListenIn(t, p.Peer, "tcp4", ":8443")
	srv.StartTLS()
	t.Cleanup(srv.Close)
}

// handshake is the time of one TLS handshake from the pod to the peer's :8443 with SNI
// name, on a fresh connection.
func handshake(p *rtest.Pair, name string) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := rtest.DialIn(p.Pod)(ctx, "tcp", fmt.Sprintf("%s:8443", p.PeerIP))
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	c := tls.Client(raw, &tls.Config{ServerName: name, InsecureSkipVerify: true})
	err = c.HandshakeContext(ctx)
	return time.Since(start), err
}

// TestTLSBySNI: egress TLS connections whose ClientHello names a matching server are
// held --delay (±10 % against the baseline) or reset; another name is untouched, and
// nothing is decrypted (the client completes its handshake with the real server).
func TestTLSBySNI(t *testing.T) {
	p := rtest.NewPair(t)
	tlsServer(t, p)
	hs := func(name string) func() time.Duration {
		return func() time.Duration {
			d, err := handshake(p, name)
			if err != nil {
				t.Fatalf("handshake %s: %v", name, err)
			}
			return d
		}
	}
	_, other0, _ := pair(9, hs("api.example.com"), hs("www.example.org"))
	const delay = 400 * ms
	a, rec := apply(t, p, plan.HTTP{Action: plan.HTTPDelay, Direction: plan.HTTPEgress, Port: 8443, TLS: true,
		SNI: []string{"api.example.com"}, Delay: plan.Duration(delay)})
	match, other, all := pair(15, hs("api.example.com"), hs("www.example.org"))
	t.Logf("counters: %s", a.(interface{ Counters() string }).Counters())
	rec()
	added := match - other
	t.Logf("TLS delay %s: matching SNI %s (%v), other SNI %s (%s without the fault): added %s", delay, match, all, other, other0, added)
	if added < delay*9/10 || added > delay*11/10 {
		t.Errorf("matching SNI: added %s, want %s ±10%%", added, delay)
	}
	if other > other0+delay/4 {
		t.Errorf("other SNI: %s with the fault, %s before: delayed too", other, other0)
	}
	_, rec = apply(t, p, plan.HTTP{Action: plan.HTTPAbort, Direction: plan.HTTPEgress, Port: 8443, TLS: true, SNI: []string{"*.example.com"}})
	for range 5 {
		if _, err := handshake(p, "api.example.com"); err == nil || !strings.Contains(err.Error(), "reset") {
			t.Errorf("matching SNI with abort: %v, want a connection reset", err)
		}
		if _, err := handshake(p, "www.example.org"); err != nil {
			t.Errorf("other SNI with abort: %v", err)
		}
	}
	rec()
	if _, err := handshake(p, "api.example.com"); err != nil {
		t.Errorf("after recovery: %v", err)
	}
}

// startChild runs the test binary as an agent applying h to the pod's namespace, with
// its journal in dir; it returns once the fault is in place.
func startChild(t testing.TB, p *rtest.Pair, h string, dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "KC_NETNS="+p.PodNetns, fmt.Sprintf("KC_INODE=%d", p.PodInode), "KC_DIR="+dir, "KC_SPEC="+h)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("agent child: %q", line)
	}
	return cmd
}

// TestKill9ThenSweep: after kill -9 of the agent its owned table goes with it, so the
// application answers requests itself at once (no redirect left); the TPROXY policy
// rule and route stay until the sweep (journal recovery) removes them; then the
// namespace is as before and the residue tool shows nothing of ours.
func TestKill9ThenSweep(t *testing.T) {
	p := rtest.NewPair(t)
	server(t, p)
	mine := []string{p.Pod, p.Peer, "kubectl_chaos_http", "exp-dnshttp"}
	before := rtest.Residue(t, mine...)
	nsBefore := p.Tables(t) + p.IPRules(t)
	dir := t.TempDir()
	cmd := startChild(t, p, `{"action":"abort","port":8080,"path":"/fail","code":503}`, dir)
	c := client(p.Peer, false)
	url := fmt.Sprintf("http://%s:8080/fail", p.PodIP)
	if r := get(c, "GET", url); r.code != 503 {
		t.Fatalf("fault not active: %+v", r)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if tb := p.Tables(t); strings.Contains(tb, "kubectl_chaos") {
		t.Errorf("owned table outlived the agent: %s", tb)
	}
	if r := get(c, "GET", url); r.err != nil || r.code != 200 {
		t.Errorf("right after kill -9: %+v, want the application's answer", r)
	}
	t.Logf("after kill -9, before the sweep:\n%s", p.IPRules(t))
	swept, err := journal.SweepWith(context.Background(), journal.SweepOptions{Dir: dir, Now: time.Now().Add(2 * time.Hour)})
	if err != nil || len(swept) != 1 {
		t.Fatalf("sweep: %+v %v", swept, err)
	}
	t.Logf("the sweep removed %d objects", len(swept[0].Removed))
	if after := p.Tables(t) + p.IPRules(t); after != nsBefore {
		t.Errorf("namespace after the sweep:\n%s\nbefore:\n%s", after, nsBefore)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*", "*.json")); len(files) > 0 {
		t.Errorf("journal left: %v", files)
	}
	if after := rtest.Residue(t, mine...); after != before {
		t.Errorf("residue changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// rawExchange writes b to the pod's :8080 from the peer and returns what comes back
// until the server closes or 1 s of silence.
func rawExchange(t *testing.T, p *rtest.Pair, b string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rtest.DialIn(p.Peer)(ctx, "tcp", fmt.Sprintf("%s:8080", p.PodIP))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, b)
	c.SetReadDeadline(time.Now().Add(time.Second))
	out, _ := io.ReadAll(c)
	var keep []string // without the Date field, which changes
	for _, l := range strings.SplitAfter(string(out), "\n") {
		if !strings.HasPrefix(l, "Date: ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// TestPassThroughAndProbes: with an abort rule on every request, an HTTP/2 prior-
// knowledge connection (h2c) and bytes that are no HTTP/1 request get exactly the
// server's own answer (spliced, counted as passed through); --include-probes makes
// requests from the node's address hit too.
func TestPassThroughAndProbes(t *testing.T) {
	p := rtest.NewPair(t)
	server(t, p)
	h2c := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	junk := "\x01\x02 not http\r\n\r\n"
	short := "POST / HTTP/1.0\r\n\r\n" // starts like the h2 preface, shorter than it
	want := map[string]string{h2c: rawExchange(t, p, h2c), junk: rawExchange(t, p, junk)}
	a, rec := apply(t, p, plan.HTTP{Action: plan.HTTPAbort, Port: 8080, Code: 503, IncludeProbes: true})
	for in, w := range want {
		if got := rawExchange(t, p, in); got != w {
			t.Errorf("%q through the proxy: %q, directly %q", in, got, w)
		}
	}
	if got := rawExchange(t, p, short); !strings.HasPrefix(got, "HTTP/1.1 503 ") {
		t.Errorf("%q (matched): %q, want the 503", short, got)
	}
	if r := get(client("", false), "GET", "http://10.231.1.1:8080/x"); r.code != 503 {
		t.Errorf("from the node's address with --include-probes: %+v, want 503", r)
	}
	ctr := a.(interface{ Counters() string }).Counters()
	t.Logf("h2c answer %q; counters %s", want[h2c], ctr)
	if !strings.Contains(ctr, "passed through 2)") {
		t.Errorf("counters %q: want 2 connections passed through", ctr)
	}
	rec()
}
