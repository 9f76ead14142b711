package delaytest

import (
	"math/rand/v2"
	"testing"
	"time"
)

// sample: n round trips of base + extra, with noise like the VM's: mostly small, some
// late by up to tail.
func sample(r *rand.Rand, n int, extra, tail time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		d := 600*time.Microsecond + time.Duration(r.Int64N(int64(400*time.Microsecond))) + extra
		if r.IntN(10) == 0 {
			d += time.Duration(r.Int64N(int64(tail)))
		}
		out[i] = d
	}
	return out
}

func TestBoundPassesTheAskedDelayAndFailsNoneHalfOrDouble(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, asked := range []time.Duration{20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond} {
		for _, tail := range []time.Duration{time.Millisecond, 30 * time.Millisecond, 500 * time.Millisecond} {
			base := sample(r, 30, 0, tail)
			for _, c := range []struct {
				name  string
				extra time.Duration
				ok    bool
			}{
				{"asked", asked, true},
				{"asked, 3ms late (emulation)", asked + 3*time.Millisecond, true},
				{"no delay", 0, false},
				{"half", asked / 2, false},
				{"double", 2 * asked, false},
			} {
				got := Compare(base, sample(r, 40, c.extra, tail), asked)
				if got.OK() != c.ok {
					t.Errorf("asked %v, tail %v, %s: OK %v, want %v: %s", asked, tail, c.name, got.OK(), c.ok, got)
				}
			}
		}
	}
}

// A starved VM delivers most packets late: p10 stays near the asked delay while p50 does
// not (measured: +17 ms at p10, +88 ms at p50 for 100 ms).
func TestLateMajorityStillPasses(t *testing.T) {
	var base, with []time.Duration
	for i := 0; i < 30; i++ {
		base = append(base, time.Millisecond)
		late := time.Duration(0)
		if i >= 6 { // 80% late by 30…87 ms
			late = 30*time.Millisecond + time.Duration(i)*2*time.Millisecond
		}
		with = append(with, 101*time.Millisecond+late)
	}
	if r := Compare(base, with, 100*time.Millisecond); !r.OK() || r.With.P50 < 150*time.Millisecond {
		t.Errorf("OK %v (p50 %v): %s", r.OK(), r.With.P50, r)
	}
}

func TestLoIsCappedAtAQuarterOfTheAskedDelay(t *testing.T) {
	// Noise so wide that the medians' uncertainty alone would exceed the delay.
	var base, with []time.Duration
	for i := 0; i < 20; i++ {
		base = append(base, time.Duration(i)*10*time.Millisecond)
		with = append(with, time.Duration(i)*10*time.Millisecond)
	}
	r := Compare(base, with, 50*time.Millisecond)
	if r.Lo != 12500*time.Microsecond || r.Hi != 25*time.Millisecond || r.OK() {
		t.Errorf("lo %v hi %v OK %v, want 12.5ms, 25ms and no delay refused: %s", r.Lo, r.Hi, r.OK(), r)
	}
}

func TestJittered(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	base := sample(r, 30, 0, time.Millisecond)
	uniform := func(center time.Duration) []time.Duration {
		var out []time.Duration
		for i := 0; i < 60; i++ {
			out = append(out, center-20*time.Millisecond+time.Duration(r.Int64N(int64(40*time.Millisecond))))
		}
		return out
	}
	for _, c := range []struct {
		center time.Duration
		ok     bool
	}{{50 * time.Millisecond, true}, {56 * time.Millisecond, true}, {0, false}, {25 * time.Millisecond, false}, {100 * time.Millisecond, false}} {
		if got := CompareJittered(base, uniform(c.center), 50*time.Millisecond, 20*time.Millisecond); got.OK() != c.ok {
			t.Errorf("centred on %v: OK %v, want %v: %s", c.center, got.OK(), c.ok, got)
		}
	}
}

func TestUndelayed(t *testing.T) {
	base := []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	if !Undelayed(t, "same", base, []time.Duration{2 * time.Millisecond, 2 * time.Millisecond, 30 * time.Millisecond}, 50*time.Millisecond) {
		t.Error("1ms above the baseline at p10 counted as delayed")
	}
	ft := &fakeTB{TB: t}
	if Undelayed(ft, "delayed", base, []time.Duration{51 * time.Millisecond, 52 * time.Millisecond, 53 * time.Millisecond}, 50*time.Millisecond) || !ft.failed {
		t.Error("a whole delay above the baseline counted as undelayed")
	}
}

// fakeTB records a failure instead of failing the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Errorf(string, ...any) { f.failed = true }

func TestString(t *testing.T) {
	base := []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	with := []time.Duration{52 * time.Millisecond, 52 * time.Millisecond, 52 * time.Millisecond}
	r := Compare(base, with, 50*time.Millisecond)
	want := "asked 50.00, measured 51.00 ms added at p10 (bound 47.00…75.00, margin 4.00; with p10/p50/p90 52.00/52.00/52.00, base 1.00/1.00/1.00; n 3/3)"
	if r.String() != want || r.Margin() != 4*time.Millisecond {
		t.Errorf("got  %s\nwant %s", r, want)
	}
}
