package stress

// Root integration tests: the real stressor (this test binary re-executed: the worker
// package's init takes it over) against a cgroup standing in for a container, measured
// from the cgroup's own accounting against a baseline of the same run.

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

const mib = 1 << 20

func newJournal(t testing.TB, s *standIn) *journal.Journal {
	t.Helper()
	j, err := journal.Create(t.TempDir(), journal.Meta{Experiment: "chaos-stresstest", Deadline: time.Now().Add(time.Hour)}, s.Target.Target)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func apply(t testing.TB, s *standIn, spec plan.Stress, rec fault.Recorder) *active {
	t.Helper()
	fa, err := (&Injector{S: spec}).Apply(context.Background(), s.Target, rec)
	if err != nil {
		t.Fatalf("apply %s: %v", (&spec).Summary(), err)
	}
	a := fa.(*active)
	t.Cleanup(func() { a.Recover(context.Background()) })
	for _, n := range a.Notes() {
		t.Logf("note: %s", n)
	}
	t.Logf("injected: %s", a.Objects()[0].Spec)
	return a
}

// cpuRate is the stand-in's CPU use (CPUs) over d, from its cgroup's accounting.
func cpuRate(t testing.TB, s *standIn, d time.Duration) float64 {
	got, _ := cpuRates(t, s, 0, d)
	return got
}

// cpuRates is the stand-in's CPU use over d from its cgroup's accounting and, over the
// same window, that of process pid from the scheduler's own count (0 if pid is 0).
func cpuRates(t testing.TB, s *standIn, pid int, d time.Duration) (cgroup, process float64) {
	u0, p0, t0 := s.cpuUsage(t), schedRuntime(pid), time.Now()
	time.Sleep(d)
	u1, p1, el := s.cpuUsage(t), schedRuntime(pid), time.Since(t0)
	return float64(u1-u0) / float64(el), float64(p1-p0) / float64(el)
}

// schedRuntime is the time pid's threads have run, in ns (/proc/<pid>/task/*/schedstat).
func schedRuntime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	var sum time.Duration
	for _, tk := range tasks {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + tk.Name() + "/schedstat")
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(n)
		}
	}
	return sum
}

// checkInCgroups checks that the stressor is listed in every cgroup of the stand-in, and
// in its PID namespace.
func checkInCgroups(t *testing.T, s *standIn, pid int) {
	t.Helper()
	for h := range s.dirs {
		if !slices.Contains(s.procs(t, h), pid) {
			t.Errorf("stressor pid %d not listed in the %s cgroup %s: %v", pid, h, s.dirs[h], s.procs(t, h))
		}
	}
	theirs, _ := container.Inode("/proc/" + strconv.Itoa(s.PID) + "/ns/pid")
	ours, _ := container.Inode("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	if theirs != ours {
		t.Errorf("stressor pid %d is not in the stand-in's PID namespace (%d, want %d)", pid, ours, theirs)
	}
}

// checkGone checks that only the stand-in is left in its cgroups and the stressor's
// PID and start time name no running process.
func checkGone(t *testing.T, s *standIn, st *stressor) {
	t.Helper()
	if alive(st.pid, st.start) {
		t.Errorf("stressor pid %d still running after recovery", st.pid)
	}
	for h := range s.dirs {
		if p := s.procs(t, h); len(p) != 1 || p[0] != s.PID {
			t.Errorf("%s cgroup after recovery lists %v, want only the stand-in %d", h, p, s.PID)
		}
	}
}

// residueOf lists the residue tool's lines about this test's objects.
func residueOf(t testing.TB, keys ...string) []string {
	t.Helper()
	out, err := exec.Command("/work/shared/tools/residue").Output()
	if err != nil {
		t.Logf("residue tool: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		for _, k := range keys {
			if strings.Contains(l, k) {
				lines = append(lines, l)
				break
			}
		}
	}
	return lines
}

// loadTolerance is how far the load measured from the cgroup may be from the load asked:
// 10 %, and 20 % inside the qemu VM (cgroup v2), where one emulated CPU runs on a
// loaded host and its accounting drifts: there the cgroup counted 3-6 % more than the
// stressor's own threads ran, and the load measured +0.3 to +14.5 % over six runs.
func loadTolerance() float64 {
	if os.Getenv("KUBECTL_CHAOS_NETEMVM") == "1" {
		return 0.2
	}
	return 0.1
}

