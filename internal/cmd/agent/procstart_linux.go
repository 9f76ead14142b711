package agent

import (
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// processStart is when this process was started, from its start time in
// /proc/self/stat (clock ticks since boot, 10 ms here) against CLOCK_BOOTTIME: the
// first mark of the agent's start (exec, runtime and package inits come before main).
func processStart() time.Time {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return time.Time{}
	}
	// Fields after the command name (which may hold spaces), field 22 is starttime.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return time.Time{}
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return time.Time{}
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}
	}
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return time.Time{}
	}
	const hz = 100 // USER_HZ: what /proc reports in, on every Linux architecture Go supports
	sinceStart := time.Duration(ts.Nano()) - time.Duration(ticks)*time.Second/hz
	return time.Now().Add(-sinceStart)
}
