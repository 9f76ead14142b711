package timefault

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func needProg(t *testing.T, name string) string {
	t.Helper()
	bin, ok := buildProgs(t)[name]
	if !ok {
		t.Skipf("no %s test program on this machine", name)
	}
	return bin
}

// TestMonotonicOnRequest: CLOCK_MONOTONIC moves only when asked, by the offset.
func TestMonotonicOnRequest(t *testing.T) {
	bin := needProg(t, "glibc-dynamic")
	c := newContainer(t)
	p := launch(t, c.CgroupDir, "glibc-dynamic", bin)
	const offset = 30 * time.Minute
	base := measure(t, p.next(t, 0))
	if !near(base.mono, 0, 1) || !near(base.real, 0, 1) {
		t.Fatalf("baseline: monotonic %+.3fs, realtime %+.3fs from the host", base.mono, base.real)
	}
	a := inject(t, c, newJournal(t, c), plan.TimeShift{Offset: plan.Duration(offset), Clocks: []string{"CLOCK_REALTIME", "CLOCK_MONOTONIC"}})
	if n := strings.Join(a.Notes(), " "); !strings.Contains(n, "CLOCK_MONOTONIC shifted") {
		t.Errorf("no monotonic warning in the notes: %s", n)
	}
	boot, _ := hostClocks(t)
	sh := measure(t, p.next(t, boot))
	if !near(sh.mono, offset.Seconds(), 1) || !near(sh.real, offset.Seconds(), 1) {
		t.Fatalf("monotonic %+.3fs, realtime %+.3fs, want both %+.0fs", sh.mono, sh.real, offset.Seconds())
	}
	t.Logf("asked %+.0fs on CLOCK_REALTIME,CLOCK_MONOTONIC: seen monotonic %+.6fs, realtime %+.6fs", offset.Seconds(), sh.mono, sh.real)
	recoverAll(t, a)
	boot, _ = hostClocks(t)
	sh = measure(t, p.next(t, boot))
	if !near(sh.mono, 0, 1) || !near(sh.real, 0, 1) {
		t.Fatalf("after recovery: monotonic %+.3fs, realtime %+.3fs from the host", sh.mono, sh.real)
	}
}

// TestForkedChildRestored: a child forked while its parent is patched inherits the
// patch; recovery finds it (in the container's cgroup) and restores it too, with and
// without a rescan that saw it first.
func TestForkedChildRestored(t *testing.T) {
	bin := needProg(t, "glibc-dynamic")
	for _, rescan := range []time.Duration{0, 200 * time.Millisecond} {
		t.Run("rescan="+rescan.String(), func(t *testing.T) {
			c := newContainer(t)
			p := launch(t, c.CgroupDir, "glibc-dynamic", bin)
			const offset = -2 * time.Hour
			a := inject(t, c, newJournal(t, c), plan.TimeShift{Offset: plan.Duration(offset), Rescan: plan.Duration(rescan)})
			var mu sync.Mutex
			var reports []string
			a.SetReport(func(s string) { mu.Lock(); reports = append(reports, s); mu.Unlock() })
			if err := syscall.Kill(p.pid, syscall.SIGUSR1); err != nil {
				t.Fatal(err)
			}
			child := waitChild(t, p)
			defer syscall.Kill(child, syscall.SIGKILL)
			boot, _ := hostClocks(t)
			sh := measure(t, p.next(t, boot, child))
			if !near(sh.real, offset.Seconds(), 1) {
				t.Fatalf("forked child %d: realtime %+.3fs, want the inherited %+.0fs", child, sh.real, offset.Seconds())
			}
			if rescan > 0 {
				time.Sleep(3 * rescan)
				mu.Lock()
				got := strings.Join(reports, "; ")
				mu.Unlock()
				if !strings.Contains(got, "pid "+strconv.Itoa(child)) || !strings.Contains(got, "inherited") {
					t.Errorf("rescan reports %q, want the child %d reported as inherited", got, child)
				}
			}
			objs := recoverAll(t, a)
			found := false
			for _, o := range objs {
				t.Logf("recovered: %s", o.Spec)
				found = found || strings.HasPrefix(o.Spec, "pid "+strconv.Itoa(child)+" ")
			}
			if !found {
				t.Errorf("recovered objects %v do not name the child %d", objs, child)
			}
			boot, _ = hostClocks(t)
			for _, pid := range []int{p.pid, child} {
				if sh := measure(t, p.next(t, boot, pid)); !near(sh.real, 0, 1) {
					t.Errorf("pid %d after recovery: realtime %+.3fs from the host", pid, sh.real)
				}
			}
			t.Logf("child %d shifted %+.0fs by inheritance, restored with its parent", child, sh.real)
		})
	}
}

