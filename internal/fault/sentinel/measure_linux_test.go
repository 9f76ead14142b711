package sentinel

// What a real client sees in the target's namespace ("pod" of an rtest.Pair) talking to
// its peer: datagrams lost, duplicated, damaged or late, round trips, TCP goodput, DNS
// answers and HTTP statuses.

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
)

const (
	seqCount = 400
	seqSize  = 100
	echoPort = 7690
	sinkPort = 7691
	httpPort = 8080
)

// servers: on the peer a UDP echo, a TCP sink and a DNS server answering every A query
// with 192.0.2.10; in the pod an HTTP server on :8080.
func servers(t *testing.T, p *rtest.Pair) {
	echo := rtest.ListenPacketIn(t, p.Peer, "udp4", net.JoinHostPort(p.PeerIP.String(), fmt.Sprint(echoPort)))
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(buf[:n], from)
		}
	}()
	sink := rtest.ListenIn(t, p.Peer, "tcp4", net.JoinHostPort(p.PeerIP.String(), fmt.Sprint(sinkPort)))
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		if qs := q.Question[0]; qs.Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: qs.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.10")})
		}
		w.WriteMsg(m)
	})
	dnsSrv := &mdns.Server{PacketConn: rtest.ListenPacketIn(t, p.Peer, "udp4", p.PeerIP.String()+":53"), Handler: h}
	go dnsSrv.ActivateAndServe()
	t.Cleanup(func() { dnsSrv.Shutdown() })
	web := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprint(w, "app")
	})}
	go web.Serve(rtest.ListenIn(t, p.Pod, "tcp4", fmt.Sprintf(":%d", httpPort)))
	t.Cleanup(func() { web.Close() })
}

// seqResult is a one-way stream of numbered datagrams as the receiver saw it.
type seqResult struct{ sent, recv, intact, late int }

func (r seqResult) pct(n int) float64     { return 100 * float64(n) / float64(r.sent) }
func (r seqResult) lossPct() float64      { return r.pct(r.sent - min(r.recv, r.sent)) }
func (r seqResult) extraPct() float64     { return r.pct(max(r.recv-r.sent, 0)) }
func (r seqResult) notIntactPct() float64 { return r.pct(r.sent - r.intact) }
func (r seqResult) latePct() float64      { return r.pct(r.late) }

// udpSeq sends seqCount numbered datagrams from the pod to the peer's port at 5000/s and
// counts what arrives (IPv6 when v6: its checksum is mandatory).
func udpSeq(t *testing.T, p *rtest.Pair, port int, v6 bool) seqResult {
	t.Helper()
	dst, network := net.JoinHostPort(p.PeerIP.String(), fmt.Sprint(port)), "udp4"
	if v6 {
		dst, network = net.JoinHostPort(p.PeerIP6.String(), fmt.Sprint(port)), "udp6"
	}
	rc := rtest.ListenPacketIn(t, p.Peer, network, dst)
	defer rc.Close()
	var sc net.Conn
	if err := rtest.In(p.Pod, func() (err error) { sc, err = net.Dial(network, dst); return err }); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	msg := func(i uint32) []byte {
		b := make([]byte, seqSize)
		binary.BigEndian.PutUint32(b, i)
		for k := 4; k < seqSize; k++ {
			b[k] = byte(k*7) ^ byte(i)
		}
		return b
	}
	done := make(chan seqResult, 1)
	go func() {
		var r seqResult
		var maxSeq uint32
		buf := make([]byte, 2048)
		for {
			rc.SetReadDeadline(time.Now().Add(time.Second)) // past the 100 ms delays
			n, _, err := rc.ReadFrom(buf)
			if err != nil {
				done <- r
				return
			}
			r.recv++
			seq := binary.BigEndian.Uint32(buf)
			if n != seqSize || seq >= seqCount || string(buf[:n]) != string(msg(seq)) {
				continue
			}
			r.intact++
			if seq < maxSeq {
				r.late++
			}
			maxSeq = max(maxSeq, seq)
		}
	}()
	start := time.Now()
	for i := range uint32(seqCount) {
		sc.Write(msg(i))
		if i%10 == 9 {
			time.Sleep(time.Until(start.Add(time.Duration(i+1) * time.Second / 5000)))
		}
	}
	r := <-done
	r.sent = seqCount
	return r
}

