package network

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network/nfqdelay"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// The fallbacks for duplicate, corrupt and reorder, forced with their --X-backend so
// that they run here and, side by side with the TestNetem… tests, in the netem VM.
// Every figure is measured at a receiver against a baseline of the same run.

// seqRun is what a receiver saw of count numbered datagrams.
type seqRun struct {
	sent, recv   int
	intact       int // received with the bytes sent
	wrong        int // received with other bytes
	oneBit       int // of wrong: exactly one bit differs, or cut short (UDP length flipped)
	late         int // arrived after a datagram sent later
	distinctSeen int
}

func (r seqRun) pct(k int) float64 { return 100 * float64(k) / float64(r.sent) }

// seqOneWay sends count datagrams of size bytes (a sequence number and a known pattern)
// from srcIP in srcNS to dstIP:port in dstNS, pps per second at most, and checks each
// one at the receiver. noCheck sends IPv4 UDP without a checksum (SO_NO_CHECK), so a
// corrupted payload arrives with wrong bytes instead of being dropped.
func seqOneWay(t testing.TB, srcNS netns.NsHandle, srcIP string, dstNS netns.NsHandle, dstIP string, port, count, size, pps int, noCheck bool) seqRun {
	t.Helper()
	var rc *net.UDPConn
	if err := inNS(t, dstNS, func() error {
		var err error
		rc, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(dstIP), Port: port})
		return err
	}); err != nil {
		t.Fatalf("listen udp %s:%d: %v", dstIP, port, err)
	}
	defer rc.Close()
	// Past rmem_max (root): a receiver starved on a loaded machine must not drop what
	// the fault let through (a drop would count as a corruption).
	if raw, err := rc.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) })
	}
	var sc *net.UDPConn
	if err := inNS(t, srcNS, func() error {
		var err error
		sc, err = net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(srcIP)}, &net.UDPAddr{IP: net.ParseIP(dstIP), Port: port})
		return err
	}); err != nil {
		t.Fatalf("dial udp %s→%s:%d: %v", srcIP, dstIP, port, err)
	}
	defer sc.Close()
	if noCheck {
		raw, err := sc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var serr error
		if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) }); err != nil || serr != nil {
			t.Fatalf("SO_NO_CHECK: %v %v", err, serr)
		}
	}
	msg := func(seq uint32) []byte {
		b := make([]byte, size)
		binary.BigEndian.PutUint32(b, seq)
		for i := 4; i < size; i++ {
			b[i] = byte(i*7) ^ byte(seq)
		}
		return b
	}
	done := make(chan seqRun)
	var sent atomic.Bool
	go func() {
		var r seqRun
		seen := map[uint32]bool{}
		var maxSeq uint32
		buf := make([]byte, 4096)
		for {
			// Until a second of silence after the last datagram was sent: a sender
			// stalled on a loaded machine is not a loss.
			_ = rc.SetReadDeadline(time.Now().Add(time.Second))
			k, err := rc.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && !sent.Load() {
					continue
				}
				break
			}
			r.recv++
			seq := binary.BigEndian.Uint32(buf)
			want := msg(seq)
			if k != size || seq >= uint32(count) || string(buf[:k]) != string(want) {
				r.wrong++
				// One bit off, or cut short with the right bytes: the flip hit the UDP
				// length (no checksum to refuse it), and the kernel trimmed the datagram.
				if k == size && (hamming(buf[:k], want) == 1 || hammingSeq(buf[:k], size, count)) ||
					k < size && string(buf[:k]) == string(want[:k]) {
					r.oneBit++
				}
				continue
			}
			r.intact++
			if seq < maxSeq {
				r.late++
			} else {
				maxSeq = seq
			}
			if !seen[seq] {
				seen[seq] = true
				r.distinctSeen++
			}
		}
		done <- r
	}()
	start := time.Now()
	for i := 0; i < count; i++ {
		if _, err := sc.Write(msg(uint32(i))); err != nil {
			t.Errorf("send %d: %v", i, err)
		}
		if next := start.Add(time.Duration(i+1) * time.Second / time.Duration(pps)); time.Until(next) > 0 && i%10 == 9 {
			time.Sleep(time.Until(next))
		}
	}
	sent.Store(true)
	r := <-done
	r.sent = count
	return r
}

