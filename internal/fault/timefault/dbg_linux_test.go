package timefault

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestDbgGoCycles(t *testing.T) {
	bin := needProg(t, "go")
	c := newContainer(t)
	p := launch(t, c.CgroupDir, "go", bin)
	for i := 1; i <= 4; i++ {
		a := inject(t, c, newJournal(t, c), plan.TimeShift{Offset: plan.Duration(time.Duration(i) * time.Minute)})
		for _, r := range a.records() {
			if r.PID == p.pid {
				f, _ := memFile(p.pid)
				for _, e := range r.Entries {
					b, _ := readN(f, e.Addr, 8)
					t.Logf("%s at %#x: %s (new %s)", e.Symbol, e.Addr, hex.EncodeToString(b), hex.EncodeToString(e.New))
				}
				f.Close()
			}
		}
		boot, _ := hostClocks(t)
		sh := measure(t, p.next(t, boot))
		t.Logf("cycle %d: real %+.3f", i, sh.real)
		objs, _ := a.Recover(context.Background())
		for _, o := range objs {
			t.Logf("  %s", o.Spec)
		}
	}
}

func dumpPatch(t *testing.T, a *active, p *prog) {
	t.Logf("notes: %v", a.notesSeen())
	for _, r := range a.records() {
		if r.PID == p.pid {
			f, _ := memFile(p.pid)
			maps, _ := readMaps(p.pid)
			vd, _ := findVDSO(maps)
			t.Logf("record base %#x, now %#x", r.Base, vd.lo)
			for _, e := range r.Entries {
				b, _ := readN(f, e.Addr, 8)
				t.Logf("%s at %#x: %s (new %s)", e.Symbol, e.Addr, hex.EncodeToString(b), hex.EncodeToString(e.New))
			}
			b, _ := readN(f, r.Stub.Addr, len(r.Stub.New))
			t.Logf("stub %s\n want %s", hex.EncodeToString(b), hex.EncodeToString(r.Stub.New))
			f.Close()
		}
	}
}