var pidField = regexp.MustCompile(`^pid=(\d+) `)

// waitChild returns the PID of the first line p's output has from another process.
func waitChild(t *testing.T, p *prog) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		f, err := os.Open(p.out)
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m := pidField.FindStringSubmatch(sc.Text()); m != nil && m[1] != strconv.Itoa(p.pid) {
					f.Close()
					n, _ := strconv.Atoi(m[1])
					return n
				}
			}
			f.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s forked no child that prints", p.name)
	return 0
}

// TestTracedProcessSkipped: a process another tracer holds is skipped and reported;
// the others are shifted.
func TestTracedProcessSkipped(t *testing.T) {
	bin := needProg(t, "glibc-dynamic")
	c := newContainer(t)
	traced := launch(t, c.CgroupDir, "traced", bin)
	free := launch(t, c.CgroupDir, "free", bin)
	self, _ := os.Executable()
	tr := exec.Command(self)
	tr.Env = append(os.Environ(), "KC_TIMEFAULT_TRACE="+strconv.Itoa(traced.pid))
	stdin, _ := tr.StdinPipe()
	out, _ := tr.StdoutPipe()
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); tr.Wait() }()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "traced\n" {
		t.Fatalf("tracer helper: %q", line)
	}
	a := inject(t, c, newJournal(t, c), plan.TimeShift{Offset: plan.Duration(-time.Hour)})
	notes := strings.Join(a.notesSeen(), "\n")
	want := "pid " + strconv.Itoa(traced.pid) + " (glibc-dynamic): skipped: already traced by pid " + strconv.Itoa(tr.Process.Pid)
	if !strings.Contains(notes, want) {
		t.Fatalf("notes:\n%s\nwant a line %q", notes, want)
	}
	boot, _ := hostClocks(t)
	if sh := measure(t, free.next(t, boot)); !near(sh.real, -3600, 1) {
		t.Errorf("untraced process: realtime %+.3fs, want -3600s", sh.real)
	}
	stdin.Close() // the other tracer goes away; the traced process runs on
	tr.Wait()
	boot, _ = hostClocks(t)
	if sh := measure(t, traced.next(t, boot)); !near(sh.real, 0, 1) {
		t.Errorf("traced process: realtime %+.3fs, want untouched", sh.real)
	}
	recoverAll(t, a)
}

// TestSeccompProcessSkipped: a process whose seccomp filter kills the clock_gettime
// syscall (which the stub would make) is skipped, and lives.
func TestSeccompProcessSkipped(t *testing.T) {
	bin := needProg(t, "glibc-dynamic")
	c := newContainer(t)
	p := launch(t, c.CgroupDir, "seccomp", bin, "-k")
	a := inject(t, c, newJournal(t, c), plan.TimeShift{Offset: plan.Duration(-time.Hour)})
	notes := strings.Join(a.notesSeen(), "\n")
	if !strings.Contains(notes, "pid "+strconv.Itoa(p.pid)+" (glibc-dynamic): skipped: seccomp filter") || !strings.Contains(notes, "KILL_PROCESS") {
		t.Fatalf("notes:\n%s\nwant pid %d skipped for its seccomp filter (KILL_PROCESS)", notes, p.pid)
	}
	boot, _ := hostClocks(t)
	if sh := measure(t, p.next(t, boot)); !near(sh.real, 0, 1) {
		t.Errorf("filtered process: realtime %+.3fs, want untouched", sh.real)
	}
	recoverAll(t, a)
	if !p.alive() {
		t.Fatal("the filtered process died")
	}
	t.Logf("skipped: %s", notes)
}

