package nfqdelay

import (
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// ReadCounters reads back what the engine does (fault.Counting): the packets its rules
// matched (before the corrupt pick), the packets the queues received, how many the
// delay holds right now, and what was reordered or corrupted.
func (a *Active) ReadCounters() ([]plan.Counter, error) {
	var matched uint64
	var err error
	if a.conn != nil {
		var rules []nft.RuleInfo
		if rules, err = a.conn.Rules(a.table); err == nil {
			matched, _ = nft.Tally(rules)
		}
	}
	s := a.Stats()
	out := []plan.Counter{
		{Name: "nfqueue matched", Value: matched, Unit: "packets", Traffic: true},
		{Name: "nfqueue queued", Value: s.Packets, Unit: "packets"},
		{Name: "nfqueue held", Value: uint64(max(a.held(), 0)), Unit: "packets", Gauge: true},
	}
	if s.Reordered > 0 {
		out = append(out, plan.Counter{Name: "nfqueue reordered", Value: s.Reordered, Unit: "packets"})
	}
	if s.Corrupted > 0 {
		out = append(out, plan.Counter{Name: "nfqueue corrupted", Value: s.Corrupted, Unit: "packets"})
	}
	if s.Overruns > 0 {
		out = append(out, plan.Counter{Name: "nfqueue overruns", Value: s.Overruns, Unit: "packets"})
	}
	return out, err
}