func hamming(a, b []byte) int {
	d := 0
	for i := range a {
		d += bits.OnesCount8(a[i] ^ b[i])
	}
	return d
}

// hammingSeq: a datagram whose sequence number itself took the flip is one bit away from
// the datagram of some sequence number that was sent.
func hammingSeq(got []byte, size, count int) bool {
	seq := binary.BigEndian.Uint32(got)
	for bit := 0; bit < 32; bit++ {
		s := seq ^ 1<<bit
		if s >= uint32(count) {
			continue
		}
		b := make([]byte, size)
		binary.BigEndian.PutUint32(b, s)
		for i := 4; i < size; i++ {
			b[i] = byte(i*7) ^ byte(s)
		}
		if hamming(got, b) == 1 {
			return true
		}
	}
	return false
}

func notesSay(t *testing.T, act fault.Active, want string) {
	t.Helper()
	notes := strings.Join(act.(fault.Notes).Notes(), "; ")
	if !strings.Contains(notes, want) {
		t.Errorf("notes %q do not say %q", notes, want)
	}
}

func TestDuplicateNFT(t *testing.T) {
	tp := newTopo(t)
	for _, c := range []struct {
		name     string
		pct      float64
		src, dst string
		port     int
	}{
		{"ipv4", 20, tgt4, cli4, 7300},
		{"ipv6", 30, tgt6, cli6, 7310},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := seqOneWay(t, tp.target, c.src, tp.client, c.dst, c.port, lossPackets, 64, 20000, false)
			act, rec := apply(t, tp, plan.Network{Duplicate: &plan.Percent{Percent: c.pct}, DuplicateBackend: BackendNFT,
				Filter: plan.Filter{Ports: []uint16{uint16(c.port + 1)}, Protocol: "udp"}})
			if len(rec.entries) != 1 || rec.entries[0].Type != EntryNFTTable {
				t.Fatalf("journal: %+v, want one nft-table entry", rec.entries)
			}
			r := seqOneWay(t, tp.target, c.src, tp.client, c.dst, c.port+1, lossPackets, 64, 20000, false)
			extra := r.pct(r.recv-r.sent) - base.pct(base.recv-base.sent)
			assertNear(t, "nft duplicate % (extra datagrams at the receiver, "+c.name+")", extra, c.pct, 3)
			if r.distinctSeen != r.sent || r.wrong > 0 {
				t.Errorf("duplicate: %d of %d distinct datagrams, %d with wrong bytes: want all, none", r.distinctSeen, r.sent, r.wrong)
			}
			miss := seqOneWay(t, tp.target, c.src, tp.client, c.dst, c.port+2, 500, 64, 20000, false)
			back := seqOneWay(t, tp.client, c.dst, tp.target, c.src, c.port+1, 500, 64, 20000, false)
			if miss.recv != miss.sent || back.recv != back.sent {
				t.Errorf("unmatched traffic touched: other port %d of %d received, ingress %d of %d", miss.recv, miss.sent, back.recv, back.sent)
			}
			recoverClean(t, tp, act)
			after := seqOneWay(t, tp.target, c.src, tp.client, c.dst, c.port+1, 500, 64, 20000, false)
			if after.recv != after.sent {
				t.Errorf("after recover: %d of %d received", after.recv, after.sent)
			}
		})
	}
}

