package network

import (
	"errors"
	"fmt"
	"sort"

	"github.com/vishvananda/netlink"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// ReadCounters reads back what the fault's objects did (fault.Counting): the packets the
// owned nft rules matched and dropped or duplicated, the stats of our qdiscs (sent,
// dropped, backlog), and the NFQUEUE engine's own counters.
func (a *Active) ReadCounters() ([]plan.Counter, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return nil, nil
	}
	var out []plan.Counter
	var errs []error
	if cs, err := a.nftCounters(); err != nil {
		errs = append(errs, err)
	} else {
		out = append(out, cs...)
	}
	if cs, err := a.qdiscCounters(); err != nil {
		errs = append(errs, err)
	} else {
		out = append(out, cs...)
	}
	for _, s := range a.subs {
		if c, ok := s.(fault.Counting); ok {
			cs, err := c.ReadCounters()
			out = append(out, cs...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return out, errors.Join(errs...)
}

// nftCounters tallies the rule counters of the owned tables: drop chains and duplicate
// chains apart.
func (a *Active) nftCounters() ([]plan.Counter, error) {
	if a.conn == nil || len(a.tables) == 0 {
		return nil, nil
	}
	var drops, dups []nft.RuleInfo
	for _, t := range a.tables {
		rules, err := a.conn.Rules(t)
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			if r.Has("dup") {
				dups = append(dups, r)
			} else {
				drops = append(drops, r)
			}
		}
	}
	var out []plan.Counter
	if len(drops) > 0 {
		m, d := nft.Tally(drops)
		out = append(out,
			plan.Counter{Name: "nft matched", Value: m, Unit: "packets", Traffic: true},
			plan.Counter{Name: "nft dropped", Value: d, Unit: "packets"})
	}
	if len(dups) > 0 {
		m, d := nft.Tally(dups)
		out = append(out,
			plan.Counter{Name: "nft dup matched", Value: m, Unit: "packets", Traffic: true},
			plan.Counter{Name: "nft duplicated", Value: d, Unit: "packets"})
	}
	return out, nil
}

// qdiscCounters sums the stats of our qdiscs (handles 4b43:, 4b44:) by type over the
// interfaces. The htb that steers filtered traffic is left out (everything passes it):
// its faulty class 4b43:1 counts what the filter matched ("htb class").
func (a *Active) qdiscCounters() ([]plan.Counter, error) {
	if a.h == nil || len(a.roots) == 0 {
		return nil, nil
	}
	type sums struct{ sent, dropped, backlog uint64 }
	byKind := map[string]*sums{}
	for _, root := range a.roots {
		l, err := a.h.LinkByIndex(root.IfIndex)
		if err != nil {
			return nil, fmt.Errorf("looking up interface %d (%s): %w", root.IfIndex, root.IfName, err)
		}
		qs, err := a.h.QdiscList(l)
		if err != nil {
			return nil, fmt.Errorf("listing the qdiscs of %s: %w", root.IfName, err)
		}
		add := func(kind string, st *netlink.ClassStatistics) {
			s := byKind[kind]
			if s == nil {
				s = &sums{}
				byKind[kind] = s
			}
			if b := st.Basic; b != nil {
				s.sent += uint64(b.Packets)
			}
			if qs := st.Queue; qs != nil {
				s.dropped += uint64(qs.Drops)
				s.backlog += uint64(qs.Qlen)
			}
		}
		steering := false
		for _, q := range qs {
			at := q.Attrs()
			major := at.Handle >> 16
			if major != RootHandleMajor && major != ChildHandleMajor || at.Statistics == nil {
				continue
			}
			if q.Type() == "htb" {
				steering = true
				continue
			}
			add(q.Type(), (*netlink.ClassStatistics)(at.Statistics))
		}
		if steering {
			// The faulty class shapes filtered bandwidth itself, and sees exactly what
			// the filter matched.
			cls, err := a.h.ClassList(l, netlink.MakeHandle(RootHandleMajor, 0))
			if err != nil {
				return nil, fmt.Errorf("listing the tc classes of %s: %w", root.IfName, err)
			}
			for _, c := range cls {
				if at := c.Attrs(); at.Handle == netlink.MakeHandle(RootHandleMajor, 1) && at.Statistics != nil {
					add("htb class", at.Statistics)
				}
			}
		}
	}
	kinds := make([]string, 0, len(byKind))
	for k := range byKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var out []plan.Counter
	for _, k := range kinds {
		s := byKind[k]
		out = append(out,
			plan.Counter{Name: k + " sent", Value: s.sent, Unit: "packets", Traffic: true},
			plan.Counter{Name: k + " dropped", Value: s.dropped, Unit: "packets"},
			plan.Counter{Name: k + " backlog", Value: s.backlog, Unit: "packets", Gauge: true})
	}
	return out, nil
}
