package http

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func init() {
	fault.Register(plan.KindHTTP, func(f plan.Fault) (fault.Injector, error) {
		if f.HTTP == nil {
			return nil, errors.New("http fault without a spec")
		}
		rule, err := NewRule(*f.HTTP)
		if err != nil {
			return nil, err
		}
		return &Injector{rule: rule}, nil
	})
}

// Injector applies one HTTP fault.
type Injector struct {
	rule *Rule
}

// Active is the running proxy with its redirect.
type Active struct {
	*redirect.Fault
	Proxy *Proxy
}

// Apply starts the proxy inside t's network namespace and redirects the port to it.
func (in *Injector) Apply(ctx context.Context, t fault.Target, rec fault.Recorder) (fault.Active, error) {
	spec := in.rule.spec
	var node []string
	if spec.Dir() == plan.HTTPIngress && !spec.IncludeProbes {
		var err error
		if node, err = redirect.NodeAddrs(); err != nil {
			return nil, err
		}
	}
	p := NewProxy(in.rule)
	a := &Active{Proxy: p}
	f, err := redirect.Start(ctx, t, rec, redirect.Spec{
		Kind: "http",
		Layout: func(table string, mark uint32, listen uint16) (redirect.Layout, error) {
			return Layout(&spec, table, mark, listen, node), nil
		},
		Serve: func(ctx context.Context, f *redirect.Fault) {
			f.AcceptLoop(func(ctx context.Context, c net.Conn) {
				p.Serve(ctx, c, upstream(f, c, spec.Dir() == plan.HTTPIngress))
			})
		},
		Counters: p.C,
	})
	if err != nil {
		return nil, err
	}
	a.Fault = f
	return a, nil
}

// upstream dials the real server of client connection c: for a TPROXY'd connection its
// local address is where the client was going, and the dial keeps the client's address;
// for a redirected one, conntrack knows the original destination.
func upstream(f *redirect.Fault, c net.Conn, tproxy bool) Dial {
	return func(ctx context.Context) (net.Conn, error) {
		if tproxy {
			dst, err := netip.ParseAddrPort(c.LocalAddr().String())
			if err != nil {
				return nil, err
			}
			src, err := netip.ParseAddrPort(c.RemoteAddr().String())
			if err != nil {
				return nil, err
			}
			return f.NS.Dial(ctx, "tcp", src.Addr(), dst, f.Layout.Mark)
		}
		dst, err := redirect.OrigDst(c)
		if err != nil {
			return nil, err
		}
		return f.NS.Dial(ctx, "tcp", netip.Addr{}, dst, f.Layout.Mark)
	}
}
