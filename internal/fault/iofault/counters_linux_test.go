package iofault

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func ioCounters(t *testing.T, a fault.Active) (calls, faulted uint64) {
	t.Helper()
	cs, err := a.(fault.Counting).ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		switch c.Name {
		case "io calls":
			calls = c.Value
			if !c.Traffic {
				t.Error("io calls is not a traffic counter")
			}
		case "io faulted":
			faulted = c.Value
		}
	}
	return calls, faulted
}

// TestCountersMoveWithCalls: the counters the live view shows stay 0 while the
// container is idle and while it makes calls the fault does not select (writes, with
// --methods open,read); they count every open and read it makes under the path, and
// exactly as many calls faulted as the workload saw EIO.
func TestCountersMoveWithCalls(t *testing.T) {
	w := startWorkload(t, false)
	data := w.path("data.bin")
	w.must(wcmd{Op: "fill", Path: data, N: mib})
	rfd := w.must(wcmd{Op: "open", Path: data, Flags: unix.O_RDONLY}).FD
	wfd := w.must(wcmd{Op: "open", Path: w.path("out.bin"), Flags: unix.O_WRONLY | unix.O_CREAT}).FD
	in := inject(t, w, plan.IO{Path: w.dir, Methods: []string{"open", "read"}, Percent: 25, Fault: &plan.IOFault{Errno: "EIO"}})
	time.Sleep(500 * time.Millisecond)
	if c, f := ioCounters(t, in.a); c != 0 || f != 0 {
		t.Errorf("idle: io calls %d, faulted %d; want 0", c, f)
	}
	if r := w.must(wcmd{Op: "pwrite", FD: wfd, N: 200, Size: 4096}); errCount(r) != 0 {
		t.Errorf("writes (not selected) failed: %v", r.Errs)
	}
	if c, f := ioCounters(t, in.a); c != 0 || f != 0 {
		t.Errorf("after 200 writes the fault does not select: io calls %d, faulted %d; want 0", c, f)
	}
	const opens, reads = 300, 1000
	o := w.must(wcmd{Op: "openclose", Path: data, N: opens})
	r := w.must(wcmd{Op: "pread", FD: rfd, N: reads, Size: 4096, Flags: mib})
	calls, faulted := ioCounters(t, in.a)
	seenErr := uint64(o.Errs["EIO"] + r.Errs["EIO"])
	t.Logf("%d opens (%d EIO), %d reads (%d EIO); counters: io calls %d, faulted %d (direct IO %v)",
		opens, o.Errs["EIO"], reads, r.Errs["EIO"], calls, faulted, in.a.f.directIO)
	if faulted != seenErr {
		t.Errorf("io faulted %d, the workload saw %d EIO", faulted, seenErr)
	}
	if calls != opens+reads {
		t.Errorf("io calls %d, the workload made %d opens and %d reads", calls, opens, reads)
	}
	if pct := 100 * float64(faulted) / float64(calls); pct < 20 || pct > 30 {
		t.Errorf("%.1f%% of the calls faulted, asked 25", pct)
	}
}
