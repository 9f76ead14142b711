package redirect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/conntrack"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Journal entry types of this package.
const (
	EntryTable     = "redirect-nft-table"
	EntryRoute     = "redirect-ip-route"
	EntryRule      = "redirect-ip-rule"
	EntryConntrack = "redirect-conntrack"
)

func init() {
	journal.RegisterRecoverer(EntryTable, recoverTable)
	journal.RegisterRecoverer(EntryRoute, recoverRoute)
	journal.RegisterRecoverer(EntryRule, recoverRule)
	journal.RegisterRecoverer(EntryConntrack, recoverConntrack)
}

type tableData struct {
	Table string `json:"table"`
	PID   int    `json:"pid"`
}

type routeData struct {
	Family string `json:"family"` // inet, inet6
	Table  uint32 `json:"table"`
}

type ruleData struct {
	Family   string `json:"family"`
	Mark     uint32 `json:"mark"`
	Table    uint32 `json:"table"`
	Priority int    `json:"priority"`
}

type ctData struct {
	Mark uint32 `json:"mark"`
}

// Redirect is an installed layout: its owned table lives as long as the socket here.
type Redirect struct {
	Layout Layout
	ns     *Netns
	nft    *nft.Conn
	objs   []plan.Object
	// Conntrack counts the entries deleted on removal.
	Conntrack int
}

// Install journals and creates the layout in the namespace: conntrack cleanup first
// (recovered last), the policy routing of a TPROXY layout, then the owned table. On
// error, what was created is for the caller to recover from the journal.
func Install(ns *Netns, l Layout, rec fault.Recorder) (*Redirect, error) {
	r := &Redirect{Layout: l, ns: ns}
	record := func(typ string, data any, o plan.Object) error {
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		if err := rec.Record(journal.Entry{Type: typ, NetnsInode: ns.Inode, Data: b, Object: o}); err != nil {
			return fmt.Errorf("journaling %s: %w", o.Spec, err)
		}
		return nil
	}
	var h *netlink.Handle
	defer func() {
		if h != nil {
			h.Close()
		}
	}()
	routes := 0
	for _, o := range l.Objects() {
		switch o.Kind {
		case KindConntrack:
			if err := record(EntryConntrack, ctData{Mark: l.Mark}, o); err != nil {
				return nil, err
			}
		case KindRoute, KindRule:
			if h == nil {
				var err error
				if h, err = netlink.NewHandleAt(netns.NsHandle(ns.FD()), unix.NETLINK_ROUTE); err != nil {
					return nil, fmt.Errorf("netlink handle in net:[%d]: %w", ns.Inode, err)
				}
			}
			fam := Families[routes/2]
			routes++
			var err error
			if o.Kind == KindRoute {
				d := routeData{Family: fam, Table: l.Mark}
				if err = record(EntryRoute, d, o); err == nil {
					err = addRoute(h, d)
				}
			} else {
				d := ruleData{Family: fam, Mark: l.Mark, Table: l.Mark, Priority: RulePriority}
				if err = record(EntryRule, d, o); err == nil {
					err = h.RuleAdd(d.rule())
				}
			}
			if err != nil {
				if fam == "inet6" && noIPv6(err) {
					continue // no IPv6 here: nothing to route
				}
				return nil, fmt.Errorf("%s in net:[%d]: %w", o.Spec, ns.Inode, err)
			}
		case KindTable:
			if err := r.createTable(o, record); err != nil {
				return nil, err
			}
		}
		r.objs = append(r.objs, o)
	}
	return r, nil
}

func (r *Redirect) createTable(o plan.Object, record func(string, any, plan.Object) error) error {
	b, err := r.Layout.Batch()
	if err != nil {
		return err
	}
	if err := record(EntryTable, tableData{Table: r.Layout.Table, PID: os.Getpid()}, o); err != nil {
		return err
	}
	c, err := nft.Dial(r.ns.FD())
	if err != nil {
		return err
	}
	if err := c.Send(b); err != nil {
		c.Close()
		return fmt.Errorf("creating table inet %s in net:[%d]: %w", r.Layout.Table, r.ns.Inode, err)
	}
	r.nft = c
	return nil
}

// Objects are what Install created.
func (r *Redirect) Objects() []plan.Object { return r.objs }

