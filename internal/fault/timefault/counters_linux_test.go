package timefault

import (
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func timeCounters(t *testing.T, a *active) map[string]uint64 {
	t.Helper()
	cs, err := a.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint64{}
	for _, c := range cs {
		m[c.Name] = c.Value
	}
	return m
}

// TestCountersFollowShiftedProcesses: "time shifted" counts the container's processes
// whose clock is shifted now: one more once a rescan patched a program started during
// the fault (its clock measured shifted), one less once that program exited; the scan
// count moves with the rescans; nothing is read after recovery.
func TestCountersFollowShiftedProcesses(t *testing.T) {
	bin := needProg(t, "glibc-static")
	c := newContainer(t)
	first := launch(t, c.CgroupDir, "first", bin)
	const offset = 7 * time.Minute
	a := inject(t, c, newJournal(t, c), plan.TimeShift{Offset: plan.Duration(offset), Rescan: plan.Duration(200 * time.Millisecond)})
	boot, _ := hostClocks(t)
	if sh := measure(t, first.next(t, boot)); !near(sh.real, offset.Seconds(), 1) {
		t.Fatalf("first program: realtime %+.3fs, want %+.0fs", sh.real, offset.Seconds())
	}
	m0 := timeCounters(t, a)
	if m0["time shifted"] < 1 {
		t.Fatalf("counters %v: the shifted program is not counted", m0)
	}
	late := launch(t, c.CgroupDir, "late", bin)
	deadline := time.Now().Add(10 * time.Second)
	var m map[string]uint64
	for {
		boot, _ := hostClocks(t)
		sh := measure(t, late.next(t, boot))
		m = timeCounters(t, a)
		if near(sh.real, offset.Seconds(), 1) && m["time shifted"] == m0["time shifted"]+1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after a program started: its realtime %+.3fs (want %+.0fs), counters %v (before %v)", sh.real, offset.Seconds(), m, m0)
		}
	}
	if m["time scans"] <= m0["time scans"] {
		t.Errorf("time scans %d, before %d: the rescans are not counted", m["time scans"], m0["time scans"])
	}
	late.kill()
	for late.alive() {
		time.Sleep(10 * time.Millisecond)
	}
	m1 := timeCounters(t, a)
	t.Logf("counters: before %v, with the late program %v, after it exited %v", m0, m, m1)
	if m1["time shifted"] != m0["time shifted"] {
		t.Errorf("after the late program exited: time shifted %d, want %d", m1["time shifted"], m0["time shifted"])
	}
	if m1["time skipped"] != 0 {
		t.Errorf("time skipped %d", m1["time skipped"])
	}
	recoverAll(t, a)
	if cs, _ := a.ReadCounters(); cs != nil {
		t.Errorf("counters after recovery: %v", cs)
	}
}