// TestRescanPatchesNewProcess: a process started during the fault is shifted by the
// next rescan, and reported.
func TestRescanPatchesNewProcess(t *testing.T) {
	bin := needProg(t, "glibc-static")
	c := newContainer(t)
	a := inject(t, c, newJournal(t, c), plan.TimeShift{Offset: plan.Duration(5 * time.Minute), Rescan: plan.Duration(200 * time.Millisecond)})
	var mu sync.Mutex
	var reports []string
	a.SetReport(func(s string) { mu.Lock(); reports = append(reports, s); mu.Unlock() })
	started := time.Now()
	p := launch(t, c.CgroupDir, "late", bin)
	var sh shifts
	for time.Since(started) < 10*time.Second {
		boot, _ := hostClocks(t)
		if sh = measure(t, p.next(t, boot)); near(sh.real, 300, 1) {
			break
		}
	}
	if !near(sh.real, 300, 1) {
		t.Fatalf("process started during the fault: realtime %+.3fs after 10s, want +300s", sh.real)
	}
	t.Logf("started during the fault: shifted %+.3fs within %s (rescan 200ms)", sh.real, time.Since(started).Round(time.Millisecond))
	mu.Lock()
	got := strings.Join(reports, "; ")
	mu.Unlock()
	if !strings.Contains(got, "pid "+strconv.Itoa(p.pid)+" (glibc-static): shifted") {
		t.Errorf("rescan reports %q, want pid %d", got, p.pid)
	}
	recoverAll(t, a)
	boot, _ := hostClocks(t)
	if sh := measure(t, p.next(t, boot)); !near(sh.real, 0, 1) {
		t.Errorf("after recovery: realtime %+.3fs", sh.real)
	}
}

