package plan

import (
	"strings"
	"time"
)

// KindTime is the time fault family: the clocks a target's processes read through the
// vDSO are shifted.
const KindTime = "time"

// TimeShift shifts the clocks a target container's processes read by Offset, by
// rewriting their vDSO clock functions for the duration of the fault.
type TimeShift struct {
	// Offset is added to every clock named in Clocks (negative: the past).
	Offset Duration `json:"offset"`
	// Clocks are clock names, e.g. CLOCK_REALTIME. Empty means CLOCK_REALTIME.
	Clocks []string `json:"clocks,omitempty"`
	// Rescan is how often the agent looks for processes started during the fault; 0
	// means never (only the processes present at injection are shifted).
	Rescan Duration `json:"rescan,omitempty"`
}

// ClockRealtime is the clock shifted when TimeShift.Clocks is empty.
const ClockRealtime = "CLOCK_REALTIME"

// ClockNames returns the clocks to shift: Clocks, or CLOCK_REALTIME when empty.
func (t *TimeShift) ClockNames() []string {
	if len(t.Clocks) == 0 {
		return []string{ClockRealtime}
	}
	return t.Clocks
}

// Summary is e.g. "shift -10m0s (CLOCK_REALTIME)".
func (t *TimeShift) Summary() string {
	d := time.Duration(t.Offset)
	s := d.String()
	if d > 0 {
		s = "+" + s
	}
	return "shift " + s + " (" + strings.Join(t.ClockNames(), ",") + ")"
}
