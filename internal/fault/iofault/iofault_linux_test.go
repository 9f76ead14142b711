package iofault

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
func residue(t testing.TB) []string {
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
func inject(t testing.TB, w *wl, s plan.IO) *injected {
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
func (in *injected) recover(t testing.TB) []plan.Object {
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

// A reader measures the added latency through a descriptor it opened before the fault
// and through a new one. Half the reads are delayed (--percent 50), so the other half are
// the baseline taken in the same moment through the same mount: added = median(delayed)
// - median(not delayed). Calls not asked stay fast; after recovery the latency is the
// bare directory's again and nothing is left.
func TestLatency(t *testing.T) {
	w := startWorkload(t, false)
	before := residue(t)
	const delay = 50 * time.Millisecond
	w.must(wcmd{Op: "fill", Path: w.path("data.bin"), N: mib})
	rfd := w.must(wcmd{Op: "open", Path: w.path("data.bin"), Flags: unix.O_RDONLY}).FD
	wfd := w.must(wcmd{Op: "open", Path: w.path("out.bin"), Flags: unix.O_WRONLY | unix.O_CREAT}).FD
	read := wcmd{Op: "pread", FD: rfd, N: 200, Size: 4096, Flags: mib}
	base := w.must(read)
	baseW := w.must(wcmd{Op: "pwrite", FD: wfd, N: 100, Size: 4096})

	s := latency(delay, "read")
	s.Path, s.Percent = w.dir, 50
	in := inject(t, w, s)
	if m := w.fuseMounts(); len(m) != 1 || !strings.Contains(m[0], FSType) {
		t.Fatalf("the container's mount table has %q, want our mount", m)
	}
	measure := func(name string, fd int) {
		late := sleepLateness(delay)
		r := w.must(wcmd{Op: "pread", FD: fd, N: 280, Size: 4096, Flags: mib})
		slack := late()
		var fast, slow []int64
		for _, l := range r.Lat {
			if time.Duration(l) < delay/2 {
				fast = append(fast, l)
			} else {
				slow = append(slow, l)
			}
		}
		added := median(slow) - median(fast)
		share := 100 * float64(len(slow)) / float64(len(r.Lat))
		t.Logf("%s descriptor: %d reads, %.1f%% delayed; median %v delayed vs %v not (through the mount, same moment): added %v for --delay %v; "+
			"a plain %v sleep in the server's process woke %v late meanwhile", name, len(r.Lat), share, median(slow), median(fast), added, delay, delay, slack)
		if len(slow) < 100 || added < delay*9/10 || added > delay*11/10+slack {
			t.Errorf("%s descriptor: added read latency %v over %d delayed reads, want ≥100 reads and %v ± 10%% (+ %v the scheduler adds to any sleep now)",
				name, added, len(slow), delay, slack)
		}
		if share < 35 || share > 65 || errCount(r) > 0 {
			t.Errorf("%s descriptor: %.1f%% of reads delayed (want 50 ± 15), errors %v", name, share, r.Errs)
		}
	}
	measure("pre-opened", rfd)
	fresh := w.must(wcmd{Op: "open", Path: w.path("data.bin"), Flags: unix.O_RDONLY}).FD
	measure("new", fresh)
	w.must(wcmd{Op: "close", FD: fresh})
	duringW := w.must(wcmd{Op: "pwrite", FD: wfd, N: 100, Size: 4096})
	t.Logf("write median (not in --methods): baseline %v, during %v", median(baseW.Lat), median(duringW.Lat))
	if m := median(duringW.Lat); m > delay/5 || errCount(duringW) > 0 {
		t.Errorf("writes (not in --methods read) took %v (median), errors %v: want no fault", m, duringW.Errs)
	}

	in.recover(t)
	after := w.must(read)
	t.Logf("read median after recovery: %v (bare directory before the fault: %v)", median(after.Lat), median(base.Lat))
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

// rate is the percentage of n calls that failed with errno (and the other errors seen).
func rate(t *testing.T, r wres, errno string) float64 {
	t.Helper()
	for k, v := range r.Errs {
		if k != errno && v > 0 {
			t.Errorf("%d calls failed with %s, only %s was asked", v, k, errno)
		}
	}
	total := r.N + errCount(r)
	return 100 * float64(r.Errs[errno]) / float64(total)
}

// Errors at the asked rate on new opens and on reads through a descriptor opened before
// the fault (its offset kept); a locked and a deleted file are not moved and say why; a
// writer appending all along through a pre-opened descriptor loses nothing.
func TestErrno(t *testing.T) {
	w := startWorkload(t, false)
	before := residue(t)
	const pct = 20.0
	data := w.path("data.bin")
	w.must(wcmd{Op: "fill", Path: data, N: mib})
	w.must(wcmd{Op: "fill", Path: w.path("locked.bin"), N: 64 << 10})
	rfd := w.must(wcmd{Op: "open", Path: data, Flags: unix.O_RDONLY}).FD
	if n := w.must(wcmd{Op: "read", FD: rfd, Size: 100}).N; n != 100 {
		t.Fatalf("read %d bytes", n)
	}
	lfd := w.must(wcmd{Op: "open", Path: w.path("locked.bin"), Flags: unix.O_RDWR}).FD
	w.must(wcmd{Op: "flock", FD: lfd})
	dfd := w.must(wcmd{Op: "open", Path: w.path("gone.bin"), Flags: unix.O_RDWR | unix.O_CREAT}).FD
	w.must(wcmd{Op: "unlink", Path: w.path("gone.bin")})
	sfd := w.must(wcmd{Op: "open", Path: w.path("locked.bin"), Flags: unix.O_RDONLY}).FD
	w.must(wcmd{Op: "spawn", FD: sfd}) // a child shares this open file
	logfd := w.must(wcmd{Op: "open", Path: w.path("app.log"), Flags: unix.O_WRONLY | unix.O_CREAT | unix.O_APPEND}).FD
	w.must(wcmd{Op: "bgstart", FD: logfd})
	if r := w.must(wcmd{Op: "openclose", Path: data, N: 300}); errCount(r) > 0 {
		t.Fatalf("errors before the fault: %v", r.Errs)
	}

	in := inject(t, w, plan.IO{Path: w.dir, Methods: []string{"open", "read"}, Percent: pct, Fault: &plan.IOFault{Errno: "EIO"}})
	notes := strings.Join(in.a.Notes(), "\n")
	for _, want := range []string{"fd " + itoa(rfd) + " " + data + ": moved onto the fault mount at offset 100",
		"fd " + itoa(lfd) + " " + w.path("locked.bin") + ": not moved: it holds a lock",
		"fd " + itoa(dfd) + " " + w.path("gone.bin") + " (deleted): not moved: its file was deleted",
		"fd " + itoa(sfd) + " " + w.path("locked.bin") + ": not moved: its open file is shared with pid",
		"fd " + itoa(logfd) + " " + w.path("app.log") + ": moved onto the fault mount"} {
		if !strings.Contains(notes, want) {
			t.Errorf("the injection report does not say %q:\n%s", want, notes)
		}
	}
	if pos := w.must(wcmd{Op: "seek", FD: rfd}).Pos; pos != 100 {
		t.Errorf("offset of the moved descriptor %d, want 100", pos)
	}
	opens := w.must(wcmd{Op: "openclose", Path: data, N: 4000})
	reads := w.must(wcmd{Op: "pread", FD: rfd, N: 4000, Size: 4096, Flags: mib})
	locked := w.must(wcmd{Op: "pread", FD: lfd, N: 300, Size: 4096, Flags: 64 << 10})
	ro, rr := rate(t, opens, "EIO"), rate(t, reads, "EIO")
	t.Logf("EIO asked on %g%% of open and read: new opens %.2f%% of %d, reads through the pre-opened descriptor %.2f%% of %d; "+
		"the locked (not moved) descriptor %d errors in %d reads", pct, ro, len(opens.Lat), rr, len(reads.Lat), errCount(locked), len(locked.Lat))
	for name, got := range map[string]float64{"open": ro, "read": rr} {
		if got < pct-3 || got > pct+3 {
			t.Errorf("%s: %.2f%% EIO, want %g%% ± 3", name, got, pct)
		}
	}
	if errCount(locked) != 0 {
		t.Errorf("the locked descriptor was not moved, yet saw errors: %v", locked.Errs)
	}
	// A child started during the fault shares the moved descriptor: both are moved back.
	w.must(wcmd{Op: "spawn", FD: rfd})

	objs := in.recover(t)
	if got := objs[1].Spec; !strings.Contains(got, "3 moved back") || !strings.Contains(got, "0 left") || !strings.Contains(got, "each now has its own offset") {
		t.Errorf("recovery report %q: want the 2 moved descriptors and the child's copy moved back, none left", got)
	}
	if r := w.must(wcmd{Op: "openclose", Path: data, N: 1000}); errCount(r) != 0 {
		t.Errorf("opens after recovery: %v", r.Errs)
	}
	if r := w.must(wcmd{Op: "pread", FD: rfd, N: 1000, Size: 4096, Flags: mib}); errCount(r) != 0 || r.Bad != 0 {
		t.Errorf("reads after recovery through the descriptor: errors %v, %d wrong", r.Errs, r.Bad)
	}
	if pos := w.must(wcmd{Op: "seek", FD: rfd}).Pos; pos != 100 {
		t.Errorf("offset after moving back %d, want 100", pos)
	}
	bg := w.must(wcmd{Op: "bgstop"})
	checkRecords(t, w.hostPath("app.log"), bg.N)
	if bg.Errs["failed"] != 0 {
		t.Errorf("the background writer (write not in --methods) failed %d times", bg.Errs["failed"])
	}
	if m := w.fuseMounts(); len(m) != 0 {
		t.Errorf("FUSE mounts left in the container: %q", m)
	}
	if got := residue(t); !slices.Equal(got, before) {
		t.Errorf("residue differs\nbefore: %q\nafter:  %q", before, got)
	}
}

// checkRecords checks that the file holds exactly records 0..n-1, in order.
func checkRecords(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for i := range n {
		want = append(want, record(i)...)
	}
	if !slices.Equal(b, want) {
		t.Errorf("%s: %d bytes, want the %d records written (%d bytes) before, during and after the fault", path, len(b), n, len(want))
		return
	}
	t.Logf("all %d records (%d bytes) the workload appended through its pre-opened descriptor are in the file", n, len(b))
}

func itoa(n int) string { return strconv.Itoa(n) }

// Wrong data: the reader sees the asked share of reads with 1..--max-bytes wrong bytes
// (the file itself unchanged); a writer's asked share of blocks reaches the file wrong.
func TestMistake(t *testing.T) {
	w := startWorkload(t, false)
	data := w.path("data.bin")
	w.must(wcmd{Op: "fill", Path: data, N: mib})
	rfd := w.must(wcmd{Op: "open", Path: data, Flags: unix.O_RDONLY}).FD
	if r := w.must(wcmd{Op: "pread", FD: rfd, N: 200, Size: 4096, Flags: mib}); r.Bad != 0 {
		t.Fatalf("%d wrong reads before the fault", r.Bad)
	}
	const pct, maxBytes = 20.0, 8
	in := inject(t, w, plan.IO{Path: w.dir, Methods: []string{"read"}, Percent: pct, Mistake: &plan.IOMistake{MaxBytes: maxBytes}})
	r := w.must(wcmd{Op: "pread", FD: rfd, N: 2000, Size: 4096, Flags: mib})
	got := 100 * float64(r.Bad) / float64(len(r.Lat))
	t.Logf("mistake on %g%% of reads, at most %d bytes: %.2f%% of %d reads wrong, %d..%d wrong bytes each", pct, maxBytes, got, len(r.Lat), r.BadMin, r.BadMax)
	if got < pct-4 || got > pct+4 {
		t.Errorf("%.2f%% of reads wrong, want %g%% ± 4", got, pct)
	}
	if r.BadMin < 1 || r.BadMax > maxBytes {
		t.Errorf("wrong bytes per read %d..%d, want 1..%d", r.BadMin, r.BadMax, maxBytes)
	}
	in.recover(t)
	if r := w.must(wcmd{Op: "pread", FD: rfd, N: 500, Size: 4096, Flags: mib}); r.Bad != 0 || errCount(r) != 0 {
		t.Errorf("after recovery: %d wrong reads, errors %v", r.Bad, r.Errs)
	}
	checkPattern(t, w.hostPath("data.bin"), mib, 0, 0, 0)

	const wpct, wmax, blocks = 50.0, 16, 400
	in = inject(t, w, plan.IO{Path: w.dir, Methods: []string{"write"}, Percent: wpct, Mistake: &plan.IOMistake{MaxBytes: wmax}})
	wfd := w.must(wcmd{Op: "open", Path: w.path("out.bin"), Flags: unix.O_WRONLY | unix.O_CREAT}).FD
	if r := w.must(wcmd{Op: "pwrite", FD: wfd, N: blocks, Size: 4096}); errCount(r) != 0 {
		t.Fatalf("writes failed: %v", r.Errs)
	}
	w.must(wcmd{Op: "close", FD: wfd})
	in.recover(t)
	checkPattern(t, w.hostPath("out.bin"), blocks*4096, 4096, wpct, wmax)
}

// checkPattern checks the file holds the test pattern; with block > 0, pct% ± 10 of its
// blocks may each differ in 1..maxBytes bytes.
func checkPattern(t *testing.T, path string, size, block int, pct float64, maxBytes int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != size {
		t.Fatalf("%s is %d bytes, want %d", path, len(b), size)
	}
	want := make([]byte, size)
	fillPattern(want, 0)
	if block == 0 {
		if d := diff(b, want); d != 0 {
			t.Errorf("%s: %d bytes differ from what was written", path, d)
		}
		return
	}
	bad, worst := 0, 0
	for off := 0; off < size; off += block {
		if d := diff(b[off:off+block], want[off:off+block]); d > 0 {
			bad, worst = bad+1, max(worst, d)
		}
	}
	got := 100 * float64(bad) / float64(size/block)
	t.Logf("mistake on %g%% of writes: %.1f%% of %d blocks reached the file wrong, at most %d bytes each", pct, got, size/block, worst)
	if got < pct-10 || got > pct+10 || worst > maxBytes {
		t.Errorf("%.1f%% of blocks wrong (want %g%% ± 10), at most %d bytes each (want ≤ %d)", got, pct, worst, maxBytes)
	}
}

// Attributes: the reader sees the asked mode, owner, size and time; the kernel enforces
// them (a non-root reader is refused with --perm 000); after recovery all is as before.
func TestAttr(t *testing.T) {
	w := startWorkload(t, false)
	secret := w.path("secret.txt")
	w.must(wcmd{Op: "fill", Path: secret, N: 1000})
	orig := w.must(wcmd{Op: "stat", Path: secret})
	if r := w.do(wcmd{Op: "asuser", Path: secret, UID: 65534}); r.Err != "" {
		t.Fatalf("a non-root reader cannot read %s before the fault: %s", secret, r.Err)
	}
	perm, uid, gid, size := uint32(0), uint32(1234), uint32(5678), uint64(42)
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	in := inject(t, w, plan.IO{Path: w.dir, Attr: &plan.IOAttr{Perm: &perm, UID: &uid, GID: &gid, Size: &size, Mtime: &mtime}})
	st := w.must(wcmd{Op: "stat", Path: secret})
	t.Logf("stat during the fault: mode %o uid %d gid %d size %d mtime %s (before: mode %o uid %d size %d)",
		st.Mode, st.UID, st.GID, st.Size, time.Unix(st.Mtime, 0).UTC().Format(time.RFC3339), orig.Mode, orig.UID, orig.Size)
	if st.Mode&0o7777 != perm || st.Mode&unix.S_IFMT != unix.S_IFREG || st.UID != uid || st.GID != gid ||
		st.Size != int64(size) || st.Mtime != mtime.Unix() {
		t.Errorf("stat shows mode %o uid %d gid %d size %d mtime %d, want %o %d %d %d %d",
			st.Mode, st.UID, st.GID, st.Size, st.Mtime, unix.S_IFREG|perm, uid, gid, size, mtime.Unix())
	}
	r := w.do(wcmd{Op: "asuser", Path: secret, UID: 65534})
	t.Logf("non-root reader during the fault: %q", r.Err)
	if !strings.Contains(r.Err, "Permission denied") {
		t.Errorf("a non-root reader was not refused with --perm 000: %q", r.Err)
	}
	if dir := w.must(wcmd{Op: "stat", Path: w.dir}); dir.Mode&0o777 != 0o755 {
		t.Errorf("--path itself reports mode %o: it must keep its own", dir.Mode)
	}
	in.recover(t)
	if st := w.must(wcmd{Op: "stat", Path: secret}); st.Mode != orig.Mode || st.UID != orig.UID || st.Size != orig.Size || st.Mtime != orig.Mtime {
		t.Errorf("after recovery stat shows %+v, want %+v", st, orig)
	}
	if r := w.do(wcmd{Op: "asuser", Path: secret, UID: 65534}); r.Err != "" {
		t.Errorf("a non-root reader is still refused after recovery: %s", r.Err)
	}
}

// fsync is hit on a file whose reads and writes the kernel passes through itself (the
// fault asks for fsync only): FUSE_FSYNC still reaches the server.
func TestFsyncOnPassthroughFile(t *testing.T) {
	w := startWorkload(t, false)
	const delay = 20 * time.Millisecond
	fd := w.must(wcmd{Op: "open", Path: w.path("wal"), Flags: unix.O_WRONLY | unix.O_CREAT}).FD
	base := w.must(wcmd{Op: "fsync", FD: fd, N: 50})
	s := latency(delay, "fsync")
	s.Path = w.dir
	in := inject(t, w, s)
	w.must(wcmd{Op: "pwrite", FD: fd, N: 10, Size: 4096})
	r := w.must(wcmd{Op: "fsync", FD: fd, N: 50})
	in.recover(t)
	t.Logf("fsync median: %v before, %v with --delay %v on fsync", median(base.Lat), median(r.Lat), delay)
	if m := median(r.Lat) - median(base.Lat); m < delay*9/10 || errCount(r) > 0 {
		t.Errorf("fsync added %v (errors %v), want ≥ %v", m, r.Errs, delay*9/10)
	}
}

// A descriptor that cannot be moved back (it holds a lock) stays on the detached mount:
// the recovery says so, the agent keeps serving it with faults off (reads succeed), and
// the mount goes when the container closes it.
func TestLeftOnDetachedMount(t *testing.T) {
	w := startWorkload(t, false)
	defer func(d time.Duration) { releaseWait = d }(releaseWait)
	releaseWait = time.Second
	data := w.path("data.bin")
	w.must(wcmd{Op: "fill", Path: data, N: mib})
	in := inject(t, w, plan.IO{Path: w.dir, Methods: []string{"read"}, Percent: 100, Fault: &plan.IOFault{Errno: "EIO"}})
	fd := w.must(wcmd{Op: "open", Path: data, Flags: unix.O_RDONLY}).FD
	w.must(wcmd{Op: "flock", FD: fd})
	if r := w.must(wcmd{Op: "pread", FD: fd, N: 20, Size: 4096, Flags: mib}); r.Errs["EIO"] != 20 {
		t.Fatalf("reads through a descriptor opened on the mount: %v, want all EIO", r.Errs)
	}
	objs := in.recover(t)
	if !strings.Contains(objs[0].Remove, "1 descriptor(s) still open on the detached mount get ENOTCONN when the agent exits") ||
		!strings.Contains(objs[1].Spec, "left on the detached mount: it holds a lock") {
		t.Errorf("the recovery does not report the descriptor left on the mount: %+v", objs)
	}
	if m := w.fuseMounts(); len(m) != 0 {
		t.Errorf("the mount is still in the container's table: %q", m)
	}
	r := w.must(wcmd{Op: "pread", FD: fd, N: 100, Size: 4096, Flags: mib})
	t.Logf("after recovery, through the descriptor left on the detached mount: %d reads ok, errors %v, %d wrong", r.N, r.Errs, r.Bad)
	if errCount(r) != 0 || r.Bad != 0 {
		t.Errorf("the agent stopped serving the detached mount with faults off: %v, %d wrong", r.Errs, r.Bad)
	}
	w.must(wcmd{Op: "close", FD: fd})
	select {
	case <-in.a.srv.done:
		t.Logf("the kernel released the mount once the descriptor was closed")
	case <-time.After(10 * time.Second):
		t.Errorf("the server still runs 10s after the last descriptor on the mount was closed")
	}
}

// Shared mmap of a file under the mount works while reads bypass the page cache
// (FUSE_DIRECT_IO_ALLOW_MMAP): two mappings see each other, msync + pread sees it.
func TestSharedMmap(t *testing.T) {
	w := startWorkload(t, false)
	s := latency(time.Millisecond, "read")
	s.Path = w.dir
	in := inject(t, w, s)
	if !in.a.f.directIO {
		t.Fatalf("the kernel did not grant FUSE_DIRECT_IO_ALLOW_MMAP (needs Linux 6.6+)")
	}
	if r := w.do(wcmd{Op: "mmap", Path: w.path("db-shm"), Size: 32 << 10}); r.Err != "" {
		t.Errorf("shared mmap under the mount: %s", r.Err)
	}
	in.recover(t)
	if r := w.do(wcmd{Op: "mmap", Path: w.path("db-shm"), Size: 32 << 10}); r.Err != "" {
		t.Errorf("shared mmap after recovery: %s", r.Err)
	}
}

// Refused before anything is journaled or mounted: a path under a mount with shared
// propagation, a file, a missing path, a path one of ours already covers; a forged plan
// with a bad spec never gets an injector.
func TestRefusals(t *testing.T) {
	w := startWorkload(t, true)
	w.must(wcmd{Op: "fill", Path: w.path("file.txt"), N: 10})
	try := func(w *wl, p, want string) {
		t.Helper()
		j, err := journal.Create(t.TempDir(), journal.Meta{Experiment: "io-refuse", Deadline: time.Now().Add(time.Hour)}, testTarget)
		if err != nil {
			t.Fatal(err)
		}
		s := latency(time.Millisecond)
		s.Path = p
		inj, err := fault.New(plan.Fault{Kind: plan.KindIO, IO: &s})
		if err != nil {
			t.Fatal(err)
		}
		a, err := inj.Apply(context.Background(), fault.Target{Target: testTarget, PID: w.pid, Experiment: "io-refuse"}, j)
		if err == nil {
			a.Recover(context.Background())
			t.Fatalf("--path %s was accepted, want a refusal (%s)", p, want)
		}
		t.Logf("--path %s refused: %v", p, err)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
		if e := j.Entries(); len(e) != 0 {
			t.Errorf("refused, yet %d journal entries were written", len(e))
		}
		j.Done()
	}
	try(w, w.dir, "shared propagation")
	try(w, w.path("file.txt"), "is not a directory in the container (it is a regular file)")
	try(w, w.path("missing"), "does not exist in the container")
	if m := w.fuseMounts(); len(m) != 0 {
		t.Errorf("refusals left FUSE mounts: %q", m)
	}

	w2 := startWorkload(t, false)
	s := latency(time.Millisecond)
	s.Path = w2.dir
	in := inject(t, w2, s)
	try(w2, w2.dir, "already covered by a kubectl-chaos io fault")
	in.recover(t)

	for _, bad := range []plan.IO{
		{Path: "data", Percent: 100, Latency: &plan.IOLatency{Delay: plan.Duration(time.Millisecond)}},
		{Path: "/data", Percent: 10, Fault: &plan.IOFault{Errno: "EWHATEVER"}},
		{Path: "/data", Percent: 10, Methods: []string{"chmod"}, Fault: &plan.IOFault{Errno: "EIO"}},
		{Path: "/data", Percent: 101, Fault: &plan.IOFault{Errno: "EIO"}},
	} {
		if _, err := fault.New(plan.Fault{Kind: plan.KindIO, IO: &bad}); err == nil {
			t.Errorf("a forged plan %s got an injector", bad.Summary())
		}
	}
}

// runAgent is the "agent" role: it applies the fault in KC_IO_SPEC to pid KC_IO_PID
// with a journal in KC_IO_JDIR, says "injected" and serves until it is killed.
func runAgent() int {
	var s plan.IO
	if err := json.Unmarshal([]byte(os.Getenv("KC_IO_SPEC")), &s); err != nil {
		fmt.Println(err)
		return 1
	}
	pid, _ := strconv.Atoi(os.Getenv("KC_IO_PID"))
	j, err := journal.Create(os.Getenv("KC_IO_JDIR"), journal.Meta{Experiment: "io-kill", Deadline: time.Now().Add(time.Hour)}, testTarget)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	inj, err := fault.New(plan.Fault{Kind: plan.KindIO, IO: &s})
	if err == nil {
		_, err = inj.Apply(context.Background(), fault.Target{Target: testTarget, PID: pid, Experiment: "io-kill"}, j)
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println("injected")
	select {}
}

// kill -9 of the agent while mounted: the container's opens and its moved descriptor
// get ENOTCONN; the sweep (what a restarted agent or the next one on the node runs on
// the journal) enters the container's mount namespace, unmounts, moves the descriptor
// back: 0 ENOTCONN after it and nothing left.
func TestKill9Sweep(t *testing.T) {
	w := startWorkload(t, false)
	before := residue(t)
	data := w.path("data.bin")
	w.must(wcmd{Op: "fill", Path: data, N: mib})
	rfd := w.must(wcmd{Op: "open", Path: data, Flags: unix.O_RDONLY}).FD
	w.must(wcmd{Op: "read", FD: rfd, Size: 100})
	jdir := t.TempDir()
	spec, _ := json.Marshal(plan.IO{Path: w.dir, Methods: []string{"read"}, Percent: 100, Fault: &plan.IOFault{Errno: "EIO"}})
	agent := exec.Command(os.Args[0])
	agent.Env = append(os.Environ(), roleEnv+"=agent", "KC_IO_SPEC="+string(spec), "KC_IO_PID="+itoa(w.pid), "KC_IO_JDIR="+jdir)
	agent.Stderr = os.Stderr
	out, err := agent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer agent.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "injected" {
		t.Fatalf("agent: %q %v", line, err)
	}
	if r := w.must(wcmd{Op: "pread", FD: rfd, N: 50, Size: 4096, Flags: mib}); r.Errs["EIO"] != 50 {
		t.Fatalf("the fault is not active through the moved descriptor: %v", r.Errs)
	}
	if err := agent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	agent.Wait()
	dead := w.must(wcmd{Op: "openclose", Path: data, N: 200})
	deadR := w.must(wcmd{Op: "pread", FD: rfd, N: 50, Size: 4096, Flags: mib})
	t.Logf("after kill -9 of the agent: new opens %v, reads through the moved descriptor %v", dead.Errs, deadR.Errs)
	if dead.Errs["ENOTCONN"] != 200 || deadR.Errs["ENOTCONN"] != 50 {
		t.Errorf("want every call on the dead mount to fail with ENOTCONN until the sweep")
	}

	paths, err := journal.List(jdir, "io-kill")
	if err != nil || len(paths) != 1 {
		t.Fatalf("journal files %v %v", paths, err)
	}
	start := time.Now()
	removed, err := journal.Recover(context.Background(), paths[0])
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	t.Logf("sweep removed %d journaled object(s) in %v", len(removed), time.Since(start).Round(time.Microsecond))
	opens := w.must(wcmd{Op: "openclose", Path: data, N: 500})
	reads := w.must(wcmd{Op: "pread", FD: rfd, N: 500, Size: 4096, Flags: mib})
	t.Logf("after the sweep: new opens %d ok %v, reads through the descriptor %d ok %v", opens.N, opens.Errs, reads.N, reads.Errs)
	if errCount(opens)+errCount(reads) != 0 || reads.Bad != 0 {
		t.Errorf("errors after the sweep: opens %v, reads %v (%d wrong)", opens.Errs, reads.Errs, reads.Bad)
	}
	if pos := w.must(wcmd{Op: "seek", FD: rfd}).Pos; pos != 100 {
		t.Errorf("offset after the sweep %d, want 100", pos)
	}
	if m := w.fuseMounts(); len(m) != 0 {
		t.Errorf("FUSE mounts left in the container: %q", m)
	}
	if left, _ := journal.List(jdir, "io-kill"); len(left) != 0 {
		t.Errorf("journal files left: %v", left)
	}
	if got := residue(t); !slices.Equal(got, before) {
		t.Errorf("residue differs\nbefore: %q\nafter:  %q", before, got)
	}
}