// TestContainerEndReported: when no process of the container is left (it restarted:
// a new container with another ID; or it was removed), the next rescan says the shift
// ended on this target, once; recovery then has nothing to restore.
func TestContainerEndReported(t *testing.T) {
	bin := needProg(t, "glibc-static")
	c := newContainer(t)
	p := launch(t, c.CgroupDir, "main", bin)
	a := inject(t, c, newJournal(t, c), plan.TimeShift{Offset: plan.Duration(time.Hour), Rescan: plan.Duration(100 * time.Millisecond)})
	reports := make(chan string, 8)
	a.SetReport(func(s string) { reports <- s })
	// Every process of the stand-in container dies, as in a restart: the program and
	// the container's own sleep (our child: reaped here, a zombie still lists its cgroup).
	p.kill()
	killed := time.Now()
	if err := syscall.Kill(c.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(c.PID, &ws, 0, nil)
	for {
		select {
		case r := <-reports:
			if !strings.Contains(r, "is left (it restarted or was removed): the time shift ended") {
				continue
			}
			t.Logf("reported %v after the kill: %s", time.Since(killed).Round(time.Millisecond), r)
			time.Sleep(300 * time.Millisecond) // three more rescans: said once
			if n := len(reports); n != 0 {
				t.Errorf("%d more reports after the end was said: %s", n, <-reports)
			}
			recoverAll(t, a)
			return
		case <-time.After(5 * time.Second):
			t.Fatal("no report 5s after the container's only process was killed")
		}
	}
}

// TestJournalRecovery: with the agent gone (no Recover), the journal alone restores
// every patched process and the forked child that inherited a patch; a journal
// record whose start time does not match (a reused PID) touches nothing.
func TestJournalRecovery(t *testing.T) {
	bin := needProg(t, "glibc-dynamic")
	c := newContainer(t)
	p := launch(t, c.CgroupDir, "glibc-dynamic", bin)
	j := newJournal(t, c)
	a := inject(t, c, j, plan.TimeShift{Offset: plan.Duration(-time.Hour), Rescan: plan.Duration(time.Second)})
	syscall.Kill(p.pid, syscall.SIGUSR1)
	child := waitChild(t, p)
	defer syscall.Kill(child, syscall.SIGKILL)
	a.halt() // the agent dies: nothing restores but the journal

	// A record of a live patched process with another start time: a reused PID. (The
	// container ID is dropped: with it, the record would also restore, by their bytes,
	// the children that inherited the patch.)
	var rec patchRecord
	for _, r := range a.records() {
		if r.PID == p.pid {
			rec = *r
		}
	}
	rec.Start++
	rec.ContainerID = ""
	if err := journal.RecoverEntry(context.Background(), entryOf(&rec)); err != nil {
		t.Fatal(err)
	}
	boot, _ := hostClocks(t)
	for _, pid := range []int{p.pid, child} {
		if sh := measure(t, p.next(t, boot, pid)); !near(sh.real, -3600, 1) {
			t.Fatalf("a record with another start time changed pid %d: realtime %+.3fs, want still -3600s", pid, sh.real)
		}
	}

	start := time.Now()
	removed, err := journal.Recover(context.Background(), j.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("journal recovery: %d entr(ies) in %s", len(removed), time.Since(start).Round(time.Microsecond))
	boot, _ = hostClocks(t)
	for _, pid := range []int{p.pid, child} {
		if sh := measure(t, p.next(t, boot, pid)); !near(sh.real, 0, 1) {
			t.Errorf("pid %d after journal recovery: realtime %+.3fs from the host", pid, sh.real)
		}
	}
	if _, err := os.Stat(j.Path()); !os.IsNotExist(err) {
		t.Errorf("journal still there: %v", err)
	}
}

// TestExitedProcess: a process that exits during the fault is simply skipped.
func TestExitedProcess(t *testing.T) {
	bin := needProg(t, "glibc-dynamic")
	c := newContainer(t)
	p := launch(t, c.CgroupDir, "short", bin)
	a := inject(t, c, newJournal(t, c), plan.TimeShift{Offset: plan.Duration(time.Hour)})
	p.kill()
	for p.alive() {
		time.Sleep(10 * time.Millisecond)
	}
	objs := recoverAll(t, a)
	for _, o := range objs {
		if strings.HasPrefix(o.Spec, "pid "+strconv.Itoa(p.pid)+" ") && !strings.Contains(o.Spec, "exited") {
			t.Errorf("exited process reported as %q", o.Spec)
		}
	}
}

// TestCyclesUnderLoad: 100 patch/restore cycles while threads spin in the clock
// functions; every program keeps running, is shifted while patched and agrees with
// the host after. Logs the stop time per patch and per restore.
func TestCyclesUnderLoad(t *testing.T) {
	bins := buildProgs(t)
	c := newContainer(t)
	var ps []*prog
	for name, bin := range bins {
		args := []string{"-t", "2"}
		if name == "glibc-dynamic" {
			args = append(args, "-s") // spins: always inside a clock function
		}
		ps = append(ps, launch(t, c.CgroupDir, name, bin, args...))
	}
	var patchStops, restoreStops []time.Duration
	stopOf := regexp.MustCompile(`stopped ([0-9.]+[µm]?s)\)`)
	for i := 1; i <= 100; i++ {
		off := time.Duration(i%7+1) * time.Minute
		if i%2 == 0 {
			off = -off
		}
		a := inject(t, c, &memRecorder{}, plan.TimeShift{Offset: plan.Duration(off)})
		for _, n := range a.notesSeen() {
			if m := stopOf.FindStringSubmatch(n); m != nil {
				d, _ := time.ParseDuration(m[1])
				patchStops = append(patchStops, d)
			}
		}
		if i == 1 || i%25 == 0 || i%25 == 1 {
			boot, _ := hostClocks(t)
			for _, p := range ps {
				if sh := checkReal(t, p, p.next(t, boot), off.Seconds()); !near(sh.real, off.Seconds(), 1) {
					dumpPatch(t, a, p)
				}
			}
		}
		objs, err := a.Recover(context.Background())
		if err != nil {
			t.Fatalf("cycle %d: recover: %v", i, err)
		}
		for _, o := range objs {
			if m := stopOf.FindStringSubmatch(o.Spec); m != nil {
				d, _ := time.ParseDuration(m[1])
				restoreStops = append(restoreStops, d)
			}
		}
		for _, p := range ps {
			if !p.alive() {
				t.Fatalf("cycle %d: %s (pid %d) died", i, p.name, p.pid)
			}
		}
	}
	boot, _ := hostClocks(t)
	for _, p := range ps {
		checkReal(t, p, p.next(t, boot), 0)
	}
	t.Logf("100 cycles, %d programs alive; stop per patch %s; per restore %s", len(ps), stats(patchStops), stats(restoreStops))
}

func stats(ds []time.Duration) string {
	if len(ds) == 0 {
		return "(none)"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(f float64) time.Duration { return ds[int(f*float64(len(ds)-1))].Round(time.Microsecond) }
	return "min " + q(0).String() + " p50 " + q(0.5).String() + " p90 " + q(0.9).String() + " max " + q(1).String() + " (n=" + strconv.Itoa(len(ds)) + ")"
}

// memRecorder keeps journal entries in memory (the cycles test measures the patches,
// not the journal's fsyncs).
type memRecorder struct {
	mu      sync.Mutex
	entries []journal.Entry
}

func (r *memRecorder) Record(e journal.Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
	return nil
}

// TestSubSecondOffset: the nanosecond (and microsecond) parts carry into the seconds
// both ways; clock_gettime and gettimeofday are exact to the microsecond.
func TestSubSecondOffset(t *testing.T) {
	bins := buildProgs(t)
	c := newContainer(t)
	var ps []*prog
	for _, name := range []string{"go", "glibc-dynamic"} {
		if bin, ok := bins[name]; ok {
			ps = append(ps, launch(t, c.CgroupDir, name, bin))
		}
	}
	for _, off := range []time.Duration{1700 * time.Millisecond, -300 * time.Millisecond} {
		a := inject(t, c, &memRecorder{}, plan.TimeShift{Offset: plan.Duration(off)})
		boot, _ := hostClocks(t)
		for _, p := range ps {
			sh := measure(t, p.next(t, boot))
			if !near(sh.real, off.Seconds(), 0.005) || !near(sh.gtod, off.Seconds(), 0.005) || !near(sh.time, off.Seconds(), 1.5) {
				t.Errorf("%s: asked %+.3fs, seen realtime %+.6fs, gettimeofday %+.6fs, time() %+.3fs", p.name, off.Seconds(), sh.real, sh.gtod, sh.time)
			}
		}
		recoverAll(t, a)
	}
}

// TestStoppedProcess: a process stopped by SIGSTOP is patched and restored without
// being woken (it prints nothing until continued: a detached tracee in group-stop goes
// back to it, briefly running in the kernel), and sees the shift once continued.
func TestStoppedProcess(t *testing.T) {
	bin := needProg(t, "glibc-dynamic")
	c := newContainer(t)
	p := launch(t, c.CgroupDir, "stopped", bin)
	defer syscall.Kill(p.pid, syscall.SIGCONT)
	stopAndHold := func(what string, fn func()) {
		t.Helper()
		syscall.Kill(p.pid, syscall.SIGSTOP)
		waitState(t, p.pid, 'T')
		before := outSize(t, p)
		fn()
		waitState(t, p.pid, 'T')
		time.Sleep(300 * time.Millisecond) // six of its 50 ms lines, were it running
		if st, _ := statOf(p.pid); st.state != 'T' || outSize(t, p) != before {
			t.Fatalf("%s woke the stopped process (state %c, %d bytes printed)", what, st.state, outSize(t, p)-before)
		}
		syscall.Kill(p.pid, syscall.SIGCONT)
	}
	var a *active
	stopAndHold("the patch", func() {
		a = inject(t, c, &memRecorder{}, plan.TimeShift{Offset: plan.Duration(-time.Hour)})
	})
	boot, _ := hostClocks(t)
	if sh := measure(t, p.next(t, boot)); !near(sh.real, -3600, 1) {
		t.Errorf("continued process: realtime %+.3fs, want -3600s", sh.real)
	}
	stopAndHold("the restore", func() { recoverAll(t, a) })
	boot, _ = hostClocks(t)
	if sh := measure(t, p.next(t, boot)); !near(sh.real, 0, 1) {
		t.Errorf("after recovery: realtime %+.3fs", sh.real)
	}
}

// waitState waits (10 s at most: a loaded node schedules late) for pid's state.
func waitState(t *testing.T, pid int, want byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := statOf(pid)
		if err == nil && st.state == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: state %c after 10s, want %c (%v)", pid, st.state, want, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func outSize(t *testing.T, p *prog) int64 {
	t.Helper()
	fi, err := os.Stat(p.out)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
