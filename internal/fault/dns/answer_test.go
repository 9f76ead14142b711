package dns

import (
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestValidate(t *testing.T) {
	ok := []plan.DNS{
		{Patterns: []string{"a.com"}, Error: "SERVFAIL"},
		{Patterns: []string{"*.a.com"}, Random: true},
		{Patterns: []string{"a.com"}, IPs: []string{"10.0.0.1", "fd00::1"}},
		{Patterns: []string{"a.com"}, Delay: plan.Duration(MaxDelay)},
	}
	for _, d := range ok {
		if err := Validate(&d); err != nil {
			t.Errorf("%+v: %v", d, err)
		}
	}
	bad := []struct {
		d    plan.DNS
		want string
	}{
		{plan.DNS{Error: "NXDOMAIN"}, "--pattern"},
		{plan.DNS{Patterns: []string{"a.com"}}, "exactly one of --error, --random, --ip and --delay"},
		{plan.DNS{Patterns: []string{"a.com"}, Error: "NXDOMAIN", Delay: plan.Duration(time.Second)}, "exactly one"},
		{plan.DNS{Patterns: []string{"a.com"}, Error: "NOERROR"}, "--error \"NOERROR\": want one of SERVFAIL, NXDOMAIN, REFUSED"},
		{plan.DNS{Patterns: []string{"a.com"}, IPs: []string{"10.0.0.256"}}, "--ip"},
		{plan.DNS{Patterns: []string{"a.com"}, IPs: make([]string, MaxIPs+1)}, "--ip: at most"},
		{plan.DNS{Patterns: []string{"a.com"}, Delay: plan.Duration(-time.Second)}, "--delay"},
		{plan.DNS{Patterns: []string{"a.com"}, Delay: plan.Duration(MaxDelay + 1)}, "--delay"},
	}
	for _, tt := range bad {
		if err := Validate(&tt.d); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want an error with %q", tt.d, err, tt.want)
		}
	}
}

func ask(t *testing.T, r *Responder, name string, qtype uint16, edns bool) (Decision, *mdns.Msg) {
	t.Helper()
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	if edns {
		q.SetEdns0(1232, true)
	}
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	d := r.Decide(b)
	if d.Reply == nil {
		return d, nil
	}
	m := new(mdns.Msg)
	if err := m.Unpack(d.Reply); err != nil {
		t.Fatalf("our reply does not parse: %v", err)
	}
	if m.Id != q.Id || !m.Response || len(m.Question) != 1 || m.Question[0] != q.Question[0] {
		t.Errorf("reply %v does not answer %v", m, q)
	}
	return d, m
}

func TestDecide(t *testing.T) {
	for rc, want := range map[string]int{"SERVFAIL": mdns.RcodeServerFailure, "NXDOMAIN": mdns.RcodeNameError, "REFUSED": mdns.RcodeRefused} {
		r, err := NewResponder(plan.DNS{Patterns: []string{"*.fault.test"}, Error: rc})
		if err != nil {
			t.Fatal(err)
		}
		_, m := ask(t, r, "a.b.fault.test.", mdns.TypeMX, true)
		if m == nil || m.Rcode != want || m.IsEdns0() == nil || !m.IsEdns0().Do() {
			t.Errorf("%s: %v, want rcode %d with EDNS (DO kept)", rc, m, want)
		}
		if d, m := ask(t, r, "fault.test.", mdns.TypeA, false); m != nil || d.Delay != 0 {
			t.Errorf("%s: a name that does not match was answered: %v", rc, m)
		}
	}

	r, _ := NewResponder(plan.DNS{Patterns: []string{"api.example.com"}, IPs: []string{"10.0.0.1", "::ffff:10.0.0.2", "fd00::1"}})
	if _, m := ask(t, r, "API.Example.com.", mdns.TypeA, false); m == nil || len(m.Answer) != 2 ||
		m.Answer[0].(*mdns.A).A.String() != "10.0.0.1" || m.Answer[1].(*mdns.A).A.String() != "10.0.0.2" || m.Answer[0].Header().Ttl != 0 {
		t.Errorf("--ip A: %v", m)
	}
	if _, m := ask(t, r, "api.example.com.", mdns.TypeAAAA, false); m == nil || len(m.Answer) != 1 || m.Answer[0].(*mdns.AAAA).AAAA.String() != "fd00::1" {
		t.Errorf("--ip AAAA: %v", m)
	}
	if _, m := ask(t, r, "api.example.com.", mdns.TypeTXT, false); m != nil {
		t.Errorf("--ip answered a TXT query: %v", m)
	}
	r4, _ := NewResponder(plan.DNS{Patterns: []string{"api.example.com"}, IPs: []string{"10.0.0.1"}})
	if _, m := ask(t, r4, "api.example.com.", mdns.TypeAAAA, false); m == nil || m.Rcode != mdns.RcodeSuccess || len(m.Answer) != 0 {
		t.Errorf("--ip with IPv4 only, AAAA: %v, want an empty NOERROR answer", m)
	}

	rd, _ := NewResponder(plan.DNS{Patterns: []string{"slow.test"}, Delay: plan.Duration(300 * time.Millisecond)})
	if d, m := ask(t, rd, "slow.test.", mdns.TypeA, false); m != nil || d.Delay != 300*time.Millisecond {
		t.Errorf("--delay: %+v %v", d, m)
	}
	if d := rd.Decide([]byte("not dns")); d.Reply != nil || d.Delay != 0 {
		t.Errorf("garbage was not forwarded as it is: %+v", d)
	}
	if got := rd.C.String(); got != "queries 2, matched 1, altered 1, forwarded 0, forward failures 0" {
		t.Errorf("counters %q", got)
	}
}

func TestRandomAddr(t *testing.T) {
	for range 1000 {
		a := randomAddr(4)
		if b := a.As4(); !a.Is4() || b[0] == 0 || b[0] == 127 || b[0] >= 224 {
			t.Fatalf("random IPv4 %s", a)
		}
		if a6 := randomAddr(16); !a6.Is6() || a6.As16()[0]&0xe0 != 0x20 {
			t.Fatalf("random IPv6 %s", a6)
		}
	}
}
