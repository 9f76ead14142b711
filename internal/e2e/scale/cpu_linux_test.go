package scale

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) this process has used: under a loaded
// machine's noise, what the CLI costs shows here rather than in the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
