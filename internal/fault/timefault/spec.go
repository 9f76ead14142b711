// Package timefault is the time fault: the clocks a target container's processes read
// through the vDSO are shifted by an offset, by rewriting the vDSO's clock functions in
// each process's memory through ptrace, and given back afterwards.
//
// The portable part (this file, the catalog entry, the vDSO parser and the x86-64
// stubs) is what the CLI needs: validation, the dry-run description, the texts the
// agent's events share. The ptrace work is Linux-only (*_linux.go) and x86-64 only.
package timefault

import (
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Limits of a time shift.
const (
	// MaxOffset bounds --offset either way: ten years (of 365.25 days).
	MaxOffset = 87660 * time.Hour
	// DefaultRescan is how often the agent looks for processes started during the fault.
	DefaultRescan = time.Second
	// MinRescan and MaxRescan bound --rescan (0 turns rescans off).
	MinRescan = 100 * time.Millisecond
	MaxRescan = time.Minute
)

// Clock is a clock the vDSO serves, which a shift can touch.
type Clock struct {
	Name string
	ID   int
	// Monotonic clocks drive the runtime's timers: shifting them stalls or fires them.
	Monotonic bool
}

// Clocks are the clocks the x86-64 vDSO answers without a syscall, and so the ones a
// vDSO patch can shift. (CPU-time clocks always go to the kernel.)
var Clocks = []Clock{
	{"CLOCK_REALTIME", 0, false},
	{"CLOCK_MONOTONIC", 1, true},
	{"CLOCK_MONOTONIC_RAW", 4, true},
	{"CLOCK_REALTIME_COARSE", 5, false},
	{"CLOCK_MONOTONIC_COARSE", 6, true},
	{"CLOCK_BOOTTIME", 7, true},
	{"CLOCK_TAI", 11, false},
}

// ClockNames lists the accepted names, for messages.
func ClockNames() []string {
	out := make([]string, len(Clocks))
	for i, c := range Clocks {
		out[i] = c.Name
	}
	return out
}

// LookupClock finds a clock by name: CLOCK_REALTIME, realtime, clock_realtime.
func LookupClock(name string) (Clock, bool) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(n, "CLOCK_") {
		n = "CLOCK_" + n
	}
	for _, c := range Clocks {
		if c.Name == n {
			return c, true
		}
	}
	return Clock{}, false
}

// Validate checks a time shift; errors name the flag and the accepted range.
func Validate(s *plan.TimeShift) error {
	if s == nil {
		return fmt.Errorf("time fault without its spec")
	}
	off := s.Offset.D()
	if off == 0 {
		return fmt.Errorf("--offset must not be zero: give how far to shift, e.g. -10m or 2h (at most ±10y)")
	}
	if off > MaxOffset || off < -MaxOffset {
		return fmt.Errorf("--offset must be within ±10y (±%s), got %s", MaxOffset, off)
	}
	seen := map[string]bool{}
	for _, name := range s.Clocks {
		c, ok := LookupClock(name)
		if !ok || c.Name != name {
			return fmt.Errorf("--clocks: unknown clock %q; accepted: %s", name, strings.Join(ClockNames(), ", "))
		}
		if seen[name] {
			return fmt.Errorf("--clocks: %s given twice", name)
		}
		seen[name] = true
	}
	if r := s.Rescan.D(); r != 0 && (r < MinRescan || r > MaxRescan) {
		return fmt.Errorf("--rescan must be 0 (off) or between %s and %s, got %s", MinRescan, MaxRescan, r)
	}
	return nil
}

// clockSet is the validated clocks of a spec.
type clockSet struct {
	mask      uint32 // bit i set: clock ID i is shifted
	realtime  bool   // CLOCK_REALTIME is shifted: gettimeofday and time are patched too
	monotonic []string
}

func clocksOf(s *plan.TimeShift) clockSet {
	var cs clockSet
	for _, name := range s.ClockNames() {
		c, ok := LookupClock(name)
		if !ok {
			continue
		}
		cs.mask |= 1 << c.ID
		if c.ID == 0 {
			cs.realtime = true
		}
		if c.Monotonic {
			cs.monotonic = append(cs.monotonic, c.Name)
		}
	}
	return cs
}

