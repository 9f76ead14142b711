package timefault

import "github.com/kubectl-chaos/kubectl-chaos/internal/plan"

// scanSnap is what the last scan left for the counters.
type scanSnap struct {
	patched []patchedProc
	skipped int
	scans   int
}

// patchedProc is a patched process and where its patched vDSO is mapped.
type patchedProc struct {
	key  procKey
	base uint64
}

// snapshot keeps the scan's result for ReadCounters (a.mu held).
func (a *active) snapshot() {
	s := &scanSnap{scans: a.scans}
	for _, k := range a.patched {
		s.patched = append(s.patched, patchedProc{k, a.known[k].rec.Base})
	}
	for _, ps := range a.known {
		if ps.rec == nil && ps.skipped != "exited" {
			s.skipped++
		}
	}
	a.snap.Store(s)
}

// ReadCounters reads back what the fault holds (fault.Counting), for the live view:
// the processes of the container whose clock is shifted now (patched, still the same
// running process, and the patched vDSO still mapped: one that exec'd since has a
// fresh one), the ones skipped (traced, seccomp, …) and the scans done so
// far (a running total: its rate shows the rescans work). None is a traffic counter:
// a process that exits takes its patch with it, which the gauge shows.
//
// It never takes the lock a scan or a recovery holds; after recovery it returns nothing.
func (a *active) ReadCounters() ([]plan.Counter, error) {
	s := a.snap.Load()
	if s == nil || a.recovered.Load() {
		return nil, nil
	}
	live := 0
	for _, p := range s.patched {
		if p.holds() {
			live++
		}
	}
	return []plan.Counter{
		{Name: "time shifted", Value: uint64(live), Unit: "processes", Gauge: true},
		{Name: "time skipped", Value: uint64(s.skipped), Unit: "processes", Gauge: true},
		{Name: "time scans", Value: uint64(s.scans), Unit: "scans"},
	}, nil
}

// holds reports whether the process still runs with the vDSO that was patched.
func (p patchedProc) holds() bool {
	st, err := statOf(p.key.pid)
	if err != nil || st.start != p.key.start || st.state == 'Z' || st.state == 'X' {
		return false
	}
	maps, err := readMaps(p.key.pid)
	if err != nil {
		return false
	}
	vd, err := findVDSO(maps)
	return err == nil && vd.lo == p.base
}
