package stress

import (
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// ReadCounters reads back what the stressor does (fault.Counting), for the live view:
// a CPU stressor's own CPU time and the container cgroup's since injection (both
// running totals in CPU-milliseconds: their rate is the load in CPUs); a memory
// stressor's bytes held, the cgroup's memory use and the OOM kills in it since
// injection. None of them is a traffic counter: a stressor matches no traffic, and
// one that stopped working shows as a rate of 0 or a size held of 0.
//
// It reads /proc and the cgroup files only (no lock Recover holds), so it never waits
// for a recovery in progress; after recovery it returns nothing.
func (a *active) ReadCounters() ([]plan.Counter, error) {
	if a.recovered.Load() {
		return nil, nil
	}
	if a.spec.CPU != nil {
		return a.cpuCounters(), nil
	}
	out := []plan.Counter{{Name: "stressor held", Value: a.st.held.Load(), Unit: plan.UnitBytes, Gauge: true}}
	if u, err := container.MemoryUsage(a.bound); err == nil {
		out = append(out, plan.Counter{Name: "cgroup memory", Value: u, Unit: plan.UnitBytes, Gauge: true})
	}
	if n, err := container.OOMKills(a.bound); err == nil {
		out = append(out, plan.Counter{Name: "cgroup oom kills", Value: n - min(n, a.oom0), Unit: "processes"})
	}
	return out, nil
}

func (a *active) cpuCounters() []plan.Counter {
	used, ok := a.stressorCPU()
	var out []plan.Counter
	if ok {
		out = append(out, plan.Counter{Name: "stressor cpu", Value: uint64(used / time.Millisecond), Unit: plan.UnitCPUMillis})
	}
	if cg, err := container.CPUUsage(a.cgs); err == nil {
		out = append(out, plan.Counter{Name: "cgroup cpu", Value: uint64(max(cg-a.cpu0, 0) / time.Millisecond), Unit: plan.UnitCPUMillis})
	}
	return out
}

// stressorCPU is the CPU time the stressor has used: from /proc while it runs (it is
// our unreaped child, so its PID names no other process), from its reaped state after.
func (a *active) stressorCPU() (time.Duration, bool) {
	if ended, _ := a.st.ended(); ended {
		a.st.mu.Lock()
		defer a.st.mu.Unlock()
		if st := a.st.state; st != nil {
			return st.UserTime() + st.SystemTime(), true
		}
		return 0, false
	}
	used, err := cpuTime(a.st.pid)
	return used, err == nil
}
