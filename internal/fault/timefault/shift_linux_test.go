package timefault

import (
	"context"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// traceAndWait seizes pid and holds it until stdin closes (another tracer).
func traceAndWait(pid string) {
	n, _ := strconv.Atoi(pid)
	// Seize from a thread other than the main one, as a debugger's tracer thread may
	// be: the target's TracerPid is then a thread ID, and the report must name the
	// process.
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // the tracer thread; never unlocked, it lives until exit
		ready <- unix.PtraceSeize(n)
		select {}
	}()
	if err := <-ready; err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("traced\n")
	io.Copy(io.Discard, os.Stdin)
}

// faultTarget is the fault's view of the stand-in container.
func faultTarget(c *nstest.Container) fault.Target {
	return fault.Target{Target: plan.Target{Namespace: "default", Pod: "tf-" + c.ID[:6], Container: "app",
		ContainerID: c.ContainerID(), Node: "test-node"}, PID: c.PID}
}

// newJournal is a real journal for the container, in a temporary directory.
func newJournal(t testing.TB, c *nstest.Container) *journal.Journal {
	t.Helper()
	ft := faultTarget(c)
	j, err := journal.Create(t.TempDir(), journal.Meta{Experiment: "timefault-" + c.ID[:6], Deadline: time.Now().Add(time.Hour)}, ft.Target)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func inject(t testing.TB, c *nstest.Container, j fault.Recorder, spec plan.TimeShift) *active {
	t.Helper()
	inj, err := fault.New(plan.Fault{Kind: plan.KindTime, Time: &spec})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a, err := inj.Apply(context.Background(), faultTarget(c), j)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	act := a.(*active)
	t.Logf("applied in %s: %s", time.Since(start).Round(time.Microsecond), strings.Join(act.Notes(), "; "))
	t.Cleanup(func() { act.Recover(context.Background()) })
	return act
}

func recoverAll(t testing.TB, a *active) []plan.Object {
	t.Helper()
	start := time.Now()
	objs, err := a.Recover(context.Background())
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	t.Logf("recovered %d process(es) in %s", len(objs), time.Since(start).Round(time.Microsecond))
	return objs
}

// TestShiftAndRestore: Go, glibc (dynamic, static) and musl programs see CLOCK_REALTIME
// (clock_gettime, gettimeofday, time) shifted by the offset, CLOCK_MONOTONIC and the raw
// syscall untouched; after recovery every clock agrees with the host again.
func TestShiftAndRestore(t *testing.T) {
	bins := buildProgs(t)
	c := newContainer(t)
	var ps []*prog
	for name, bin := range bins {
		ps = append(ps, launch(t, c.CgroupDir, name, bin))
	}
	const offset = -10 * time.Minute
	want := offset.Seconds()
	// Baseline, same run: every clock agrees with the host.
	for _, p := range ps {
		checkReal(t, p, p.next(t, 0), 0)
	}
	j := newJournal(t, c)
	a := inject(t, c, j, plan.TimeShift{Offset: plan.Duration(offset)})
	boot, _ := hostClocks(t)
	for _, p := range ps {
		s := p.next(t, boot)
		sh := checkReal(t, p, s, want)
		if sh.hasMono && !near(sh.mono, 0, 1) {
			t.Errorf("%s: CLOCK_MONOTONIC moved by %.3fs, want untouched", p.name, sh.mono)
		}
		if !near(sh.raw, 0, 1) {
			t.Errorf("%s: the raw clock_gettime syscall moved by %.3fs: nothing should reach it", p.name, sh.raw)
		}
		t.Logf("%s (pid %d): asked %+.0fs, seen realtime %+.6fs, gettimeofday %+.6fs, time() %+.3fs, monotonic %+.6fs, raw syscall %+.6fs",
			p.name, p.pid, want, sh.real, sh.gtod, sh.time, sh.mono, sh.raw)
	}
	// The journal holds every patched process before any byte changed.
	ents := j.Entries()
	if len(ents) < len(ps) {
		t.Fatalf("journal has %d entries, want one per patched process (%d+)", len(ents), len(ps))
	}
	recoverAll(t, a)
	boot, _ = hostClocks(t)
	for _, p := range ps {
		checkReal(t, p, p.next(t, boot), 0)
		if !p.alive() {
			t.Errorf("%s died", p.name)
		}
	}
}

// checkReal checks that the wall clock seen through the vDSO is shifted by want (s).
func checkReal(t testing.TB, p *prog, s sample, want float64) shifts {
	t.Helper()
	sh := measure(t, s)
	if !near(sh.real, want, 1) || !near(sh.gtod, want, 1) || !near(sh.time, want, 1.5) {
		t.Errorf("%s (pid %d): realtime %+.3fs, gettimeofday %+.3fs, time() %+.3fs from the host, want %+.0fs",
			p.name, p.pid, sh.real, sh.gtod, sh.time, want)
	}
	return sh
}
