// Package probe measures what a client sees of a network fault: UDP loss and
// latency, TCP connects, download throughput. Used by the e2e tests (from the host) and
// by the echo workload's probe mode (from inside a pod).
package probe

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"
)

// UDPReport is what `probe udp` prints.
type UDPReport struct {
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	Loss     float64 `json:"loss"` // percent
	P50Ms    float64 `json:"p50Ms"`
	P99Ms    float64 `json:"p99Ms"`
	// Dups are echoes received again; Late echoes came after that of a later datagram.
	Dups int `json:"dups,omitempty"`
	Late int `json:"late,omitempty"`
}

// UDP sends count datagrams to addr, one every interval, and counts the echoes
// that come back within timeout of the last send.
func UDP(addr string, count int, interval, timeout time.Duration) (UDPReport, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return UDPReport{}, fmt.Errorf("dial udp %s: %w", addr, err)
	}
	defer c.Close()
	sent := make([]time.Time, count)
	got := make([]bool, count)
	var rtts []time.Duration
	var dups, late, maxSeen int
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n < 8 {
				continue
			}
			i, err := strconv.Atoi(string(buf[:8]))
			if err != nil || i < 0 || i >= count {
				continue
			}
			if got[i] {
				dups++
				continue
			}
			if i < maxSeen {
				late++
			}
			maxSeen = max(maxSeen, i)
			got[i] = true
			rtts = append(rtts, time.Since(sent[i]))
		}
	}()
	for i := 0; i < count; i++ {
		sent[i] = time.Now()
		_, _ = fmt.Fprintf(c, "%08d", i) // an error (EPERM from a local drop) counts as lost
		time.Sleep(interval)
	}
	time.Sleep(timeout)
	_ = c.SetReadDeadline(time.Now())
	<-done
	r := UDPReport{Sent: count, Received: len(rtts), Dups: dups, Late: late}
	r.Loss = 100 * float64(count-len(rtts)) / float64(count)
	r.P50Ms, r.P99Ms = Percentile(rtts, 50), Percentile(rtts, 99)
	return r, nil
}

func Percentile(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[(len(s)-1)*p/100].Microseconds()) / 1000
}

// TCPReport is what `probe tcp` prints: connections that completed an echo round trip.
type TCPReport struct {
	Tried  int    `json:"tried"`
	OK     int    `json:"ok"`
	LastEr string `json:"lastError,omitempty"`
}

// TCP connects count times to addr and does one echo round trip each.
func TCP(addr string, count int, timeout time.Duration) TCPReport {
	r := TCPReport{Tried: count}
	for i := 0; i < count; i++ {
		err := func() error {
			c, err := net.DialTimeout("tcp", addr, timeout)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(timeout))
			if _, err := c.Write([]byte("ping\n")); err != nil {
				return err
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return err
			}
			if line != "ping\n" {
				return errors.New("bad echo")
			}
			return nil
		}()
		if err != nil {
			r.LastEr = err.Error()
		} else {
			r.OK++
		}
	}
	return r
}

// DownloadReport is what `probe download` prints.
type DownloadReport struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Mbps    float64 `json:"mbps"`
}

// Download reads from the TCP source for the given time, skipping the first
// quarter second (slow start, buffers), and reports the rate.
func Download(addr string, d time.Duration) (DownloadReport, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return DownloadReport{}, fmt.Errorf("dial tcp %s: %w", addr, err)
	}
	defer c.Close()
	warm := 250 * time.Millisecond
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(warm + d))
	buf := make([]byte, 64<<10)
	var n int64
	var t0 time.Time
	for {
		k, err := c.Read(buf)
		now := time.Now()
		if now.Sub(start) >= warm {
			if t0.IsZero() {
				t0 = now
			} else {
				n += int64(k)
			}
		}
		if err != nil {
			break
		}
	}
	secs := time.Since(t0).Seconds()
	if t0.IsZero() || secs <= 0 {
		return DownloadReport{}, errors.New("no data received")
	}
	return DownloadReport{Bytes: n, Seconds: secs, Mbps: float64(n) * 8 / secs / 1e6}, nil
}

// Send writes count one-way datagrams to addr (a sink counts them); it returns how many
// the local stack accepted.
func Send(addr string, count int, interval time.Duration) (int, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return 0, fmt.Errorf("dial udp %s: %w", addr, err)
	}
	defer c.Close()
	sent := 0
	for i := 0; i < count; i++ {
		if _, err := fmt.Fprintf(c, "%08d", i); err == nil {
			sent++
		}
		time.Sleep(interval)
	}
	return sent, nil
}
