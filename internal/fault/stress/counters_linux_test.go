package stress

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// The counters the agent streams for a stressor (fault.Counting) are measured against
// the scheduler's own count of the stressor's threads and the stand-in cgroup's
// accounting, over the same window.

func readCounters(t *testing.T, a fault.Active) map[string]plan.Counter {
	t.Helper()
	cs, err := a.(fault.Counting).ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]plan.Counter{}
	for _, c := range cs {
		if c.Traffic {
			t.Errorf("%s is a traffic counter: a stressor matches no traffic", c.Name)
		}
		m[c.Name] = c
	}
	return m
}

func TestCountersCPUStress(t *testing.T) {
	needRoot(t)
	s := newStandIn(t, limits{cpus: 1.5})
	a := apply(t, s, plan.Stress{CPU: &plan.CPUStress{Workers: 1, Load: 60}}, newJournal(t, s))
	time.Sleep(time.Second) // the worker settles into its duty cycle
	c0, own0, t0 := readCounters(t, a), schedRuntime(a.st.pid), time.Now()
	time.Sleep(4 * time.Second)
	c1, own1, el := readCounters(t, a), schedRuntime(a.st.pid), time.Since(t0)
	rate := func(name string) float64 {
		if c1[name].Unit != plan.UnitCPUMillis || c1[name].Gauge {
			t.Errorf("%s: unit %q gauge %v, want a running total in %s", name, c1[name].Unit, c1[name].Gauge, plan.UnitCPUMillis)
		}
		return float64(c1[name].Value-c0[name].Value) / float64(el.Milliseconds())
	}
	stressor, cgroup := rate("stressor cpu"), rate("cgroup cpu")
	own := float64(own1-own0) / float64(el)
	t.Logf("stressor cpu %.3f CPU, cgroup cpu %.3f CPU; the scheduler counted %.3f CPU for the stressor (asked 0.6)", stressor, cgroup, own)
	// /proc/<pid>/stat counts in clock ticks (10 ms): ±2 ticks over the window on top of 5 %.
	tol := 0.05*own + 0.02/el.Seconds()
	if math.Abs(stressor-own) > tol {
		t.Errorf("stressor cpu %.3f CPU, the scheduler says %.3f (±%.3f)", stressor, own, tol)
	}
	// The stand-in only sleeps: its cgroup's use is the stressor's.
	if math.Abs(cgroup-own) > 0.1*own {
		t.Errorf("cgroup cpu %.3f CPU, the stressor ran %.3f", cgroup, own)
	}
	if want := 0.6; math.Abs(own-want) > loadTolerance()*want {
		t.Errorf("the stressor ran %.3f CPU, asked %.1f", own, want)
	}
	if _, err := a.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cs, _ := a.ReadCounters(); cs != nil {
		t.Errorf("counters after recovery: %v", cs)
	}
}

func TestCountersMemoryStress(t *testing.T) {
	needRoot(t)
	s := newStandIn(t, limits{memory: 256 * mib})
	base := s.memUsage(t)
	const want = 96 * mib
	a := apply(t, s, plan.Stress{Memory: &plan.MemoryStress{Bytes: want}}, newJournal(t, s))
	m := readCounters(t, a)
	held, cg := m["stressor held"], m["cgroup memory"]
	t.Logf("counters %v (cgroup baseline %s)", m, plan.FormatBytes(base))
	if held.Value != want || !held.Gauge || held.Unit != plan.UnitBytes {
		t.Errorf("stressor held %+v, want a gauge of %d bytes", held, want)
	}
	// As TestMemoryStressMeasured: the stressor's own runtime is charged too (+8Mi).
	if grown := float64(cg.Value) - float64(base); grown < 0.95*want || grown > 1.05*want+8*mib || !cg.Gauge {
		t.Errorf("cgroup memory %+v grew by %s over the baseline, want %s -5%% … +5%%+8Mi", cg, plan.FormatBytes(uint64(max(grown, 0))), plan.FormatBytes(want))
	}
	if m["cgroup oom kills"].Value != 0 {
		t.Errorf("oom kills %d", m["cgroup oom kills"].Value)
	}
	if _, err := a.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cs, _ := a.ReadCounters(); cs != nil {
		t.Errorf("counters after recovery: %v", cs)
	}
}