// Remove deletes the table (traffic is no longer redirected), then the policy routing,
// then our conntrack entries. Idempotent.
func (r *Redirect) Remove(ctx context.Context) ([]plan.Object, error) {
	var errs []error
	if r.nft != nil {
		errs = append(errs, r.nft.DeleteTable(nft.Table{Family: nft.FamilyINet, Name: r.Layout.Table}))
		errs = append(errs, r.nft.Close())
		r.nft = nil
	}
	if r.Layout.TProxy {
		h, err := netlink.NewHandleAt(netns.NsHandle(r.ns.FD()), unix.NETLINK_ROUTE)
		if err != nil {
			errs = append(errs, err)
		} else {
			for _, fam := range Families {
				errs = append(errs, delRule(h, ruleData{Family: fam, Mark: r.Layout.Mark, Table: r.Layout.Mark, Priority: RulePriority}))
				errs = append(errs, delRoute(h, routeData{Family: fam, Table: r.Layout.Mark}))
			}
			h.Close()
		}
	} else {
		n, err := flushConntrack(r.ns.FD(), r.Layout.Mark)
		r.Conntrack += n
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r.objs, nil
}

func (d ruleData) rule() *netlink.Rule {
	ru := netlink.NewRule()
	ru.Family = family(d.Family)
	ru.Mark = d.Mark
	ru.Table = int(d.Table)
	ru.Priority = d.Priority
	return ru
}

func family(f string) int {
	if f == "inet6" {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func (d routeData) route(lo int) *netlink.Route {
	dst := &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	if d.Family == "inet6" {
		dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	return &netlink.Route{Family: family(d.Family), Dst: dst, Type: unix.RTN_LOCAL, Table: int(d.Table),
		LinkIndex: lo, Scope: netlink.SCOPE_HOST}
}

func addRoute(h *netlink.Handle, d routeData) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	return h.RouteAdd(d.route(lo.Attrs().Index))
}

func delRoute(h *netlink.Handle, d routeData) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	return gone(h.RouteDel(d.route(lo.Attrs().Index)))
}

func delRule(h *netlink.Handle, d ruleData) error {
	return gone(h.RuleDel(d.rule()))
}

// gone treats "no such object" (and no IPv6 at all) as removed.
func gone(err error) error {
	if err == nil || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) || noIPv6(err) {
		return nil
	}
	return err
}

func flushConntrack(netnsFD int, mark uint32) (int, error) {
	c, err := conntrack.Dial(netnsFD)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.DeleteMark(mark)
}

// withNetns runs fn with the namespace an entry names, found by its inode; a namespace
// that nothing holds any more is gone with everything in it.
func withNetns(e journal.Entry, fn func(fd int) error) error {
	f, err := nsutil.OpenByInode(e.NetnsInode)
	if err != nil || f == nil {
		return err
	}
	defer f.Close()
	return fn(int(f.Fd()))
}

func recoverTable(ctx context.Context, e journal.Entry) error {
	var d tableData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("%s entry: %w", EntryTable, err)
	}
	return withNetns(e, func(fd int) error {
		c, err := nft.Dial(fd)
		if err != nil {
			return err
		}
		defer c.Close()
		err = c.DeleteTable(nft.Table{Family: nft.FamilyINet, Name: d.Table})
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("table inet %s in net:[%d] is owned by a live netlink socket (agent pid %d still running?): %w", d.Table, e.NetnsInode, d.PID, err)
		}
		return err
	})
}

func recoverRoute(ctx context.Context, e journal.Entry) error {
	var d routeData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("%s entry: %w", EntryRoute, err)
	}
	return withHandle(e, func(h *netlink.Handle) error { return delRoute(h, d) })
}

func recoverRule(ctx context.Context, e journal.Entry) error {
	var d ruleData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("%s entry: %w", EntryRule, err)
	}
	return withHandle(e, func(h *netlink.Handle) error { return delRule(h, d) })
}

func withHandle(e journal.Entry, fn func(h *netlink.Handle) error) error {
	return withNetns(e, func(fd int) error {
		h, err := netlink.NewHandleAt(netns.NsHandle(fd), unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		return fn(h)
	})
}

func recoverConntrack(ctx context.Context, e journal.Entry) error {
	var d ctData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("%s entry: %w", EntryConntrack, err)
	}
	return withNetns(e, func(fd int) error {
		_, err := flushConntrack(fd, d.Mark)
		return err
	})
}
