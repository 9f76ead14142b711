package redirect

import (
	"context"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DrainTimeout bounds how long recovery waits for each client to acknowledge the end of
// its redirected connection (one lost FIN and its retransmission: the minimum TCP
// retransmission timeout is 200 ms).
var DrainTimeout = time.Second

// drainConn is a client connection the fault accepted. Closed while the fault ends, it
// first sends its FIN and waits until the client's kernel acknowledged it, so the client
// hears of the end while the redirect is still in place. Closed after the table is gone,
// a FIN (or its retransmission) would leave with the listener's address, which a NAT
// redirect no longer rewrites and conntrack no longer knows: the client would not
// recognize it and would wait on a dead flow until its own timeout (TestHTTPDelay in e2e,
// once: a request held by the proxy at Ctrl-C got no answer for 10 s).
type drainConn struct {
	*net.TCPConn
	ending context.Context // done when the fault is being recovered

	mu    sync.Mutex
	reset bool // SetLinger(0): the close is an RST on purpose, nothing to wait for

	once sync.Once
	err  error
}

func (d *drainConn) SetLinger(sec int) error {
	d.mu.Lock()
	d.reset = sec == 0
	d.mu.Unlock()
	return d.TCPConn.SetLinger(sec)
}

// Close closes once; every caller returns when the connection is closed.
func (d *drainConn) Close() error {
	d.once.Do(func() {
		d.mu.Lock()
		reset := d.reset
		d.mu.Unlock()
		if d.ending.Err() != nil && !reset {
			if d.TCPConn.CloseWrite() == nil {
				waitFINAcked(d.TCPConn, time.Now().Add(DrainTimeout))
			}
		}
		d.err = d.TCPConn.Close()
	})
	return d.err
}

// waitFINAcked polls the socket's TCP state until our FIN is acknowledged (FIN_WAIT2,
// TIME_WAIT, or CLOSE after the client's own FIN), the connection is gone, or deadline.
func waitFINAcked(c *net.TCPConn, deadline time.Time) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	for {
		var state uint8
		var serr error
		if err := rc.Control(func(fd uintptr) {
			var info *unix.TCPInfo
			if info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); serr == nil {
				state = info.State
			}
		}); err != nil || serr != nil {
			return
		}
		switch state {
		case unix.BPF_TCP_FIN_WAIT2, unix.BPF_TCP_TIME_WAIT, unix.BPF_TCP_CLOSE:
			return
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
