package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"time"

	mdns "github.com/miekg/dns"
)

// DNSPort is where the server answers DNS (UDP and TCP): A 192.0.2.10 and AAAA
// 2001:db8::10 for every name, so a test can tell a real answer from a faulted one.
const DNSPort = 53

// Real answers of the DNS server.
const (
	DNSAnswerA    = "192.0.2.10"
	DNSAnswerAAAA = "2001:db8::10"
)

// serveDNS answers on DNSPort until the process ends; a pod that may not bind port 53
// just has no DNS server (logged).
func serveDNS() {
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 {
			qs := q.Question[0]
			hdr := mdns.RR_Header{Name: qs.Name, Rrtype: qs.Qtype, Class: mdns.ClassINET, Ttl: 30}
			switch qs.Qtype {
			case mdns.TypeA:
				m.Answer = append(m.Answer, &mdns.A{Hdr: hdr, A: net.ParseIP(DNSAnswerA)})
			case mdns.TypeAAAA:
				m.Answer = append(m.Answer, &mdns.AAAA{Hdr: hdr, AAAA: net.ParseIP(DNSAnswerAAAA)})
			}
		}
		_ = w.WriteMsg(m)
	})
	for _, network := range []string{"udp", "tcp"} {
		s := &mdns.Server{Addr: fmt.Sprintf(":%d", DNSPort), Net: network, Handler: h}
		go func() {
			if err := s.ListenAndServe(); err != nil {
				fmt.Fprintln(os.Stderr, "echo: dns:", err)
			}
		}()
	}
}

// DNSResult is what GET /resolve answers: the answer a resolver client in this pod got.
type DNSResult struct {
	Rcode string   `json:"rcode"`
	Addrs []string `json:"addrs"`
	Ms    float64  `json:"ms"`
	Error string   `json:"error,omitempty"`
}

// resolve is GET /resolve?server=IP:PORT&name=N&type=A|AAAA&net=udp|tcp: one query
// from inside this pod, as its applications would ask.
func resolve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	qtype := mdns.TypeA
	if q.Get("type") == "AAAA" {
		qtype = mdns.TypeAAAA
	}
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(q.Get("name")), qtype)
	c := &mdns.Client{Net: q.Get("net"), Timeout: 3 * time.Second}
	var res DNSResult
	start := time.Now()
	in, _, err := c.Exchange(m, q.Get("server"))
	res.Ms = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		res.Error = err.Error()
	} else {
		res.Rcode = mdns.RcodeToString[in.Rcode]
		for _, rr := range in.Answer {
			switch v := rr.(type) {
			case *mdns.A:
				res.Addrs = append(res.Addrs, v.A.String())
			case *mdns.AAAA:
				res.Addrs = append(res.Addrs, v.AAAA.String())
			}
		}
		sort.Strings(res.Addrs)
	}
	_ = json.NewEncoder(w).Encode(res)
}
