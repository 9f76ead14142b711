package dns

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// answerTTL is the TTL of the answers we make up: zero, so nothing caches them past
// the fault.
const answerTTL = 0

// Responder decides, per query, whether to answer it (a matching name) or forward it.
type Responder struct {
	spec  plan.DNS
	names *redirect.Names
	v4    []netip.Addr
	v6    []netip.Addr
	rcode int
	C     Counters
}

// Counters of one fault, reported as events.
type Counters struct {
	Queries   atomic.Int64 // queries received (UDP and TCP)
	Matched   atomic.Int64 // of those, for a matching name
	Altered   atomic.Int64 // answered by us or delayed
	Forwarded atomic.Int64 // forwarded to the server the pod asked
	Failed    atomic.Int64 // forwards that got no answer
}

func (c *Counters) String() string {
	return fmt.Sprintf("queries %d, matched %d, altered %d, forwarded %d, forward failures %d",
		c.Queries.Load(), c.Matched.Load(), c.Altered.Load(), c.Forwarded.Load(), c.Failed.Load())
}

// Values are the counters as numbers (redirect.Values): Matched counts the traffic the
// fault selects, so a fault none of whose queries matched is flagged.
func (c *Counters) Values() []plan.Counter {
	return []plan.Counter{
		{Name: "dns queries", Value: uint64(c.Queries.Load()), Unit: "queries"},
		{Name: "dns matched", Value: uint64(c.Matched.Load()), Unit: "queries", Traffic: true},
		{Name: "dns altered", Value: uint64(c.Altered.Load()), Unit: "queries"},
		{Name: "dns forwarded", Value: uint64(c.Forwarded.Load()), Unit: "queries"},
		{Name: "dns forward failures", Value: uint64(c.Failed.Load()), Unit: "queries"},
	}
}

// NewResponder compiles a validated spec.
func NewResponder(d plan.DNS) (*Responder, error) {
	if err := Validate(&d); err != nil {
		return nil, err
	}
	r := &Responder{spec: d}
	r.names, _ = redirect.ParseNames("--pattern", d.Patterns)
	for _, s := range d.IPs {
		a, _ := netip.ParseAddr(s)
		if a.Is4() || a.Is4In6() {
			r.v4 = append(r.v4, a.Unmap())
		} else {
			r.v6 = append(r.v6, a)
		}
	}
	r.rcode = map[string]int{"SERVFAIL": mdns.RcodeServerFailure, "NXDOMAIN": mdns.RcodeNameError, "REFUSED": mdns.RcodeRefused}[d.Error]
	return r, nil
}

// Decision is what to do with one query.
type Decision struct {
	// Reply, if not nil, is our answer: send it and forward nothing.
	Reply []byte
	// Delay holds the query before it is forwarded.
	Delay time.Duration
}

// Decide looks at one query message (wire format). A query it cannot parse, or for a
// name that does not match, is forwarded as it is.
func (r *Responder) Decide(query []byte) Decision {
	r.C.Queries.Add(1)
	q := new(mdns.Msg)
	if err := q.Unpack(query); err != nil || q.Response || len(q.Question) != 1 || q.Opcode != mdns.OpcodeQuery {
		return Decision{}
	}
	qs := q.Question[0]
	if !r.names.Match(qs.Name) {
		return Decision{}
	}
	r.C.Matched.Add(1)
	switch {
	case r.spec.Delay > 0:
		r.C.Altered.Add(1)
		return Decision{Delay: r.spec.Delay.D()}
	case r.rcode != 0:
		r.C.Altered.Add(1)
		return Decision{Reply: r.reply(q, r.rcode, nil)}
	}
	if qs.Qclass != mdns.ClassINET || (qs.Qtype != mdns.TypeA && qs.Qtype != mdns.TypeAAAA) {
		return Decision{} // --ip and --random change addresses only
	}
	var addrs []netip.Addr
	switch {
	case r.spec.Random && qs.Qtype == mdns.TypeA:
		addrs = []netip.Addr{randomAddr(4)}
	case r.spec.Random:
		addrs = []netip.Addr{randomAddr(16)}
	case qs.Qtype == mdns.TypeA:
		addrs = r.v4
	default:
		addrs = r.v6
	}
	var rrs []mdns.RR
	for _, a := range addrs {
		hdr := mdns.RR_Header{Name: qs.Name, Rrtype: qs.Qtype, Class: mdns.ClassINET, Ttl: answerTTL}
		if a.Is4() {
			rrs = append(rrs, &mdns.A{Hdr: hdr, A: net.IP(a.AsSlice())})
		} else {
			rrs = append(rrs, &mdns.AAAA{Hdr: hdr, AAAA: net.IP(a.AsSlice())})
		}
	}
	r.C.Altered.Add(1)
	return Decision{Reply: r.reply(q, mdns.RcodeSuccess, rrs)}
}

// reply builds our answer to q: its question, the rcode, answers, and an OPT record
// when the query had one (EDNS).
func (r *Responder) reply(q *mdns.Msg, rcode int, answers []mdns.RR) []byte {
	m := new(mdns.Msg)
	m.SetRcode(q, rcode)
	m.RecursionAvailable = true
	m.Answer = answers
	if opt := q.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), opt.Do())
	}
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	return b
}

// randomAddr is a random global unicast address (IPv4 outside 0/8, 127/8 and 224/3).
func randomAddr(n int) netip.Addr {
	b := make([]byte, n)
	for {
		rand.Read(b)
		if n == 16 {
			b[0] = 0x20 | b[0]&0x1f // 2000::/3
			a, _ := netip.AddrFromSlice(b)
			return a
		}
		if b[0] != 0 && b[0] != 127 && b[0] < 224 {
			a, _ := netip.AddrFromSlice(b)
			return a
		}
	}
}
