package iofault

import (
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// BenchmarkIO is the table of the closing numbers (make bench-io, root): what the
// workload of a stand-in container sees, asked vs seen; the throughput of the mount with
// no fault on the files (kernel passthrough) and with the data going through the server
// (a fault on reads and writes that almost never hits), against the bare directory; the
// cost of an open; how long a process is stopped to move its descriptors. Each
// sub-benchmark does a fixed amount of work and reports it as metrics; run it -benchtime 1x.
func BenchmarkIO(b *testing.B) {
	w := startWorkload(b, false)
	b.Run("throughput", func(b *testing.B) { benchThroughput(b, w) })
	b.Run("asked-vs-seen", func(b *testing.B) {
		w.must(wcmd{Op: "fill", Path: w.path("data.bin"), N: mib})
		fd := w.must(wcmd{Op: "open", Path: w.path("data.bin"), Flags: unix.O_RDONLY}).FD
		defer w.must(wcmd{Op: "close", FD: fd})
		s := latency(20*time.Millisecond, "read")
		s.Path = w.dir
		in := inject(b, w, s)
		r := w.must(wcmd{Op: "pread", FD: fd, N: 150, Size: 4096, Flags: mib})
		in.recover(b)
		b.ReportMetric(float64(median(r.Lat).Microseconds())/1000, "latency-20ms-seen-ms")
		in = inject(b, w, plan.IO{Path: w.dir, Methods: []string{"open"}, Percent: 10, Fault: &plan.IOFault{Errno: "EIO"}})
		o := w.must(wcmd{Op: "openclose", Path: w.path("data.bin"), N: 5000})
		in.recover(b)
		b.ReportMetric(100*float64(o.Errs["EIO"])/5000, "eio-10pct-seen-%")
		in = inject(b, w, plan.IO{Path: w.dir, Methods: []string{"read"}, Percent: 10, Mistake: &plan.IOMistake{MaxBytes: 4}})
		m := w.must(wcmd{Op: "pread", FD: fd, N: 3000, Size: 4096, Flags: mib})
		in.recover(b)
		b.ReportMetric(100*float64(m.Bad)/3000, "mistake-10pct-seen-%")
		b.Logf("latency 20ms: median %v over 150 reads; EIO 10%%: %.2f%% of 5000 opens; mistake 10%%: %.2f%% of 3000 reads (%d..%d bytes)",
			median(r.Lat), 100*float64(o.Errs["EIO"])/5000, 100*float64(m.Bad)/3000, m.BadMin, m.BadMax)
	})
	for _, n := range []int{1, 64} {
		b.Run("move/"+strconv.Itoa(n)+"-descriptors", func(b *testing.B) { benchMove(b, w, n) })
	}
}

// benchMove measures how long a process is stopped while n descriptors are moved onto
// the mount and back (five rounds; the medians go in the table).
func benchMove(b *testing.B, w *wl, n int) {
	const rounds = 5
	var fds []int
	for i := range n {
		p := w.path("f" + strconv.Itoa(i))
		w.must(wcmd{Op: "fill", Path: p, N: 4096})
		fds = append(fds, w.must(wcmd{Op: "open", Path: p, Flags: unix.O_RDONLY}).FD)
	}
	s := latency(time.Millisecond, "fsync")
	s.Path = w.dir
	var onto, back []int64
	for range rounds {
		in := inject(b, w, s)
		onto = append(onto, int64(stoppedFor(in.a.Notes())))
		objs := in.recover(b)
		back = append(back, int64(stoppedFor([]string{objs[1].Spec})))
	}
	b.ReportMetric(float64(median(onto).Microseconds())/1000, "stopped-onto-ms")
	b.ReportMetric(float64(median(back).Microseconds())/1000, "stopped-back-ms")
	b.Logf("%d descriptor(s): process stopped %v (%v–%v) to move them onto the mount, %v (%v–%v) back (median of %d)", n,
		median(onto), time.Duration(slices.Min(onto)), time.Duration(slices.Max(onto)),
		median(back), time.Duration(slices.Min(back)), time.Duration(slices.Max(back)), rounds)
	for _, fd := range fds {
		w.must(wcmd{Op: "close", FD: fd})
	}
}

// benchThroughput measures sequential writes and reads of 128 MiB in 1 MiB calls and
// open+close, on the bare directory, through the mount with no fault on the files (the
// kernel's passthrough) and through the server (a fault on reads and writes that almost
// never hits: direct IO, every call served by the agent). The three are interleaved over
// seven rounds, each starting with another, so the machine's load drifts over all of them alike; the medians go in
// the table.
func benchThroughput(b *testing.B, w *wl) {
	const chunk, chunks, rounds = mib, 128, 7
	passthrough := latency(time.Second, "read", "write")
	passthrough.Path, passthrough.FileGlob = w.dir, "no-such-file"
	server := latency(time.Millisecond, "read", "write")
	server.Path, server.Percent = w.dir, 0.0001
	modes := []struct {
		name string
		spec *plan.IO
	}{{"bare", nil}, {"passthrough", &passthrough}, {"server", &server}}
	seen := map[string][3][]int64{}
	mbps := func(ns int64) float64 { return float64(chunks*chunk) / 1e6 / (float64(ns) / 1e9) }
	for r := range rounds {
		for k := range modes {
			m := modes[(r+k)%len(modes)] // each mode takes its turn first
			var in *injected
			if m.spec != nil {
				in = inject(b, w, *m.spec)
			}
			wr := w.must(wcmd{Op: "seqwrite", Path: w.path("seq.bin"), N: chunks, Size: chunk})
			rd := w.must(wcmd{Op: "seqread", Path: w.path("seq.bin"), N: chunks, Size: chunk})
			oc := w.must(wcmd{Op: "openclose", Path: w.path("seq.bin"), N: 1000})
			if in != nil {
				in.recover(b)
			}
			v := seen[m.name]
			v[0], v[1], v[2] = append(v[0], wr.Lat[0]), append(v[1], rd.Lat[0]), append(v[2], int64(median(oc.Lat)))
			seen[m.name] = v
		}
	}
	for _, m := range modes {
		v := seen[m.name]
		wm, rm := mbps(int64(median(v[0]))), mbps(int64(median(v[1])))
		b.ReportMetric(wm, m.name+"-write-MB/s")
		b.ReportMetric(rm, m.name+"-read-MB/s")
		b.ReportMetric(float64(median(v[2]).Microseconds()), m.name+"-open-close-µs")
		b.Logf("%-11s write %5.0f MB/s (%4.0f–%4.0f), read %5.0f MB/s (%4.0f–%4.0f), open+close %v (median of %d rounds)",
			m.name, wm, mbps(slices.Max(v[0])), mbps(slices.Min(v[0])), rm, mbps(slices.Max(v[1])), mbps(slices.Min(v[1])), median(v[2]), rounds)
	}
}

var stoppedRE = regexp.MustCompile(`process stopped ([0-9.]+[µm]?s)`)

// stoppedFor reads how long the process was stopped from a move report.
func stoppedFor(lines []string) time.Duration {
	for _, l := range lines {
		if m := stoppedRE.FindStringSubmatch(l); m != nil {
			d, _ := time.ParseDuration(m[1])
			return d
		}
	}
	return 0
}
