package stress

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// BenchmarkStress prints the table of make bench-stress (root, no cluster): asked vs
// measured CPU and memory from a stand-in cgroup's own accounting, and how long a
// stressor takes to start (parked → in the cgroups → released; for memory until the
// size is held) and to stop (SIGKILL → reaped → checked gone), also after kill -9 of the
// agent (the real binary).
func BenchmarkStress(b *testing.B) {
	needRoot(b)
	const runs = 5
	var rows []string
	row := func(what, asked, measured string) {
		rows = append(rows, fmt.Sprintf("| %-40s | %-8s | %-44s |", what, asked, measured))
	}

	for _, c := range []struct {
		workers, load int
		quota         float64
	}{{1, 25, 2}, {1, 50, 2}, {2, 50, 2}, {1, 100, 2}, {2, 100, 0.5}} {
		s := newStandIn(b, limits{cpus: c.quota})
		base := cpuRate(b, s, time.Second)
		a := apply(b, s, plan.Stress{CPU: &plan.CPUStress{Workers: c.workers, Load: c.load}}, newJournal(b, s))
		time.Sleep(time.Second)
		got := cpuRate(b, s, 5*time.Second) - base
		a.Recover(context.Background())
		asked := float64(c.workers*c.load) / 100
		row(fmt.Sprintf("cpu %d×%d%% (quota %g CPU), 5 s", c.workers, c.load, c.quota), fmt.Sprintf("%.2f", min(asked, c.quota)),
			fmt.Sprintf("%.3f CPU (%+.1f%%)", got, 100*(got/min(asked, c.quota)-1)))
	}

	for _, size := range []uint64{64 * mib, 256 * mib, 1024 * mib} {
		s := newStandIn(b, limits{memory: 2048 * mib})
		base := s.memUsage(b)
		a := apply(b, s, plan.Stress{Memory: &plan.MemoryStress{Bytes: size}}, newJournal(b, s))
		used := s.memUsage(b) - base
		row(fmt.Sprintf("memory %s (limit 2Gi)", plan.FormatBytes(size)), plan.FormatBytes(size),
			fmt.Sprintf("cgroup +%s (%+.2f%%), held after %s", plan.FormatBytes(used), 100*(float64(used)/float64(size)-1), a.heldAfter.Round(time.Millisecond)))
		a.Recover(context.Background())
	}

	var starts, stops, kills []time.Duration
	s := newStandIn(b, limits{cpus: 1})
	for range runs {
		t0 := time.Now()
		a := apply(b, s, plan.Stress{CPU: &plan.CPUStress{Workers: 1, Load: 10}}, newJournal(b, s))
		starts = append(starts, time.Since(t0))
		t0 = time.Now()
		if _, err := a.Recover(context.Background()); err != nil {
			b.Fatal(err)
		}
		stops = append(stops, time.Since(t0))
	}
	row("start: parked → cgroups → released", "", medianText(starts))
	row("stop: SIGKILL → reaped → checked gone", "", medianText(stops))

	agentBinary(b)
	for range 3 {
		p := stressPlan(s, plan.Fault{Kind: plan.KindStress, Action: "cpu", Stress: &plan.Stress{CPU: &plan.CPUStress{Workers: 1, Load: 10}}})
		agent, events, stderr := runAgent(b, p, b.TempDir(), "")
		waitEvent(b, events, plan.EventInjected, stderr)
		pid := stressorOf(b, s)
		start := mustStart(b, pid)
		t0 := time.Now()
		agent.Process.Signal(syscall.SIGKILL)
		for alive(pid, start) {
			time.Sleep(100 * time.Microsecond)
		}
		kills = append(kills, time.Since(t0))
		agent.Wait()
		recoverProcess(context.Background(), journalEntryOf(pid, start)) // nothing left: idempotent
	}
	row("stressor gone after kill -9 of the agent", "", medianText(kills))

	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\nkubectl-chaos stress benchmark (load average %s)\n", strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("| %-40s | %-8s | %-44s |\n|%s|%s|%s|\n", "measure", "asked", "measured", strings.Repeat("-", 42), strings.Repeat("-", 10), strings.Repeat("-", 46))
	for _, r := range rows {
		fmt.Println(r)
	}
}

func medianText(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("%s (%s–%s) of %d", r(s[len(s)/2]), r(s[0]), r(s[len(s)-1]), len(s))
}

func journalEntryOf(pid int, start uint64) journal.Entry {
	d, _ := json.Marshal(procData{PID: pid, StartTime: start, BootID: bootID()})
	return journal.Entry{Type: EntryProcess, Data: d}
}
