//go:build linux

package nfqdelay

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nfqueue"
)

// batchSlack lets one batch verdict also release packets due this soon, so a busy queue
// costs one verdict per wake-up rather than one per packet.
const batchSlack = 200 * time.Microsecond

// Stats of one delay loop.
type Stats struct {
	Packets       uint64 // packets received from the kernel
	Batches       uint64 // batch verdicts sent
	Overruns      uint64 // ENOBUFS: messages lost, their packets failed open
	VerdictErrors uint64 // kernel errors on verdicts
	MaxHeld       int64  // most packets held at once
	Reordered     uint64 // packets a reorder let through at once
	Corrupted     uint64 // packets returned with a bit flipped
}

type heldPkt struct {
	id      uint32
	release int64 // ns since loop.base
}

// engine serves one queue: the delay loop or the corrupt loop.
type engine interface {
	Held() int64
	Err() error
	Close()
	Stats() Stats
}

// reader is what the loops share: the queue, its receive loop and counters, and the
// last packet id seen (to accept everything still queued when closing).
type reader struct {
	q        *nfqueue.Queue
	stopping atomic.Bool
	lastID   atomic.Uint32
	gotAny   atomic.Bool
	fatal    atomic.Pointer[error]

	packets, overruns, verdictErrs atomic.Uint64
}

func (r *reader) seen(id uint32) {
	r.lastID.Store(id)
	r.gotAny.Store(true)
}

// verdictErr counts a failed verdict (not while stopping: the socket is going).
func (r *reader) verdictErr(err error) {
	if err != nil && !r.stopping.Load() {
		r.verdictErrs.Add(1)
	}
}

// serve receives until the queue is closed, calling onPacket for each packet; an
// overrun or a kernel error reply is counted, any other error ends it (Err).
func (r *reader) serve(onPacket func(p *nfqueue.Packet)) {
	for {
		err := r.q.Receive(onPacket)
		switch {
		case err == nil:
		case r.stopping.Load():
			return
		case errors.Is(err, nfqueue.ErrOverrun):
			r.overruns.Add(1)
		default:
			var errno syscall.Errno
			if errors.As(err, &errno) {
				r.verdictErrs.Add(1)
				continue
			}
			r.fatal.Store(&err)
			return
		}
	}
}

// Err is the error that ended the reader, if any.
func (r *reader) Err() error {
	if p := r.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// markStopping marks the reader stopping; false if it already was.
func (r *reader) markStopping() bool { return !r.stopping.Swap(true) }

// acceptAndClose accepts every packet still queued (the kernel would drop them when the
// binding goes), then closes the queue.
func (r *reader) acceptAndClose() {
	if r.gotAny.Load() {
		_ = r.q.VerdictBatch(r.lastID.Load(), nfqueue.Accept)
	}
	_ = r.q.Close()
}

// loop holds the packets of one queue for a sampled delay, in arrival order; with a
// reorderer, the packets it picks are accepted at once instead.
type loop struct {
	reader
	s    *sampler
	o    *reorderer // reader goroutine only
	base time.Time
	ch   chan heldPkt
	stop chan struct{}
	wg   sync.WaitGroup

	lastRelease int64 // reader goroutine only

	held               atomic.Int64
	batches, reordered atomic.Uint64
	maxHeld            atomic.Int64
}

func startLoop(q *nfqueue.Queue, s *sampler, o *reorderer) *loop {
	l := &loop{reader: reader{q: q}, s: s, o: o, base: time.Now(), ch: make(chan heldPkt, 1<<16), stop: make(chan struct{})}
	l.wg.Add(2)
	go l.read()
	go l.release()
	return l
}

func (l *loop) now() int64 { return int64(time.Since(l.base)) }

func (l *loop) read() {
	defer l.wg.Done()
	onPacket := func(p *nfqueue.Packet) {
		l.packets.Add(1)
		if l.o != nil && l.o.now() {
			// Out of order: a verdict on this id alone; the held ones keep theirs.
			l.verdictErr(l.q.Verdict(p.ID, nfqueue.Accept))
			l.reordered.Add(1)
			return
		}
		r := l.now() + int64(l.s.next())
		if r < l.lastRelease {
			r = l.lastRelease // never overtake: order is preserved, like a FIFO link
		}
		l.lastRelease = r
		if h := l.held.Add(1); h > l.maxHeld.Load() {
			l.maxHeld.Store(h)
		}
		l.seen(p.ID)
		select {
		case l.ch <- heldPkt{id: p.ID, release: r}:
		case <-l.stop:
		}
	}
	l.serve(onPacket)
}

func (l *loop) release() {
	defer l.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var pending heldPkt
	havePending := false
	for {
		var h heldPkt
		if havePending {
			h, havePending = pending, false
		} else {
			select {
			case h = <-l.ch:
			case <-l.stop:
				return
			}
		}
		if wait := time.Duration(h.release - l.now()); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-l.stop:
				timer.Stop()
				return
			}
		}
		last, n := h.id, int64(1)
		due := l.now() + int64(batchSlack)
	drain:
		for {
			select {
			case h2 := <-l.ch:
				if h2.release <= due {
					last, n = h2.id, n+1
					continue
				}
				pending, havePending = h2, true
				break drain
			default:
				break drain
			}
		}
		l.verdictErr(l.q.VerdictBatch(last, nfqueue.Accept))
		l.batches.Add(1)
		l.held.Add(-n)
	}
}

