package redirect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// ReportInterval is how often a running fault reports its counters when they changed.
var ReportInterval = 10 * time.Second

// Fault is a running redirect fault: listeners inside the target's namespace served by
// the kind's code, and the layout that steers traffic to them.
type Fault struct {
	NS     *Netns
	L      *Listeners
	Layout Layout
	r      *Redirect

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	counters fmt.Stringer

	mu     sync.Mutex
	report func(string)
	last   string
}

// Spec is what a kind gives Start.
type Spec struct {
	// Kind names the table ("dns", "http").
	Kind string
	// Layout returns the kind's layout for the agent's table, mark and listener port.
	Layout func(table string, mark uint32, listen uint16) (Layout, error)
	// Serve runs the kind's server on the listeners until ctx ends (in goroutines it
	// starts with f.Go).
	Serve func(ctx context.Context, f *Fault)
	// Counters are reported as events.
	Counters fmt.Stringer
}

// Start opens the target's namespace, listens there, serves, and installs the redirect
// (journaled first). On error everything it started is stopped; what was journaled is
// for the caller to recover.
func Start(ctx context.Context, t fault.Target, rec fault.Recorder, s Spec) (*Fault, error) {
	ns, err := OpenNetns(t)
	if err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%s/%d", t.Target.ID(), ns.Inode)
	mark := Mark(t.Experiment, id)
	table := nft.ExperimentTableName(s.Kind, t.Experiment, id)
	probe, err := s.Layout(table, mark, PortUnknown)
	if err != nil {
		ns.Close()
		return nil, err
	}
	ls, err := ns.Listen(probe)
	if err != nil {
		ns.Close()
		return nil, err
	}
	l, _ := s.Layout(table, mark, ls.Port)
	f := &Fault{NS: ns, L: ls, Layout: l, counters: s.Counters}
	f.ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.Serve(f.ctx, f)
	if f.r, err = Install(ns, l, rec); err != nil {
		f.stop()
		return nil, err
	}
	f.Go(f.reportLoop)
	return f, nil
}

// Go runs fn in a goroutine the fault waits for on recovery.
func (f *Fault) Go(fn func()) {
	f.wg.Add(1)
	go func() { defer f.wg.Done(); fn() }()
}

// Context ends when the fault is recovered.
func (f *Fault) Context() context.Context { return f.ctx }

// Objects are the kernel objects the fault created.
func (f *Fault) Objects() []plan.Object { return f.r.Objects() }

// SetReport receives a way to report (fault.Reporter): the counters, when they change.
func (f *Fault) SetReport(fn func(string)) {
	f.mu.Lock()
	f.report = fn
	f.mu.Unlock()
}

func (f *Fault) emit(final bool) {
	if f.counters == nil {
		return
	}
	s := f.counters.String()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.report == nil || (s == f.last && !final) {
		return
	}
	f.last = s
	if final {
		f.report("final counters: " + s)
	} else {
		f.report("counters: " + s)
	}
}

func (f *Fault) reportLoop() {
	t := time.NewTicker(ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
			f.emit(false)
		}
	}
}

// Values is implemented by a kind's counters that can be read as numbers.
type Values interface {
	Values() []plan.Counter
}

// ReadCounters is the kind's counters as numbers (fault.Counting), for the live view.
func (f *Fault) ReadCounters() ([]plan.Counter, error) {
	if v, ok := f.counters.(Values); ok {
		return v.Values(), nil
	}
	return nil, nil
}

// Counters is the fault's counters in words.
func (f *Fault) Counters() string {
	if f.counters == nil {
		return ""
	}
	return f.counters.String()
}

// stop closes the listeners and every connection the kind serves, and waits for them.
func (f *Fault) stop() {
	f.cancel()
	f.L.Close()
	f.wg.Wait()
}

// Recover stops serving, removes the redirect (table, policy routing, conntrack entries)
// and reports the final counters. Idempotent.
func (f *Fault) Recover(ctx context.Context) ([]plan.Object, error) {
	f.stop()
	f.emit(true)
	objs, err := f.r.Remove(ctx)
	if err != nil {
		return nil, err
	}
	f.NS.Close()
	return objs, nil
}

// AcceptLoop serves each TCP connection of every listener with handle until the fault
// ends; connections are closed when it does, each acknowledged by its client before
// recovery goes on to remove the redirect (drainConn).
func (f *Fault) AcceptLoop(handle func(ctx context.Context, c net.Conn)) {
	for _, l := range f.L.TCP {
		f.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					if f.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
						return
					}
					time.Sleep(10 * time.Millisecond) // EMFILE and the like: back off
					continue
				}
				if tc, ok := c.(*net.TCPConn); ok {
					c = &drainConn{TCPConn: tc, ending: f.ctx}
				}
				f.Go(func() {
					stop := context.AfterFunc(f.ctx, func() { c.Close() })
					defer stop()
					handle(f.ctx, c)
					c.Close()
				})
			}
		})
	}
}

// NodeNetns, when set, is the node's network namespace (tests point it elsewhere); by
// default the agent (hostPID) opens the host's init's, or kthreadd's (pid 2), whose
// namespace links stay readable where pid 1's are not (EACCES in the helper pod).
var NodeNetns = ""

func openNodeNetns() (netns.NsHandle, error) {
	cands := []string{NodeNetns}
	if NodeNetns == "" {
		root := journal.DefaultProcRoot()
		cands = []string{root + "/1/ns/net", root + "/2/ns/net"}
	}
	var errs []error
	for _, c := range cands {
		ns, err := netns.GetFromPath(c)
		if err == nil {
			return ns, nil
		}
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("opening the node's network namespace: %w", errors.Join(errs...))
}

// NodeAddrs are the addresses of the node's own network namespace (where kubelet's
// probes come from), as /32 and /128 prefixes.
func NodeAddrs() ([]string, error) {
	ns, err := openNodeNetns()
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	addrs, err := h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing the node's addresses: %w", err)
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() {
			continue
		}
		p := netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()).String()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}