// TestCorruptNFQueue sends IPv4 UDP without a checksum, so the flips in the payload are
// seen as wrong bytes (exactly one bit off, or cut short by a flip of the UDP length:
// seen in the netem VM) and those in the IPv4 header as drops; and IPv6
// UDP (the checksum is mandatory), where a flip is a drop unless it hit one of the 36
// bits of the IPv6 header no check covers (traffic class, flow label, hop limit).
func TestCorruptNFQueue(t *testing.T) {
	tp := newTopo(t)
	const size = 100
	for _, c := range []struct {
		name     string
		pct      float64
		src, dst string
		port     int
		noCheck  bool
		seen     float64 // share of the corrupted datagrams that do not arrive intact
	}{
		{"ipv4 no checksum", 10, tgt4, cli4, 7400, true, 1},
		{"ipv6", 20, tgt6, cli6, 7410, false, 1 - 36.0/float64(8*(40+8+size))},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := seqOneWay(t, tp.target, c.src, tp.client, c.dst, c.port, lossPackets, size, 10000, c.noCheck)
			act, rec := apply(t, tp, plan.Network{Corrupt: &plan.Percent{Percent: c.pct}, CorruptBackend: BackendNFQueue,
				Filter: plan.Filter{CIDRs: []string{c.dst + map[bool]string{true: "/32", false: "/128"}[c.noCheck]}}})
			if len(rec.entries) != 1 || rec.entries[0].Type != nfqdelay.EntryType {
				t.Fatalf("journal: %+v, want one nfqdelay entry", rec.entries)
			}
			r := seqOneWay(t, tp.target, c.src, tp.client, c.dst, c.port+1, lossPackets, size, 10000, c.noCheck)
			stats := act.(*Active).subs[0].(*nfqdelay.Active).Stats()
			bad := r.pct(r.sent-r.intact) - base.pct(base.sent-base.intact)
			assertNear(t, "nfqueue corrupt % (datagrams not received intact, "+c.name+")", bad, c.pct*c.seen, 3)
			t.Logf("%s: sent %d, intact %d, wrong bytes %d (one bit off: %d), missing %d; engine: %d corrupted, %d overruns",
				c.name, r.sent, r.intact, r.wrong, r.oneBit, r.sent-r.recv, stats.Corrupted, stats.Overruns)
			if c.noCheck && (r.wrong == 0 || r.oneBit != r.wrong) {
				t.Errorf("payload flips: %d datagrams with wrong bytes, %d of them one bit off: want some, all", r.wrong, r.oneBit)
			}
			if !c.noCheck && r.wrong > 0 {
				t.Errorf("%d datagrams with wrong bytes passed the UDP checksum", r.wrong)
			}
			// The filter: to another address (cli4b), and the other way, untouched.
			if !c.noCheck {
				back := seqOneWay(t, tp.client, c.dst, tp.target, c.src, c.port+2, 500, size, 10000, false)
				if back.intact != back.sent {
					t.Errorf("ingress: %d of %d intact", back.intact, back.sent)
				}
			} else {
				other := seqOneWay(t, tp.target, c.src, tp.client, cli4b, c.port+2, 500, size, 10000, true)
				if other.intact != other.sent {
					t.Errorf("other address: %d of %d intact", other.intact, other.sent)
				}
			}
			recoverClean(t, tp, act)
			after := seqOneWay(t, tp.target, c.src, tp.client, c.dst, c.port+3, 500, size, 10000, c.noCheck)
			if after.intact != after.sent {
				t.Errorf("after recover: %d of %d intact", after.intact, after.sent)
			}
		})
	}
}

// TestReorderNFQueue: netem's reorder, in userspace. The packets not picked wait the
// latency, the picked ones leave at once; sent far faster than the latency, every held
// packet but the last few is overtaken, so the late share is the held share: 100-P % at
// random, (gap-1)/gap with --gap and 100 %.
func TestReorderNFQueue(t *testing.T) {
	tp := newTopo(t)
	for _, c := range []struct {
		name     string
		r        plan.Reorder
		src, dst string
		port     int
		late     float64
	}{
		{"ipv4 25%", plan.Reorder{Percent: 25}, tgt4, cli4, 7500, 75},
		{"ipv6 gap 5", plan.Reorder{Percent: 100, Gap: 5}, tgt6, cli6, 7510, 80},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := seqOneWay(t, tp.target, c.src, tp.client, c.dst, c.port, lossPackets, 64, 5000, false)
			r := c.r
			act, _ := apply(t, tp, plan.Network{Delay: &plan.Delay{Latency: ms(100)}, Reorder: &r, ReorderBackend: BackendNFQueue,
				Filter: plan.Filter{Protocol: "udp", Ports: []uint16{uint16(c.port + 1)}}})
			got := seqOneWay(t, tp.target, c.src, tp.client, c.dst, c.port+1, lossPackets, 64, 5000, false)
			if got.intact != got.sent {
				t.Errorf("reorder lost or changed datagrams: %d of %d intact", got.intact, got.sent)
			}
			late := got.pct(got.late) - base.pct(base.late)
			assertNear(t, "nfqueue reorder: % of datagrams arriving after a later one ("+c.name+")", late, c.late, 5)
			miss := seqOneWay(t, tp.target, c.src, tp.client, c.dst, c.port+2, 500, 64, 5000, false)
			if miss.late != 0 || miss.intact != miss.sent {
				t.Errorf("other port: %d late, %d of %d intact", miss.late, miss.intact, miss.sent)
			}
			recoverClean(t, tp, act)
		})
	}
}

