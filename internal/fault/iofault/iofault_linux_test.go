package iofault

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

const mib = 1 << 20

var testTarget = plan.Target{Namespace: "test", Pod: "io", Container: "c"}

// residue runs ../shared/tools/residue and keeps the lines this package's tests could
// leave: FUSE mounts, our mount source, the test directories.
func residue(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("/work/shared/tools/residue").Output()
	if err != nil {
		t.Logf("residue: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "fuse") || strings.Contains(l, "kubectl-chaos-io") || strings.Contains(l, "kc-io-test") {
			lines = append(lines, l)
		}
	}
	return lines
}

// injected is an applied fault with its journal.
type injected struct {
	a *Active
	j *journal.Journal
}

// inject applies s to the stand-in container, journaling in a fresh directory.
func inject(t *testing.T, w *wl, s plan.IO) *injected {
	t.Helper()
	j, err := journal.Create(t.TempDir(), journal.Meta{Experiment: "io-test", Deadline: time.Now().Add(time.Hour)}, testTarget)
	if err != nil {
		t.Fatal(err)
	}
	inj, err := fault.New(plan.Fault{Kind: plan.KindIO, IO: &s})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a, err := inj.Apply(context.Background(), fault.Target{Target: testTarget, PID: w.pid, Experiment: "io-test"}, j)
	if err != nil {
		t.Fatalf("apply %s: %v", s.Summary(), err)
	}
	t.Logf("applied %s in %v", s.Summary(), time.Since(start).Round(time.Microsecond))
	for _, n := range a.(fault.Notes).Notes() {
		t.Logf("  note: %s", n)
	}
	in := &injected{a: a.(*Active), j: j}
	t.Cleanup(func() { in.recover(t) })
	return in
}

// recover removes the fault and checks that nothing of it is left in the container.
func (in *injected) recover(t *testing.T) []plan.Object {
	t.Helper()
	if in.a.done {
		return nil
	}
	start := time.Now()
	objs, err := in.a.Recover(context.Background())
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	t.Logf("recovered in %v", time.Since(start).Round(time.Microsecond))
	for _, o := range objs {
		t.Logf("  %s: %s (%s)", o.Kind, o.Spec, o.Remove)
	}
	if err := in.j.Done(); err != nil {
		t.Fatal(err)
	}
	return objs
}

func latency(d time.Duration, methods ...string) plan.IO {
	return plan.IO{Methods: methods, Percent: 100, Latency: &plan.IOLatency{Delay: plan.Duration(d)}}
}

// A reader measures the added latency through a descriptor it opened before the
// fault and through new opens; calls not asked stay fast; after recovery the latency is
// the baseline again and nothing is left.
func TestLatency(t *testing.T) {
	w := startWorkload(t, false)
	before := residue(t)
	const delay = 50 * time.Millisecond
	w.must(wcmd{Op: "fill", Path: w.path("data.bin"), N: mib})
	rfd := w.must(wcmd{Op: "open", Path: w.path("data.bin"), Flags: unix.O_RDONLY}).FD
	wfd := w.must(wcmd{Op: "open", Path: w.path("out.bin"), Flags: unix.O_WRONLY | unix.O_CREAT}).FD
	read := wcmd{Op: "pread", FD: rfd, N: 150, Size: 4096, Flags: mib}
	base := w.must(read)
	baseW := w.must(wcmd{Op: "pwrite", FD: wfd, N: 100, Size: 4096})

	s := latency(delay, "read")
	s.Path = w.dir
	in := inject(t, w, s)
	if m := w.fuseMounts(); len(m) != 1 || !strings.Contains(m[0], FSType) {
		t.Fatalf("the container's mount table has %q, want our mount", m)
	}
	read.N = 120
	late := sleepLateness(delay)
	during := w.must(read)
	duringW := w.must(wcmd{Op: "pwrite", FD: wfd, N: 100, Size: 4096})
	fresh := w.must(wcmd{Op: "open", Path: w.path("data.bin"), Flags: unix.O_RDONLY}).FD
	freshR := w.must(wcmd{Op: "pread", FD: fresh, N: 100, Size: 4096, Flags: mib})
	w.must(wcmd{Op: "close", FD: fresh})
	slack := late()

	added := median(during.Lat) - median(base.Lat)
	addedFresh := median(freshR.Lat) - median(base.Lat)
	t.Logf("read median: baseline %v, during %v (pre-opened descriptor, n=%d), %v (new open, n=%d): added %v / %v for --delay %v",
		median(base.Lat), median(during.Lat), len(during.Lat), median(freshR.Lat), len(freshR.Lat), added, addedFresh, delay)
	t.Logf("write median (not in --methods): baseline %v, during %v", median(baseW.Lat), median(duringW.Lat))
	t.Logf("a plain %v sleep in the server's process woke %v late (median, sampled meanwhile)", delay, slack)
	for name, got := range map[string]time.Duration{"pre-opened": added, "new open": addedFresh} {
		if got < delay*9/10 || got > delay*11/10+slack {
			t.Errorf("%s descriptor: added read latency %v, want %v ± 10%% (+ %v the scheduler adds to any sleep now)", name, got, delay, slack)
		}
	}
	if errCount(during)+errCount(freshR)+errCount(duringW) > 0 {
		t.Errorf("errors during a latency fault: %v %v %v", during.Errs, freshR.Errs, duringW.Errs)
	}
	if m := median(duringW.Lat); m > delay/5 {
		t.Errorf("writes (not in --methods read) took %v (median), want no added latency", m)
	}

	in.recover(t)
	read.N = 150
	after := w.must(read)
	t.Logf("read median after recovery: %v (baseline %v)", median(after.Lat), median(base.Lat))
	if m := median(after.Lat); m > median(base.Lat)+time.Millisecond {
		t.Errorf("read latency after recovery %v, baseline %v", m, median(base.Lat))
	}
	if m := w.fuseMounts(); len(m) != 0 {
		t.Errorf("FUSE mounts left in the container: %q", m)
	}
	if got := residue(t); !slices.Equal(got, before) {
		t.Errorf("residue differs\nbefore: %q\nafter:  %q", before, got)
	}
}

// sleepLateness samples, until the returned function is called, how late a plain
// sleep of d wakes up in this process (the FUSE server's): on this shared, loaded 2-core
// machine the scheduler adds milliseconds to every sleep that no fault asked for. The
// function returns the median lateness.
func sleepLateness(d time.Duration) func() time.Duration {
	stop := make(chan struct{})
	res := make(chan time.Duration)
	go func() {
		var late []int64
		for {
			select {
			case <-stop:
				res <- median(late)
				return
			default:
			}
			t := time.Now()
			time.Sleep(d)
			late = append(late, int64(time.Since(t)-d))
		}
	}()
	return func() time.Duration { close(stop); return <-res }
}

func runAgent() int { return 0 }

var _ = os.Getpid