func TestCPUStressMeasured(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name    string
		quota   float64
		workers int
		load    int
	}{
		{"1 worker 50%", 1.5, 1, 50},
		{"2 workers 30%", 1.5, 2, 30},
		{"bounded by the quota", 0.5, 2, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStandIn(t, limits{cpus: tt.quota})
			before := residueOf(t, s.ID[:8], "stress-worker")
			base := cpuRate(t, s, 2*time.Second)
			a := apply(t, s, plan.Stress{CPU: &plan.CPUStress{Workers: tt.workers, Load: tt.load}}, newJournal(t, s))
			checkInCgroups(t, s, a.st.pid)
			time.Sleep(time.Second) // the workers settle into their duty cycle
			got, own := cpuRates(t, s, a.st.pid, 6*time.Second)
			got -= base
			asked := float64(tt.workers*tt.load) / 100
			want := math.Min(asked, tt.quota)
			t.Logf("TABLE|cpu %d×%d%% (quota %g)|asked %.2f, bound %.2f|measured %.3f CPU (baseline %.4f; the stressor's own %.3f)", tt.workers, tt.load, tt.quota, asked, want, got, base, own)
			if tol := loadTolerance(); math.Abs(got-want) > tol*want {
				t.Errorf("the stand-in's cgroup used %.3f CPU, want %.2f ± %.0f%%", got, want, 100*tol)
			}
			if math.Abs(got-own) > 0.1*own {
				t.Errorf("the stand-in's cgroup used %.3f CPU, the stressor %.3f: not all of it charged to the cgroup", got, own)
			}
			start := time.Now()
			objs, err := a.Recover(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("recovered in %s: %s", time.Since(start), objs[0].Spec)
			checkGone(t, s, a.st)
			if after := residueOf(t, s.ID[:8], "stress-worker"); !slices.Equal(before, after) {
				t.Errorf("residue changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestMemoryStressMeasured(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name  string
		limit uint64
		spec  plan.MemoryStress
		want  uint64
	}{
		{"256Mi of 512Mi", 512 * mib, plan.MemoryStress{Bytes: 256 * mib}, 256 * mib},
		{"50% of 256Mi, 2 workers", 256 * mib, plan.MemoryStress{Percent: 50, Workers: 2}, 128 * mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStandIn(t, limits{memory: tt.limit})
			base := s.memUsage(t)
			spec := tt.spec
			a := apply(t, s, plan.Stress{Memory: &spec}, newJournal(t, s))
			checkInCgroups(t, s, a.st.pid)
			held := a.st.held.Load()
			used := s.memUsage(t) - base
			t.Logf("TABLE|memory %s (limit %s)|asked %s|held %s, cgroup +%s (baseline %s), in %s", spec.SizeText(), plan.FormatBytes(tt.limit),
				plan.FormatBytes(tt.want), plan.FormatBytes(held), plan.FormatBytes(used), plan.FormatBytes(base), a.heldAfter)
			if held != tt.want {
				t.Errorf("stressor holds %d bytes, want %d", held, tt.want)
			}
			// The stressor process's own footprint (Go runtime, stacks, page tables of the held
			// memory) is charged to the same cgroup: measured +3Mi (1 worker, here) and +6.75Mi
			// (2 workers, in the netem VM) over what it holds, hence the fixed 8Mi on top of 5%.
			if lo, hi := 0.95*float64(tt.want), 1.05*float64(tt.want)+8*mib; float64(used) < lo || float64(used) > hi {
				t.Errorf("the stand-in's memory cgroup grew by %s, want %s -5%% … +5%%+8Mi (the stressor's own runtime)", plan.FormatBytes(used), plan.FormatBytes(tt.want))
			}
			if _, err := a.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkGone(t, s, a.st)
			if after := s.memUsage(t); after > base+tt.want/20 {
				t.Errorf("memory cgroup still charged %s after recovery (baseline %s)", plan.FormatBytes(after), plan.FormatBytes(base))
			}
		})
	}
}

// Above the limit the kernel acts as for the container's own processes: here the OOM
// killer picks the stressor (the biggest), the stand-in lives on, and the agent says so.
func TestMemoryAboveLimitOOM(t *testing.T) {
	s := newStandIn(t, limits{memory: 64 * mib})
	a := apply(t, s, plan.Stress{Memory: &plan.MemoryStress{Bytes: 128 * mib}}, newJournal(t, s))
	if !slices.ContainsFunc(a.Notes(), func(n string) bool { return strings.Contains(n, "above") && strings.Contains(n, "OOM killer") }) {
		t.Errorf("no note about the size above the limit: %q", a.Notes())
	}
	ended, how := a.st.ended()
	spec := a.Objects()[0].Spec
	if !ended || !strings.Contains(how, "killed") || !strings.Contains(spec, "OOM killer acted") {
		t.Errorf("stressor above the limit: ended %v (%s); reported %q", ended, how, spec)
	}
	if held := a.st.held.Load(); held == 0 || held > 64*mib {
		t.Errorf("held %d before the OOM kill, want in (0, 64Mi]", held)
	}
	if !alive(s.PID, mustStart(t, s.PID)) {
		t.Error("the stand-in's own process died")
	}
	objs, err := a.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovered: %s", objs[0].Spec)
	checkGone(t, s, a.st)
}

func mustStart(t testing.TB, pid int) uint64 {
	st, _, err := procStart(pid)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A percentage without a memory limit is refused before any process is started.
func TestPercentWithoutLimitRefused(t *testing.T) {
	s := newStandIn(t, limits{})
	j := newJournal(t, s)
	_, err := (&Injector{S: plan.Stress{Memory: &plan.MemoryStress{Percent: 50}}}).Apply(context.Background(), s.Target, j)
	if err == nil || !strings.Contains(err.Error(), "no memory limit") || !strings.Contains(err.Error(), "256Mi") {
		t.Fatalf("err = %v, want a refusal naming the missing limit and a size to give instead", err)
	}
	if len(j.Entries()) != 0 {
		t.Errorf("journal has %d entries after a refusal", len(j.Entries()))
	}
	for h := range s.dirs {
		if p := s.procs(t, h); len(p) != 1 {
			t.Errorf("%s cgroup lists %v after a refusal", h, p)
		}
	}
}

// A restarted agent (or a sweep) kills the stressor from the journal alone.
func TestJournalRecoverKillsStressor(t *testing.T) {
	s := newStandIn(t, limits{cpus: 1})
	j := newJournal(t, s)
	a := apply(t, s, plan.Stress{CPU: &plan.CPUStress{Workers: 1, Load: 20}}, j)
	removed, err := journal.Recover(context.Background(), j.Path())
	if err != nil || len(removed) != 1 {
		t.Fatalf("journal recover: %v, removed %v", err, removed)
	}
	if alive(a.st.pid, a.st.start) {
		t.Fatalf("stressor pid %d alive after the journal recovery", a.st.pid)
	}
	if _, err := a.Recover(context.Background()); err != nil {
		t.Fatalf("Recover after the journal recovery: %v", err)
	}
	checkGone(t, s, a.st)
}

// A journaled PID whose start time differs is another process now: never killed.
func TestRecoverSparesReusedPID(t *testing.T) {
	s := newStandIn(t, limits{})
	start := mustStart(t, s.PID)
	d, _ := json.Marshal(procData{PID: s.PID, StartTime: start + 1, BootID: bootID()})
	if err := recoverProcess(context.Background(), journal.Entry{Type: EntryProcess, Data: d}); err != nil {
		t.Fatal(err)
	}
	d, _ = json.Marshal(procData{PID: s.PID, StartTime: start, BootID: "another-boot"})
	if err := recoverProcess(context.Background(), journal.Entry{Type: EntryProcess, Data: d}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if !alive(s.PID, start) {
		t.Fatal("recovery killed a process that only shares the recorded PID")
	}
}

// A stressor that dies on its own (its container restarted: the kernel kills the
// namespace's processes; the OOM killer) is reported at once, and Recover says how it
// ended; the stressor Recover kills itself is not reported.
func TestStressorEndReported(t *testing.T) {
	needRoot(t)
	s := newStandIn(t, limits{cpus: 1})
	a := apply(t, s, plan.Stress{CPU: &plan.CPUStress{Workers: 1, Load: 10}}, newJournal(t, s))
	notes := make(chan string, 4)
	a.SetReport(func(n string) { notes <- n })
	killed := time.Now()
	if err := syscall.Kill(a.st.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-notes:
		t.Logf("reported %v after the kill: %s", time.Since(killed).Round(time.Millisecond), n)
		if !strings.Contains(n, "ended before the session did: signal: killed") || !strings.Contains(n, "not started again") {
			t.Errorf("the note does not say the stressor ended and how: %s", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no report 5s after the stressor was killed")
	}
	objs, err := a.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(objs[0].Spec, "had already ended: signal: killed") {
		t.Errorf("Recover does not say the stressor had ended: %s", objs[0].Spec)
	}
	checkGone(t, s, a.st)

	b := apply(t, s, plan.Stress{CPU: &plan.CPUStress{Workers: 1, Load: 10}}, newJournal(t, s))
	b.SetReport(func(n string) { notes <- n })
	if _, err := b.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-notes:
		t.Errorf("Recover's own kill was reported as an end: %s", n)
	case <-time.After(500 * time.Millisecond):
	}
}