// udpRTT is the p10 of 40 round trips (ms) from the pod to the peer's echo, 10 ms apart.
func udpRTT(t *testing.T, p *rtest.Pair) float64 {
	t.Helper()
	var c net.Conn
	if err := rtest.In(p.Pod, func() (err error) {
		c, err = net.Dial("udp4", net.JoinHostPort(p.PeerIP.String(), fmt.Sprint(echoPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rtts []time.Duration
	buf := make([]byte, 64)
	for i := range 40 {
		t0 := time.Now()
		c.Write([]byte(fmt.Sprint(i)))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			if string(buf[:n]) == fmt.Sprint(i) {
				rtts = append(rtts, time.Since(t0))
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(rtts) < 30 {
		t.Fatalf("only %d of 40 round trips answered", len(rtts))
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	return float64(rtts[len(rtts)/10]) / 1e6
}

// tcpMbit is the goodput (Mbit/s) of 600 kB sent from the pod to the peer's sink.
func tcpMbit(t *testing.T, p *rtest.Pair) float64 {
	t.Helper()
	var c net.Conn
	if err := rtest.In(p.Pod, func() (err error) {
		c, err = net.Dial("tcp4", net.JoinHostPort(p.PeerIP.String(), fmt.Sprint(sinkPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const size = 600_000
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t0 := time.Now()
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	// The sink has it all when our close's FIN is acknowledged; a lingering close waits.
	c.(*net.TCPConn).SetLinger(30)
	c.Close()
	return size * 8 / time.Since(t0).Seconds() / 1e6
}

// dnsScore asks the peer's server, from the pod, for a name the fault matches and one
// it does not: one point for NXDOMAIN on the first, one for the server's own answer on
// the second (the agent forwarded it).
func dnsScore(t *testing.T, p *rtest.Pair) float64 {
	t.Helper()
	ask := func(name string) *mdns.Msg {
		var c net.Conn
		if err := rtest.In(p.Pod, func() (err error) { c, err = net.Dial("udp4", p.PeerIP.String()+":53"); return err }); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		m := new(mdns.Msg)
		m.SetQuestion(name, mdns.TypeA)
		r, _, err := (&mdns.Client{Timeout: 3 * time.Second}).ExchangeWithConn(m, &mdns.Conn{Conn: c})
		if err != nil {
			t.Logf("%s: %v", name, err)
			return nil
		}
		return r
	}
	score := 0.0
	if r := ask("fail.sentinel.test."); r != nil && r.Rcode == mdns.RcodeNameError {
		score++
	}
	if r := ask("pass.sentinel.test."); r != nil && r.Rcode == mdns.RcodeSuccess && len(r.Answer) == 1 && strings.Contains(r.Answer[0].String(), "192.0.2.10") {
		score++
	}
	return score
}

// httpScore requests /fail and /pass of the pod's server from the peer: one point for
// the fault's 503 on /fail, one for the app's own answer on /pass (the agent forwarded it).
func httpScore(t *testing.T, p *rtest.Pair) float64 {
	t.Helper()
	c := &nethttp.Client{Timeout: 5 * time.Second, Transport: &nethttp.Transport{DialContext: rtest.DialIn(p.Peer), DisableKeepAlives: true}}
	get := func(path string) (int, string) {
		resp, err := c.Get(fmt.Sprintf("http://%s:%d%s", p.PodIP, httpPort, path))
		if err != nil {
			t.Logf("%s: %v", path, err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	score := 0.0
	if code, _ := get("/fail"); code == 503 {
		score++
	}
	if code, body := get("/pass"); code == 200 && body == "app" {
		score++
	}
	return score
}
