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

func TestBoundPassesTheAskedDelayAndFailsNoneOrDouble(t *testing.T) {
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

func TestBoundIsCappedAtHalfTheAskedDelay(t *testing.T) {
	// Noise so wide that the medians' uncertainty alone would exceed the delay.
	var base, with []time.Duration
	for i := 0; i < 20; i++ {
		base = append(base, time.Duration(i)*10*time.Millisecond)
		with = append(with, time.Duration(i)*10*time.Millisecond)
	}
	r := Compare(base, with, 50*time.Millisecond)
	if r.Lo != 25*time.Millisecond || r.Hi != 25*time.Millisecond || r.OK() {
		t.Errorf("lo %v hi %v OK %v, want both 25ms and no delay refused: %s", r.Lo, r.Hi, r.OK(), r)
	}
}

func TestString(t *testing.T) {
	base := []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	with := []time.Duration{52 * time.Millisecond, 52 * time.Millisecond, 52 * time.Millisecond}
	r := Compare(base, with, 50*time.Millisecond)
	want := "asked 50.00, measured 51.00 ms added (bound 47.00…60.00, margin 4.00; p50 52.00 − base p50 1.00; p10–p90 with 52.00–52.00, base 1.00–1.00; n 3/3)"
	if r.String() != want || r.Margin() != 4*time.Millisecond {
		t.Errorf("got  %s\nwant %s", r, want)
	}
}
