package redirect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
)

// Netns is the target's network namespace held open, with the agent's own to come back
// to: sockets the agent serves or dials for the target are created inside it.
type Netns struct {
	f, orig *os.File
	Inode   uint64
}

// OpenNetns opens t's network namespace, checks it is the one the plan names and
// refuses the node's own.
func OpenNetns(t fault.Target) (*Netns, error) {
	f, err := os.Open(t.NetnsPath)
	if err != nil {
		return nil, fmt.Errorf("opening the network namespace of %s (%s): %w", t.Target, t.NetnsPath, err)
	}
	ino, err := nsutil.FileInode(f)
	if err == nil && t.NetnsInode != 0 && ino != t.NetnsInode {
		err = fmt.Errorf("netns %s is net:[%d], the plan expects net:[%d]: the pod sandbox changed", t.NetnsPath, ino, t.NetnsInode)
	}
	if err == nil {
		if host, herr := nsutil.HostInode("/proc", "net"); herr != nil {
			err = fmt.Errorf("refusing to act on %s: %w", t.Target, herr)
		} else if host == ino {
			err = fmt.Errorf("refusing to act on the node's own network namespace (net:[%d]) for %s", ino, t.Target)
		}
	}
	var orig *os.File
	if err == nil {
		orig, err = os.Open("/proc/self/ns/net")
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Netns{f: f, orig: orig, Inode: ino}, nil
}

// FD is the namespace's descriptor (for netlink sockets bound to it).
func (n *Netns) FD() int { return int(n.f.Fd()) }

// Close releases the namespace.
func (n *Netns) Close() error {
	return errors.Join(n.f.Close(), n.orig.Close())
}

// Run runs fn on a locked OS thread switched into the namespace, and switches it back;
// a thread that cannot be switched back exits with its goroutine, never serving another.
func (n *Netns) Run(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(int(n.f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering net:[%d]: %w", n.Inode, err)
			return // still locked: the thread goes with this goroutine
		}
		err := call(fn)
		if serr := unix.Setns(int(n.orig.Fd()), unix.CLONE_NEWNET); serr != nil {
			errc <- errors.Join(err, fmt.Errorf("returning from net:[%d] (thread discarded): %w", n.Inode, serr))
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

func call(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic inside the target's network namespace: %v", r)
		}
	}()
	return fn()
}

// Dial connects from inside the namespace with the packet mark set (SO_MARK): our rules
// let marked packets through, so upstream connections are never redirected back to us.
// A valid local address binds the socket to it transparently (IP_TRANSPARENT): the
// server sees the client's address.
func (n *Netns) Dial(ctx context.Context, network string, local netip.Addr, remote netip.AddrPort, mark uint32) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return sockopts(rc, mark, local.IsValid(), local.Is6() && !local.Is4In6())
	}}
	if local.IsValid() {
		if network == "tcp" {
			d.LocalAddr = &net.TCPAddr{IP: local.AsSlice()}
		} else {
			d.LocalAddr = &net.UDPAddr{IP: local.AsSlice()}
		}
	}
	var c net.Conn
	err := n.Run(func() error {
		var err error
		c, err = d.DialContext(ctx, network, remote.String())
		return err
	})
	return c, err
}

func sockopts(rc syscall.RawConn, mark uint32, transparent, v6 bool) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if mark != 0 {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark)); serr != nil {
				serr = fmt.Errorf("SO_MARK: %w", serr)
				return
			}
		}
		if transparent {
			lvl, opt := unix.SOL_IP, unix.IP_TRANSPARENT
			if v6 {
				lvl, opt = unix.SOL_IPV6, unix.IPV6_TRANSPARENT
			}
			if serr = unix.SetsockoptInt(int(fd), lvl, opt, 1); serr != nil {
				serr = fmt.Errorf("IP_TRANSPARENT: %w", serr)
			}
		}
	})
	return errors.Join(err, serr)
}

// Listeners are the sockets one fault serves, all on one port.
type Listeners struct {
	Port uint16
	TCP  []net.Listener
	UDP  []net.PacketConn
}

// Close closes every socket.
func (l *Listeners) Close() error {
	var errs []error
	for _, s := range l.TCP {
		errs = append(errs, s.Close())
	}
	for _, s := range l.UDP {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// Listen opens the layout's listeners inside the namespace on one free port: TCP and/or
// UDP, on loopback (NAT redirect) or, transparent, on the wildcard addresses (TPROXY).
// IPv6 is skipped when the namespace has none.
func (n *Netns) Listen(l Layout) (*Listeners, error) {
	hosts := []string{"127.0.0.1", "::1"}
	if l.TProxy {
		hosts = []string{"0.0.0.0", "::"}
	}
	var last error
	for range 20 {
		ls, err := n.listenOnce(l, hosts)
		if err == nil {
			return ls, nil
		}
		last = err
		if !errors.Is(err, unix.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("listening in net:[%d]: %w", n.Inode, last)
}

func (n *Netns) listenOnce(l Layout, hosts []string) (*Listeners, error) {
	ls := &Listeners{}
	err := n.Run(func() error {
		for i, h := range hosts {
			v6 := i == 1
			lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
				return sockopts(rc, 0, l.TProxy, v6)
			}}
			for _, p := range l.Protos {
				network := p + "4"
				if v6 {
					network = p + "6"
				}
				addr := net.JoinHostPort(h, fmt.Sprint(ls.Port))
				var err error
				var la net.Addr
				if p == "tcp" {
					var s net.Listener
					s, err = lc.Listen(context.Background(), network, addr)
					if err == nil {
						ls.TCP = append(ls.TCP, s)
						la = s.Addr()
					}
				} else {
					var s net.PacketConn
					s, err = lc.ListenPacket(context.Background(), network, addr)
					if err == nil {
						ls.UDP = append(ls.UDP, s)
						la = s.LocalAddr()
					}
				}
				if err != nil {
					if v6 && noIPv6(err) {
						return nil // no IPv6 in this namespace
					}
					return err
				}
				if ls.Port == 0 {
					ap, _ := netip.ParseAddrPort(la.String())
					ls.Port = ap.Port()
				}
			}
		}
		return nil
	})
	if err != nil {
		ls.Close()
		return nil, err
	}
	return ls, nil
}

func noIPv6(err error) bool {
	return errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.EPROTONOSUPPORT)
}

// OrigDst is where a redirected TCP connection was going (SO_ORIGINAL_DST).
func OrigDst(c net.Conn) (netip.AddrPort, error) {
	tc, ok := c.(syscall.Conn)
	if _, tcp := c.LocalAddr().(*net.TCPAddr); !ok || !tcp {
		return netip.AddrPort{}, fmt.Errorf("not a TCP connection")
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	v6 := false
	if la, ok := c.LocalAddr().(*net.TCPAddr); ok && la.IP.To4() == nil {
		v6 = true
	}
	var ap netip.AddrPort
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v6 {
			var mtu *unix.IPv6MTUInfo
			mtu, serr = unix.GetsockoptIPv6MTUInfo(int(fd), unix.SOL_IPV6, 80) // IP6T_SO_ORIGINAL_DST
			if serr == nil {
				a := mtu.Addr
				ap = netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port>>8|a.Port<<8))
			}
			return
		}
		var mreq *unix.IPv6Mreq
		mreq, serr = unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
		if serr == nil {
			// struct sockaddr_in: family(2) port(2, big endian) addr(4)
			m := mreq.Multiaddr
			ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte{m[4], m[5], m[6], m[7]}), uint16(m[2])<<8|uint16(m[3]))
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("SO_ORIGINAL_DST: %w", err)
	}
	return ap, nil
}