// Held is the number of packets held right now.
func (l *loop) Held() int64 { return l.held.Load() }

// Close accepts every packet still held, then closes the queue.
func (l *loop) Close() {
	if !l.markStopping() {
		return
	}
	close(l.stop)
	l.acceptAndClose()
	l.wg.Wait()
}

func (l *loop) Stats() Stats {
	return Stats{
		Packets:       l.packets.Load(),
		Batches:       l.batches.Load(),
		Overruns:      l.overruns.Load(),
		VerdictErrors: l.verdictErrs.Load(),
		MaxHeld:       l.maxHeld.Load(),
		Reordered:     l.reordered.Load(),
	}
}

// corruptLoop flips one random bit of each packet of its queue (the rule picked them)
// and returns the changed packet at once. The kernel's checksums stay as they were, so
// the receiver's checks (IPv4 header, UDP, TCP) drop most of them, as with netem.
type corruptLoop struct {
	reader
	rng *rand.Rand // reader goroutine only
	wg  sync.WaitGroup

	corrupted atomic.Uint64
}

func startCorrupt(q *nfqueue.Queue, seed uint64) *corruptLoop {
	c := &corruptLoop{reader: reader{q: q}, rng: rand.New(rand.NewPCG(seed, 0x636f72))}
	c.wg.Add(1)
	go c.read()
	return c
}

func (c *corruptLoop) read() {
	defer c.wg.Done()
	c.serve(func(p *nfqueue.Packet) {
		c.packets.Add(1)
		c.seen(p.ID)
		if len(p.Payload) == 0 {
			c.verdictErr(c.q.Verdict(p.ID, nfqueue.Accept))
			return
		}
		bit := c.rng.IntN(len(p.Payload) * 8)
		p.Payload[bit/8] ^= 1 << (bit % 8)
		err := c.q.VerdictPayload(p.ID, nfqueue.Accept, p.Payload)
		if err == nil {
			c.corrupted.Add(1)
		}
		c.verdictErr(err)
	})
}

// Held is 0: every packet gets its verdict as it comes.
func (c *corruptLoop) Held() int64 { return 0 }

// Close accepts what is still queued (unchanged), then closes the queue.
func (c *corruptLoop) Close() {
	if !c.markStopping() {
		return
	}
	c.acceptAndClose()
	c.wg.Wait()
}

func (c *corruptLoop) Stats() Stats {
	return Stats{Packets: c.packets.Load(), Corrupted: c.corrupted.Load(),
		Overruns: c.overruns.Load(), VerdictErrors: c.verdictErrs.Load()}
}
