package dns_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	dnsfault "github.com/kubectl-chaos/kubectl-chaos/internal/fault/dns"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

const childEnv = "KC_DNSHTTP_DNS_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// upstream is the pod's nameserver, in the peer namespace (v4 and v6, UDP and TCP):
// real.example.com has A 192.0.2.10 and AAAA 2001:db8::10, big.example.com a TXT set
// too large for 512 bytes (truncated over UDP without EDNS, whole over TCP).
func upstream(t testing.TB, p *rtest.Pair) {
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		qs := q.Question[0]
		hdr := mdns.RR_Header{Name: qs.Name, Rrtype: qs.Qtype, Class: mdns.ClassINET, Ttl: 60}
		switch {
		case qs.Name == "big.example.com." && qs.Qtype == mdns.TypeTXT:
			for i := range 20 {
				m.Answer = append(m.Answer, &mdns.TXT{Hdr: hdr, Txt: []string{strings.Repeat(fmt.Sprint(i%10), 60)}})
			}
		case qs.Qtype == mdns.TypeA:
			m.Answer = append(m.Answer, &mdns.A{Hdr: hdr, A: net.ParseIP("192.0.2.10")})
		case qs.Qtype == mdns.TypeAAAA:
			m.Answer = append(m.Answer, &mdns.AAAA{Hdr: hdr, AAAA: net.ParseIP("2001:db8::10")})
		}
		if opt := q.IsEdns0(); opt != nil {
			m.SetEdns0(opt.UDPSize(), false)
		}
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			size := 512
			if opt := q.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size)
		}
		w.WriteMsg(m)
	})
	for _, a := range []string{p.PeerIP.String(), p.PeerIP6.String()} {
		addr := net.JoinHostPort(a, "53")
		pc := rtest.ListenPacketIn(t, p.Peer, "udp", addr)
		l := rtest.ListenIn(t, p.Peer, "tcp", addr)
		for _, s := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
			go func() {
				if err := s.ActivateAndServe(); err != nil {
					t.Logf("upstream: %v", err)
				}
			}()
			t.Cleanup(func() { s.Shutdown() })
		}
	}
}

// query asks server (from the pod's namespace) for name/qtype over network; laddr pins
// the client's source address and port when not nil.
func query(p *rtest.Pair, network, server, name string, qtype uint16, edns bool, laddr net.Addr) (*mdns.Msg, time.Duration, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	var c net.Conn
	err := rtest.In(p.Pod, func() error {
		var err error
		d := net.Dialer{LocalAddr: laddr, Timeout: 2 * time.Second}
		if laddr != nil {
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1) })
			}
		}
		c, err = d.Dial(network, server)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	cl := &mdns.Client{Net: network, Timeout: 2 * time.Second, UDPSize: 4096}
	return cl.ExchangeWithConn(m, &mdns.Conn{Conn: c})
}

func apply(t testing.TB, p *rtest.Pair, d plan.DNS) (*dnsfault.Active, func()) {
	t.Helper()
	inj, err := fault.New(plan.Fault{Kind: plan.KindDNS, DNS: &d})
	if err != nil {
		t.Fatal(err)
	}
	ft := p.Target("exp-dnshttp-dns")
	j := rtest.Journal(t, ft)
	a, err := inj.Apply(context.Background(), ft, j)
	if err != nil {
		j.Recover(context.Background())
		t.Fatal(err)
	}
	done := false
	rec := func() {
		if done {
			return
		}
		done = true
		if _, err := a.Recover(context.Background()); err != nil {
			t.Fatal(err)
		}
		j.Done()
	}
	t.Cleanup(rec)
	return a.(*dnsfault.Active), rec
}