func TestFallbacksAutoWithoutNetem(t *testing.T) {
	tp := newTopo(t)
	if netemOK(t, tp) {
		t.Skip("this kernel has sch_netem: auto picks netem (TestNetem…)")
	}
	for _, c := range []struct {
		n    plan.Network
		note string
	}{
		{plan.Network{Duplicate: &plan.Percent{Percent: 5}}, "duplicate is done with nftables"},
		{plan.Network{Corrupt: &plan.Percent{Percent: 5}}, "corrupt is done in userspace through NFQUEUE"},
		{plan.Network{Delay: &plan.Delay{Latency: ms(10)}, Reorder: &plan.Reorder{Percent: 5}}, "reorder is done in userspace through NFQUEUE"},
	} {
		act, _ := apply(t, tp, c.n)
		notesSay(t, act, "sch_netem is missing on node testnode: "+c.note)
		recoverClean(t, tp, act)
	}
}

// TestNetemVersusFallbacks runs where sch_netem exists (make test-netem): each verb
// with auto, which must pick netem, and with the fallback forced, at the same rates and
// send rate, side by side; both within the tolerances of the tests above.
func TestNetemVersusFallbacks(t *testing.T) {
	requireNetem(t)
	tp := newTopo(t)
	type run struct {
		backend string
		n       plan.Network
	}
	measure := func(port int, what string, n plan.Network) (float64, []string) {
		act, rec := apply(t, tp, n)
		var types []string
		for _, e := range rec.entries {
			types = append(types, e.Type)
		}
		var got float64
		switch what {
		case "duplicate":
			r := seqOneWay(t, tp.target, tgt4, tp.client, cli4, port, lossPackets, 64, 10000, false)
			got = r.pct(r.recv - r.sent)
		case "corrupt":
			r := seqOneWay(t, tp.target, tgt6, tp.client, cli6, port, lossPackets, 100, 10000, false)
			got = r.pct(r.sent - r.intact)
		case "reorder":
			r := seqOneWay(t, tp.target, tgt4, tp.client, cli4, port, lossPackets, 64, 2000, false)
			got = r.pct(r.late)
		}
		recoverClean(t, tp, act)
		return got, types
	}
	for i, c := range []struct {
		what     string
		auto     plan.Network
		fallback plan.Network
		want     float64
		tol      float64
	}{
		{"duplicate", plan.Network{Duplicate: &plan.Percent{Percent: 20}}, plan.Network{Duplicate: &plan.Percent{Percent: 20}, DuplicateBackend: BackendNFT}, 20, 3},
		// The fallback flips a bit of the IPv6 packet (148 bytes: 36 bits unchecked),
		// netem one of the frame (162 bytes: the source MAC's 48 bits unchecked too).
		{"corrupt", plan.Network{Corrupt: &plan.Percent{Percent: 20}}, plan.Network{Corrupt: &plan.Percent{Percent: 20}, CorruptBackend: BackendNFQueue}, 20 * (1 - 36.0/float64(8*148)), 3},
		{"reorder", plan.Network{Delay: &plan.Delay{Latency: ms(100)}, Reorder: &plan.Reorder{Percent: 25}},
			plan.Network{Delay: &plan.Delay{Latency: ms(100)}, Reorder: &plan.Reorder{Percent: 25}, ReorderBackend: BackendNFQueue}, 75, 5},
	} {
		netem, nt := measure(7600+10*i, c.what, c.auto)
		fb, ft := measure(7601+10*i, c.what, c.fallback)
		t.Logf("%s: asked %.1f; netem (journal %v) %.2f, fallback (journal %v) %.2f", c.what, c.want, nt, netem, ft, fb)
		if len(nt) != 1 || nt[0] != EntryQdisc {
			t.Errorf("%s auto on a netem kernel journaled %v, want one tc-qdisc", c.what, nt)
		}
		want := c.want
		if c.what == "corrupt" {
			want = 20 * (1 - (36.0+48)/float64(8*(14+148)))
		}
		assertNear(t, c.what+" netem", netem, want, c.tol)
		assertNear(t, c.what+" fallback", fb, c.want, c.tol)
	}
}