// Symbols are the vDSO functions a spec patches, by their plain names.
func Symbols(s *plan.TimeShift) []string {
	if clocksOf(s).realtime {
		return []string{symClockGettime, symGettimeofday, symTime}
	}
	return []string{symClockGettime}
}

// The vDSO functions, by their plain names (the vDSO also exports __vdso_<name> at the
// same address).
const (
	symClockGettime = "clock_gettime"
	symGettimeofday = "gettimeofday"
	symTime         = "time"
)

// ObjectKind is the plan.Object kind of a patched vDSO function.
const ObjectKind = "vdso-patch"

// removeText says how a patch goes away; the dry-run and the agent's events share it.
const removeText = "the 8 bytes at the function's entry are written back in one write while every " +
	"thread is stopped, then the stub is cleared once no thread is inside it; journaled first " +
	"(pid, start time, address, original bytes), so a restarted agent or the sweep restores " +
	"every still-living patched process (and forked children that inherited the patch)"

// symbolSpec describes the patch of one function.
func symbolSpec(sym string, s *plan.TimeShift) string {
	what := "adds " + offsetString(s.Offset.D())
	switch sym {
	case symClockGettime:
		what += " to " + strings.Join(s.ClockNames(), ", ")
	case symGettimeofday:
		what += " to the time of day"
	case symTime:
		what += " (whole seconds) to the time in seconds"
	}
	return fmt.Sprintf("%s (and __vdso_%s): entry -> jmp to a stub in the vDSO's unused padding that makes the %s syscall and %s",
		sym, sym, sym, what)
}

// offsetString is a signed duration: -10m0s, +2h0m0s.
func offsetString(d time.Duration) string {
	if d > 0 {
		return "+" + d.String()
	}
	return d.String()
}

// Describe lists what the fault changes in each process, for --dry-run.
func Describe(s *plan.TimeShift) []plan.Object {
	var out []plan.Object
	for _, sym := range Symbols(s) {
		out = append(out, plan.Object{Kind: ObjectKind, Spec: symbolSpec(sym, s), Remove: removeText,
			Condition: "on x86_64 nodes (other architectures refuse before anything is changed)"})
	}
	return out
}

// MonotonicWarning is the plan's warning when a monotonic clock is shifted.
func MonotonicWarning(names []string) string {
	return strings.Join(names, ", ") + " shifted: every timer of the target's runtime that reads it " +
		"(Go timers and tickers, absolute clock_nanosleep, timeouts measured as elapsed time) stalls " +
		"for the offset or fires at once, and elapsed-time measurements jump"
}

// NotCovered is what a vDSO shift cannot reach; dry-run and docs say it.
const NotCovered = "programs that make the clock syscalls themselves instead of calling the vDSO, " +
	"processes started and gone between two rescans (each exec gets a fresh vDSO), " +
	"32-bit processes, and nodes that are not x86_64"

func details(s *plan.TimeShift) []catalog.Detail {
	cs := clocksOf(s)
	clocks := strings.Join(s.ClockNames(), ", ") + " shifted by " + offsetString(s.Offset.D())
	if cs.realtime {
		clocks += " (what time.Now(), date, gettimeofday, time() and TLS certificate checks read)"
	}
	out := []catalog.Detail{{Name: "Clocks", Value: clocks}}
	if len(cs.monotonic) > 0 {
		out = append(out, catalog.Detail{Name: "Warning", Value: MonotonicWarning(cs.monotonic)})
	}
	procs := "every process of each target container (found on the node from its cgroup) when the fault starts"
	if r := s.Rescan.D(); r > 0 {
		procs += fmt.Sprintf(", then a rescan every %s for new ones", r)
	} else {
		procs += " (no rescan: processes started later keep the real clock)"
	}
	procs += "; the PIDs are known only on the node: the agent reports each process, patched or skipped and why"
	out = append(out, catalog.Detail{Name: "Processes", Value: procs},
		catalog.Detail{Name: "Symbols", Value: strings.Join(Symbols(s), ", ") + " of the vDSO"},
		catalog.Detail{Name: "Not covered", Value: NotCovered})
	return out
}
