// Package procstart records when this binary began to run, for the phase marks of
// make bench-e2e (issue 17). It imports nothing that needs initializing, so it is among
// the first packages initialized (packages are initialized in import-path order among
// those whose imports are done; one importing even "time" waits for half of the
// standard library): its clock reading is the exec plus the runtime's start, a few ms.
// The process's start time in /proc is the fork, not the exec: for the agent, runc's
// init process, created at CreateContainer and exec'ing the binary at StartContainer;
// for the CLI run as a kubectl plugin, kubectl's own start (kubectl execs the plugin).
package procstart

import _ "unsafe" // go:linkname

// nanotime is the runtime's monotonic clock (CLOCK_MONOTONIC on Linux), the one
// time.Now's monotonic reading is taken from; the runtime keeps it linkable.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

var initNanos = nanotime()

var mainNanos int64

// MarkMain records that main began (every package init done).
func MarkMain() { mainNanos = nanotime() }

// SinceInit is how long ago (ns) this package was initialized: t := time.Now();
// t.Add(-time.Duration(SinceInit())) is that moment on the wall clock.
func SinceInit() int64 { return nanotime() - initNanos }

// SinceMain is how long ago (ns) main called MarkMain; -1 if it did not.
func SinceMain() int64 {
	if mainNanos == 0 {
		return -1
	}
	return nanotime() - mainNanos
}