func addrs(m *mdns.Msg) string {
	var out []string
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *mdns.A:
			out = append(out, v.A.String())
		case *mdns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// TestErrorAndForward: matching names get the asked error over UDP and TCP, IPv4 and
// IPv6; other names get the real server's answers unchanged (EDNS answered, the
// truncated UDP answer and the TCP retry as without the fault); recovery leaves the
// namespace as it was.
func TestErrorAndForward(t *testing.T) {
	p := rtest.NewPair(t)
	upstream(t, p)
	before := p.Tables(t)
	ns4, ns6 := net.JoinHostPort(p.PeerIP.String(), "53"), net.JoinHostPort(p.PeerIP6.String(), "53")
	big := func() (bool, int) {
		m, _, err := query(p, "udp", ns4, "big.example.com", mdns.TypeTXT, false, nil)
		if err != nil && m == nil {
			t.Fatalf("big over UDP: %v", err)
		}
		mt, _, err := query(p, "tcp", ns4, "big.example.com", mdns.TypeTXT, false, nil)
		if err != nil {
			t.Fatalf("big over TCP: %v", err)
		}
		return m.Truncated, len(mt.Answer)
	}
	truncBefore, tcpBefore := big()
	a, rec := apply(t, p, plan.DNS{Patterns: []string{"*.fault.test", "payments.*.svc.cluster.local"}, Error: "NXDOMAIN"})
	var reports []string
	var _ fault.Reporter = a
	a.SetReport(func(s string) { reports = append(reports, s) })
	for _, server := range []string{ns4, ns6} {
		for _, network := range []string{"udp", "tcp"} {
			for _, name := range []string{"a.fault.test", "x.y.fault.test", "payments.shop.svc.cluster.local"} {
				m, _, err := query(p, network, server, name, mdns.TypeA, true, nil)
				if err != nil || m.Rcode != mdns.RcodeNameError || m.IsEdns0() == nil {
					t.Errorf("%s %s %s: %v %v, want NXDOMAIN with EDNS", network, server, name, m, err)
				}
			}
			for _, q := range []struct {
				name  string
				qtype uint16
				want  string
			}{{"real.example.com", mdns.TypeA, "192.0.2.10"}, {"fault.test", mdns.TypeAAAA, "2001:db8::10"}, {"payments.svc.cluster.local", mdns.TypeA, "192.0.2.10"}} {
				m, _, err := query(p, network, server, q.name, q.qtype, true, nil)
				if err != nil || m.Rcode != mdns.RcodeSuccess || addrs(m) != q.want || m.IsEdns0() == nil {
					t.Errorf("%s %s %s: %v %v, want %s with EDNS", network, server, q.name, m, err, q.want)
				}
			}
		}
	}
	if trunc, n := big(); trunc != truncBefore || n != tcpBefore || !trunc || n != 20 {
		t.Errorf("truncation: UDP truncated %v, TCP %d answers; before the fault %v, %d", trunc, n, truncBefore, tcpBefore)
	}
	t.Logf("counters: %s", a.Counters())
	if a.R.C.Altered.Load() != 12 {
		t.Errorf("altered %d queries, want 12", a.R.C.Altered.Load())
	}
	rec()
	if want := "final counters: queries 26, matched 12, altered 12, forwarded 14, forward failures 0"; len(reports) == 0 || reports[len(reports)-1] != want {
		t.Errorf("reports %q, want the last one %q", reports, want)
	}
	if m, _, err := query(p, "udp", ns4, "a.fault.test", mdns.TypeA, false, nil); err != nil || m.Rcode != mdns.RcodeSuccess {
		t.Errorf("after recovery: %v %v", m, err)
	}
	if after := p.Tables(t); after != before {
		t.Errorf("nft tables: before %q, after %q", before, after)
	}
}

// TestIPAndRandom: --ip answers A with its IPv4 and AAAA with its IPv6 addresses;
// --random answers addresses that are not the real ones.
func TestIPAndRandom(t *testing.T) {
	p := rtest.NewPair(t)
	upstream(t, p)
	ns4 := net.JoinHostPort(p.PeerIP.String(), "53")
	_, rec := apply(t, p, plan.DNS{Patterns: []string{"api.example.com"}, IPs: []string{"10.9.9.9", "10.9.9.8", "fd00::99"}})
	for qt, want := range map[uint16]string{mdns.TypeA: "10.9.9.8,10.9.9.9", mdns.TypeAAAA: "fd00::99"} {
		if m, _, err := query(p, "udp", ns4, "API.example.com.", qt, false, nil); err != nil || addrs(m) != want {
			t.Errorf("--ip type %d: %v %v, want %s", qt, m, err, want)
		}
	}
	if m, _, err := query(p, "udp", ns4, "other.example.com", mdns.TypeA, false, nil); err != nil || addrs(m) != "192.0.2.10" {
		t.Errorf("other name: %v %v", m, err)
	}
	rec()
	_, rec = apply(t, p, plan.DNS{Patterns: []string{"api.example.com"}, Random: true})
	seen := map[string]bool{}
	for range 5 {
		m, _, err := query(p, "udp", ns4, "api.example.com", mdns.TypeA, false, nil)
		if err != nil || len(m.Answer) != 1 || addrs(m) == "192.0.2.10" {
			t.Fatalf("--random: %v %v", m, err)
		}
		seen[addrs(m)] = true
	}
	if len(seen) < 4 {
		t.Errorf("--random gave %d distinct addresses in 5 answers", len(seen))
	}
	rec()
}

// TestDelay: a matching name is answered --delay later than before the fault (median of
// 9, within 10 %), another name as fast as before.
func TestDelay(t *testing.T) {
	p := rtest.NewPair(t)
	upstream(t, p)
	ns4 := net.JoinHostPort(p.PeerIP.String(), "53")
	one := func(name string) time.Duration {
		m, rtt, err := query(p, "udp", ns4, name, mdns.TypeA, false, nil)
		if err != nil || addrs(m) != "192.0.2.10" {
			t.Fatalf("%s: %v %v", name, m, err)
		}
		return rtt
	}
	med := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	var bs []time.Duration
	for range 9 {
		bs = append(bs, one("slow.example.com"))
	}
	base := med(bs)
	const delay = 200 * time.Millisecond
	_, rec := apply(t, p, plan.DNS{Patterns: []string{"slow.example.com"}, Delay: plan.Duration(delay)})
	// The added delay is measured against a name that does not match, queried through
	// the same redirect at the same moments (interleaved): the redirect's own per-query
	// cost (≈7 ms idle, 12-29 ms at load 46) is then in both, not counted as delay.
	var ss, os []time.Duration
	for range 9 {
		ss = append(ss, one("slow.example.com"))
		os = append(os, one("fast.example.com"))
	}
	slow, other := med(ss), med(os)
	rec()
	added := slow - other
	t.Logf("baseline %s (no fault), matching %s, other %s: added %s for %s asked", base, slow, other, added, delay)
	if added < delay*9/10 || added > delay*11/10 {
		t.Errorf("added latency %s (matching %s − other %s), want %s ± 10 %%", added, slow, other, delay)
	}
	// A name that does not match must not be delayed: at most the redirect's own cost,
	// far below the 200 ms a delayed query would take.
	if other-base > delay/4 {
		t.Errorf("a name that does not match took %s (baseline %s)", other, base)
	}
}
