package timefault

// go test -run '^$' -bench TimeShift -benchtime 1x ./internal/fault/timefault (root)
//
// The closing numbers of a time shift: asked vs seen (each clock entry point of a
// glibc program), how long a patch and a restore stop the process, and what a shifted
// clock_gettime costs next to the vDSO's own (ns/call, measured inside the target).

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func BenchmarkTimeShift(b *testing.B) {
	bins := buildProgs(b)
	bin, ok := bins["glibc-dynamic"]
	if !ok {
		b.Skip("no glibc test program")
	}
	c := newContainer(b)

	// The cost of one call, inside the target: vDSO vs shifted (stub + syscall).
	bp := launch(b, c.CgroupDir, "bench", bin, "-b")
	before := medianCost(b, bp, 5)
	a := inject(b, c, &memRecorder{}, plan.TimeShift{Offset: plan.Duration(-time.Hour)})
	shifted := medianCost(b, bp, 5)
	if _, err := a.Recover(context.Background()); err != nil {
		b.Fatal(err)
	}
	after := medianCost(b, bp, 5)
	bp.kill()

	// Asked vs seen, and the stop times, over 20 shifts of a 3-thread program.
	p := launch(b, c.CgroupDir, "glibc-dynamic", bin, "-t", "3")
	var patchStops, restoreStops []time.Duration
	var worst float64
	stopOf := regexp.MustCompile(`\(glibc-dynamic\).*stopped ([0-9.]+[µm]?s)`)
	for i := 0; i < 20; i++ {
		off := time.Duration(i+1) * 37 * time.Minute
		if i%2 == 1 {
			off = -off
		}
		a := inject(b, c, &memRecorder{}, plan.TimeShift{Offset: plan.Duration(off)})
		for _, n := range a.notesSeen() {
			if m := stopOf.FindStringSubmatch(n); m != nil {
				d, _ := time.ParseDuration(m[1])
				patchStops = append(patchStops, d)
			}
		}
		boot, _ := hostClocks(b)
		sh := measure(b, p.next(b, boot))
		for _, seen := range []float64{sh.real, sh.gtod} {
			if d := seen - off.Seconds(); d > worst || -d > worst {
				worst = max(d, -d)
			}
		}
		objs, err := a.Recover(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range objs {
			if m := stopOf.FindStringSubmatch(o.Spec); m != nil {
				d, _ := time.ParseDuration(m[1])
				restoreStops = append(restoreStops, d)
			}
		}
	}
	b.ReportMetric(before, "ns/call-vdso")
	b.ReportMetric(shifted, "ns/call-shifted")
	b.ReportMetric(after, "ns/call-restored")
	b.ReportMetric(float64(median(patchStops).Microseconds()), "µs-stop/patch-p50")
	b.ReportMetric(float64(median(restoreStops).Microseconds()), "µs-stop/restore-p50")
	b.ReportMetric(worst*1e6, "µs-seen-vs-asked-max")
	fmt.Fprintf(os.Stderr, "time shift: clock_gettime %.1f ns/call (vDSO) -> %.1f (shifted) -> %.1f (restored); "+
		"stop per patch %s, per restore %s; seen vs asked within %.1f µs over 20 shifts of ±37m..±12h20m; load %s\n",
		before, shifted, after, stats(patchStops), stats(restoreStops), worst*1e6, loadavg())
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)/2] // the p50 of stats, so the metric and the printed line agree
}

var costLine = regexp.MustCompile(`nspercall=([0-9.]+)`)

// medianCost reads the next n ns/call lines the bench program prints.
func medianCost(b *testing.B, p *prog, n int) float64 {
	b.Helper()
	old, _ := os.ReadFile(p.out)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		cur, _ := os.ReadFile(p.out)
		ms := costLine.FindAllStringSubmatch(string(cur[len(old):]), -1)
		if len(ms) >= n+1 { // the first may straddle the change
			var v []float64
			for _, m := range ms[1 : n+1] {
				f, _ := strconv.ParseFloat(m[1], 64)
				v = append(v, f)
			}
			sort.Float64s(v)
			return v[len(v)/2]
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("%s printed no cost lines", p.name)
	return 0
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := regexp.MustCompile(`^\S+`).FindString(string(b))
	return f
}
