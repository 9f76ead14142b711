package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/conntrack"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// forwardTimeout bounds one forwarded UDP query (the client retries on its own).
const forwardTimeout = 5 * time.Second

func init() {
	fault.Register(plan.KindDNS, func(f plan.Fault) (fault.Injector, error) {
		if f.DNS == nil {
			return nil, errors.New("dns fault without a spec")
		}
		r, err := NewResponder(*f.DNS)
		if err != nil {
			return nil, err
		}
		return &Injector{spec: *f.DNS, r: r}, nil
	})
}

// Injector applies one DNS fault.
type Injector struct {
	spec plan.DNS
	r    *Responder
}

// Active is the running resolver with its redirect.
type Active struct {
	*redirect.Fault
	R *Responder
}

// Apply starts the resolver inside t's network namespace and redirects DNS to it.
func (in *Injector) Apply(ctx context.Context, t fault.Target, rec fault.Recorder) (fault.Active, error) {
	a := &Active{R: in.r}
	f, err := redirect.Start(ctx, t, rec, redirect.Spec{
		Kind: "dns",
		Layout: func(table string, mark uint32, listen uint16) (redirect.Layout, error) {
			return Layout(&in.spec, table, mark, listen), nil
		},
		Serve:    func(ctx context.Context, f *redirect.Fault) { serve(ctx, f, in.r) },
		Counters: &in.r.C,
	})
	if err != nil {
		return nil, err
	}
	a.Fault = f
	return a, nil
}

// server is the resolver of one fault.
type server struct {
	f  *redirect.Fault
	r  *Responder
	ct *conntrack.Conn

	mu    sync.Mutex  // guards cache
	cache [2]origDsts // IPv4, IPv6
}

// origDsts are the original destinations of our UDP flows by client, as of at.
type origDsts struct {
	dsts map[netip.AddrPort]netip.AddrPort
	at   time.Time
}

func serve(ctx context.Context, f *redirect.Fault, r *Responder) {
	s := &server{f: f, r: r}
	if c, err := conntrack.Dial(f.NS.FD()); err == nil {
		s.ct = c
		f.Go(func() { <-ctx.Done(); c.Close() })
	}
	for _, pc := range f.L.UDP {
		f.Go(func() { s.udpLoop(ctx, pc) })
	}
	f.AcceptLoop(s.tcpConn)
}

func (s *server) udpLoop(ctx context.Context, pc net.PacketConn) {
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		q := append([]byte(nil), buf[:n]...)
		s.f.Go(func() { s.udpQuery(ctx, pc, from, q) })
	}
}

func (s *server) udpQuery(ctx context.Context, pc net.PacketConn, from net.Addr, q []byte) {
	d := s.r.Decide(q)
	if d.Reply != nil {
		pc.WriteTo(d.Reply, from)
		return
	}
	if d.Delay > 0 && redirect.Sleep(ctx, d.Delay) != nil {
		return
	}
	reply, err := s.forwardUDP(ctx, from, q)
	if err != nil {
		s.r.C.Failed.Add(1)
		return
	}
	s.r.C.Forwarded.Add(1)
	pc.WriteTo(reply, from)
}

// forwardUDP sends the query, unchanged, where the client sent it (conntrack's original
// destination) and returns the server's answer, unchanged.
func (s *server) forwardUDP(ctx context.Context, peer net.Addr, q []byte) ([]byte, error) {
	if s.ct == nil {
		return nil, errors.New("no conntrack socket")
	}
	p, err := netip.ParseAddrPort(peer.String())
	if err != nil {
		return nil, err
	}
	dst, err := s.origDst(p)
	if err != nil {
		return nil, err
	}
	c, err := s.f.NS.Dial(ctx, "udp", netip.Addr{}, dst, s.f.Layout.Mark)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c.SetDeadline(time.Now().Add(forwardTimeout))
	if _, err := c.Write(q); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// origDst is where the client at peer sent its query: from a cache of our flows'
// original destinations (per family), refreshed from conntrack when peer is not in it or
// the cache is older than a second (a client may reuse its port towards another
// server). Queries that miss together wait for one dump, which answers them all.
func (s *server) origDst(peer netip.AddrPort) (netip.AddrPort, error) {
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	v6 := peer.Addr().Is6()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.cache[0]
	if v6 {
		c = &s.cache[1]
	}
	if dst, ok := c.dsts[peer]; ok && time.Since(c.at) < time.Second {
		return dst, nil
	}
	m, err := s.ct.OrigDsts(unix.IPPROTO_UDP, s.f.Layout.Mark, v6)
	if err != nil {
		return netip.AddrPort{}, err
	}
	c.dsts, c.at = m, time.Now()
	dst, ok := m[peer]
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no redirected flow from %s in conntrack", peer)
	}
	return dst, nil
}

// tcpConn serves one DNS-over-TCP connection: each length-prefixed query is answered
// by us or forwarded over one upstream connection to the original destination, whose
// answers flow back as they come.
func (s *server) tcpConn(ctx context.Context, c net.Conn) {
	dst, err := redirect.OrigDst(c)
	if err != nil {
		return
	}
	var wmu sync.Mutex
	write := func(msg []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...))
		return err
	}
	var up net.Conn
	defer func() {
		if up != nil {
			up.Close()
		}
	}()
	for {
		q, err := readMsg(c)
		if err != nil {
			return
		}
		d := s.r.Decide(q)
		if d.Reply != nil {
			if write(d.Reply) != nil {
				return
			}
			continue
		}
		if d.Delay > 0 && redirect.Sleep(ctx, d.Delay) != nil {
			return
		}
		if up == nil {
			if up, err = s.f.NS.Dial(ctx, "tcp", netip.Addr{}, dst, s.f.Layout.Mark); err != nil {
				s.r.C.Failed.Add(1)
				return
			}
			u := up
			s.f.Go(func() {
				defer c.Close()
				for {
					m, err := readMsg(u)
					if err != nil || write(m) != nil {
						return
					}
				}
			})
		}
		if _, err := up.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
			s.r.C.Failed.Add(1)
			return
		}
		s.r.C.Forwarded.Add(1)
	}
}

func readMsg(r io.Reader) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	m := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(r, m); err != nil {
		return nil, fmt.Errorf("reading a %d-byte DNS message: %w", len(m), err)
	}
	return m, nil
}
