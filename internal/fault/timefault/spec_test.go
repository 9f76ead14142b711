package timefault

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestValidate(t *testing.T) {
	d := func(x time.Duration) plan.Duration { return plan.Duration(x) }
	tests := []struct {
		s    plan.TimeShift
		want string // "" = valid
	}{
		{plan.TimeShift{Offset: d(-10 * time.Minute)}, ""},
		{plan.TimeShift{Offset: d(MaxOffset), Clocks: []string{"CLOCK_TAI", "CLOCK_BOOTTIME"}, Rescan: d(MinRescan)}, ""},
		{plan.TimeShift{Offset: d(-MaxOffset), Rescan: d(MaxRescan)}, ""},
		{plan.TimeShift{}, "--offset must not be zero"},
		{plan.TimeShift{Offset: d(MaxOffset + time.Second)}, "--offset must be within ±10y"},
		{plan.TimeShift{Offset: d(-MaxOffset - time.Second)}, "--offset must be within ±10y"},
		{plan.TimeShift{Offset: d(time.Hour), Clocks: []string{"CLOCK_NOPE"}}, `unknown clock "CLOCK_NOPE"`},
		{plan.TimeShift{Offset: d(time.Hour), Clocks: []string{"realtime"}}, `unknown clock "realtime"`}, // plans carry canonical names
		{plan.TimeShift{Offset: d(time.Hour), Clocks: []string{"CLOCK_TAI", "CLOCK_TAI"}}, "given twice"},
		{plan.TimeShift{Offset: d(time.Hour), Rescan: d(time.Millisecond)}, "--rescan must be 0 (off) or between 100ms and 1m0s"},
		{plan.TimeShift{Offset: d(time.Hour), Rescan: d(-time.Second)}, "--rescan"},
		{plan.TimeShift{Offset: d(time.Hour), Rescan: d(2 * time.Minute)}, "--rescan"},
	}
	for _, tt := range tests {
		err := catalog.Validate(plan.Fault{Kind: plan.KindTime, Time: &tt.s})
		if tt.want == "" && err != nil {
			t.Errorf("%+v: %v", tt.s, err)
		}
		if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: error %v, want %q", tt.s, err, tt.want)
		}
	}
}

func TestLookupClock(t *testing.T) {
	for _, in := range []string{"CLOCK_MONOTONIC", "monotonic", "clock_monotonic", " Monotonic "} {
		if c, ok := LookupClock(in); !ok || c.ID != 1 || !c.Monotonic {
			t.Errorf("LookupClock(%q) = %+v, %v", in, c, ok)
		}
	}
	if _, ok := LookupClock("CLOCK_PROCESS_CPUTIME_ID"); ok {
		t.Error("a CPU-time clock is not served by the vDSO: refuse it")
	}
}

func TestDescribe(t *testing.T) {
	e, err := catalog.Lookup(plan.KindTime)
	if err != nil {
		t.Fatal(err)
	}
	rt := plan.Fault{Kind: plan.KindTime, Time: &plan.TimeShift{Offset: plan.Duration(-time.Hour)}}
	objs := e.Describe(rt)
	if len(objs) != 3 {
		t.Fatalf("CLOCK_REALTIME patches clock_gettime, gettimeofday and time; got %d objects", len(objs))
	}
	for _, o := range objs {
		if o.Kind != ObjectKind || o.Spec == "" || o.Remove == "" || !strings.Contains(o.Condition, "x86_64") {
			t.Errorf("object %+v", o)
		}
	}
	mono := plan.Fault{Kind: plan.KindTime, Time: &plan.TimeShift{Offset: plan.Duration(time.Hour), Clocks: []string{"CLOCK_MONOTONIC"}}}
	if objs := e.Describe(mono); len(objs) != 1 || !strings.HasPrefix(objs[0].Spec, "clock_gettime") {
		t.Errorf("CLOCK_MONOTONIC alone patches clock_gettime only: %+v", objs)
	}
	var warned bool
	for _, d := range e.Details(mono) {
		warned = warned || (d.Name == "Warning" && strings.Contains(d.Value, "CLOCK_MONOTONIC"))
	}
	if !warned {
		t.Errorf("no warning for a monotonic shift: %+v", e.Details(mono))
	}
	for _, d := range e.Details(rt) {
		if d.Name == "Warning" {
			t.Errorf("warning for a realtime shift: %s", d.Value)
		}
	}
	if s := rt.Summary(); s != "time shift -1h0m0s (CLOCK_REALTIME)" {
		t.Errorf("summary %q", s)
	}
}

func TestSplitOffset(t *testing.T) {
	for d, want := range map[time.Duration]offset{
		-10 * time.Minute:        {-600, 0},
		1500 * time.Millisecond:  {1, 500_000_000},
		-1500 * time.Millisecond: {-2, 500_000_000},
		-time.Nanosecond:         {-1, 999_999_999},
	} {
		if got := splitOffset(d); got != want {
			t.Errorf("splitOffset(%s) = %+v, want %+v", d, got, want)
		}
	}
	if r := splitOffset(-1400 * time.Millisecond).roundedSec(); r != -1 {
		t.Errorf("-1.4s rounds to %d s, want -1", r)
	}
	if r := splitOffset(1600 * time.Millisecond).roundedSec(); r != 2 {
		t.Errorf("1.6s rounds to %d s, want 2", r)
	}
}

// TestStubs: each stub makes its own syscall, returns with ret, and every short jump
// lands inside the stub; the entry word is a jmp rel32 to the stub that keeps the
// original's last three bytes.
func TestStubs(t *testing.T) {
	o := splitOffset(-90 * time.Second)
	for sym, nr := range map[string]byte{symClockGettime: sysClockGettime, symGettimeofday: sysGettimeofday, symTime: sysTime} {
		b := stubFor(sym, o, 1)
		if b[len(b)-1] != opRet {
			t.Errorf("%s stub does not end with ret", sym)
		}
		if !strings.Contains(string(b), string([]byte{0xb8, nr, 0, 0, 0, 0x0f, 0x05})) {
			t.Errorf("%s stub lacks mov eax, %d; syscall", sym, nr)
		}
		if len(b) > 96 {
			t.Errorf("%s stub is %d bytes", sym, len(b))
		}
	}
	orig := []byte{0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5}
	w := entryWord(orig, 0x1000, 0x1a60)
	if w[0] != 0xe9 || int32(uint32(w[1])|uint32(w[2])<<8|uint32(w[3])<<16|uint32(w[4])<<24) != 0x1a60-0x1005 || string(w[5:]) != string(orig[5:]) {
		t.Errorf("entry word % x", w)
	}
}
