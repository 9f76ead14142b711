//go:build linux

package nfqtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ListenUDP opens a UDP socket inside ns.
func ListenUDP(ns NS, ip net.IP, port int) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := ns.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen udp %s:%d in netns: %w", ip, port, err)
	}
	return c, nil
}

// UDPEcho serves UDP echo on ip inside ns until stop is called.
func UDPEcho(ns NS, ip net.IP) (addr *net.UDPAddr, stop func(), err error) {
	c, err := ListenUDP(ns, ip, 0)
	if err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP(buf[:n], from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr), func() { c.Close(); <-done }, nil
}

// UDPSink counts UDP datagrams received on ip inside ns and, for datagrams sent by
// UDPBlast (send time in the first 8 bytes), records the one-way delay.
type UDPSink struct {
	Addr *net.UDPAddr
	c    *net.UDPConn
	n    atomic.Int64
	done chan struct{}

	mu     sync.Mutex
	delays []time.Duration
}

// Delays returns and resets the one-way delays recorded so far.
func (s *UDPSink) Delays() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.delays
	s.delays = nil
	return d
}

// NewUDPSink starts a sink.
func NewUDPSink(ns NS, ip net.IP) (*UDPSink, error) {
	c, err := ListenUDP(ns, ip, 0)
	if err != nil {
		return nil, err
	}
	// Force past rmem_max (root): a sink that drops under a burst would look like loss.
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) != nil {
				_ = c.SetReadBuffer(32 << 20)
			}
		})
	}
	s := &UDPSink{Addr: c.LocalAddr().(*net.UDPAddr), c: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			s.n.Add(1)
			if n >= 16 && binary.BigEndian.Uint64(buf[8:16]) == blastMagic {
				s.mu.Lock()
				s.delays = append(s.delays, time.Duration(now-int64(binary.BigEndian.Uint64(buf[:8]))))
				s.mu.Unlock()
			}
		}
	}()
	return s, nil
}

// Count is the number of datagrams received so far.
func (s *UDPSink) Count() int64 { return s.n.Load() }

// Close stops the sink.
func (s *UDPSink) Close() { s.c.Close(); <-s.done }

// RTTResult is what a UDP round-trip probe saw.
type RTTResult struct {
	RTTs []time.Duration // of the answered probes, in send order
	Sent int
	Lost int
	// Reordered counts replies that arrived after a reply to a later probe.
	Reordered int
}

// UDPRTT sends n probes from a socket opened in ns to dst, one every interval, and
// matches the echoes; a probe not answered within timeout after the last send is lost.
func UDPRTT(ns NS, dst *net.UDPAddr, n int, interval, timeout time.Duration) (RTTResult, error) {
	var c *net.UDPConn
	if err := ns.Do(func() error {
		var err error
		c, err = net.DialUDP("udp", nil, dst)
		return err
	}); err != nil {
		return RTTResult{}, fmt.Errorf("dial udp %s: %w", dst, err)
	}
	defer c.Close()
	sent := make([]time.Time, n)
	got := make([]time.Duration, n)
	var mu sync.Mutex
	res := RTTResult{Sent: n}
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		buf := make([]byte, 64)
		maxSeq := -1
		for {
			k, err := c.Read(buf)
			now := time.Now()
			if err != nil {
				return
			}
			if k < 8 {
				continue
			}
			seq := int(binary.BigEndian.Uint64(buf))
			if seq < 0 || seq >= n {
				continue
			}
			mu.Lock()
			if got[seq] == 0 && !sent[seq].IsZero() {
				got[seq] = now.Sub(sent[seq])
				if seq < maxSeq {
					res.Reordered++
				}
				if seq > maxSeq {
					maxSeq = seq
				}
			}
			mu.Unlock()
		}
	}()
	payload := make([]byte, 64)
	start := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		binary.BigEndian.PutUint64(payload, uint64(i))
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		if _, err := c.Write(payload); err != nil {
			return res, fmt.Errorf("send probe %d to %s: %w", i, dst, err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	<-recvDone
	mu.Lock()
	defer mu.Unlock()
	for _, d := range got {
		if d == 0 {
			res.Lost++
			continue
		}
		res.RTTs = append(res.RTTs, d)
	}
	return res, nil
}

// Percentile returns the p-th percentile (0-100) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p / 100 * float64(len(s)-1))
	return s[i]
}

const blastMagic = 0x6e667164656c6179

// UDPBlast sends count datagrams of size bytes from ns to dst at pps, in 1 ms bursts.
// It returns how many were sent without error and the wall time spent sending.
func UDPBlast(ns NS, dst *net.UDPAddr, pps, count, size int) (int, time.Duration, error) {
	var c *net.UDPConn
	if err := ns.Do(func() error {
		var err error
		c, err = net.DialUDP("udp", nil, dst)
		return err
	}); err != nil {
		return 0, 0, fmt.Errorf("dial udp %s: %w", dst, err)
	}
	defer c.Close()
	_ = c.SetWriteBuffer(8 << 20)
	buf := make([]byte, size)
	start := time.Now()
	ok := 0
	for i := 0; i < count; i++ {
		if i%64 == 0 {
			due := start.Add(time.Duration(float64(i) / float64(pps) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
		if size >= 16 {
			binary.BigEndian.PutUint64(buf[:8], uint64(time.Now().UnixNano()))
			binary.BigEndian.PutUint64(buf[8:16], blastMagic)
		}
		if _, err := c.Write(buf); err == nil {
			ok++
		}
	}
	return ok, time.Since(start), nil
}

// TCPTransfer sends bytes from a socket in src to a server listening on dstIP in dst and
// returns the goodput in bits per second, measured at the receiver from the accepted
// connection to the last byte. It gives up after timeout.
func TCPTransfer(src, dst NS, dstIP net.IP, bytes int64, timeout time.Duration) (float64, error) {
	var ln net.Listener
	if err := dst.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(dstIP.String(), "0"))
		return err
	}); err != nil {
		return 0, fmt.Errorf("listen tcp in netns: %w", err)
	}
	defer ln.Close()
	type result struct {
		n   int64
		dur time.Duration
		err error
	}
	resc := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		start := time.Now()
		n, err := io.Copy(io.Discard, c)
		resc <- result{n, time.Since(start), err}
	}()
	var c net.Conn
	if err := src.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", ln.Addr().String(), timeout)
		return err
	}); err != nil {
		return 0, fmt.Errorf("dial tcp %s: %w", ln.Addr(), err)
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	buf := make([]byte, 64<<10)
	var werr error
	for left := bytes; left > 0; {
		k := int64(len(buf))
		if left < k {
			k = left
		}
		if _, err := c.Write(buf[:k]); err != nil {
			werr = err
			break
		}
		left -= k
	}
	c.Close()
	r := <-resc
	if werr != nil || r.err != nil {
		return 0, fmt.Errorf("tcp transfer of %d bytes: %w", bytes, errors.Join(werr, r.err))
	}
	if r.n != bytes {
		return 0, fmt.Errorf("tcp transfer: received %d of %d bytes", r.n, bytes)
	}
	return float64(r.n*8) / r.dur.Seconds(), nil
}
