package iofault

import "github.com/kubectl-chaos/kubectl-chaos/internal/plan"

// ReadCounters reads back what the mount did (fault.Counting), for the live view: the
// calls under the path the fault selects (its methods, its file filter) seen since
// it was turned on — the traffic a fault nothing matched is flagged on — and, of
// those, the calls it hit (delayed, failed, altered). Atomic reads only: it never
// waits for a recovery in progress.
func (a *Active) ReadCounters() ([]plan.Counter, error) {
	var seen, hit uint64
	for m := Method(0); m < numMethods; m++ {
		seen += uint64(a.f.calls[m].Load())
		hit += uint64(a.f.hits[m].Load())
	}
	return []plan.Counter{
		{Name: "io calls", Value: seen, Unit: "calls", Traffic: true},
		{Name: "io faulted", Value: hit, Unit: "calls"},
	}, nil
}
