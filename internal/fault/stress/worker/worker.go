// Package worker is the stressor: the agent re-executes its own binary with
// os.Args[1] == Arg and $EnvMarker set, and this package's init takes the process over
// before the rest of the program is initialized. It imports the standard library only,
// and package initialization goes in import-path order, so none of the client
// libraries' inits (kilobytes to megabytes of heap each) have run yet: the stressor
// stays a few hundred KiB while it is parked, and whatever it allocates after its
// release is charged to the target's cgroup, not to the helper's.
//
// Protocol with the agent:
//   - fd 3 (ControlFD) is the read end of the agent's control pipe. The stressor sets its
//     parent-death signal, then blocks reading one byte: Release starts the work; EOF
//     (the agent died before releasing it) ends the process. After the release it keeps
//     reading: EOF means the agent is gone, and the stressor exits.
//   - stdout carries status lines: "held N" (bytes held so far), "done N" (allocation
//     finished, N held), "error TEXT".
//
// Arguments: Arg "cpu" WORKERS LOAD, or Arg "memory" WORKERS BYTES.
package worker

import (
	"fmt"
	"strconv"
)

const (
	// Arg is os.Args[1] of a stressor.
	Arg = "stress-worker"
	// EnvMarker must be "1" as well, so that typing the word alone parks nothing.
	EnvMarker = "KUBECTL_CHAOS_STRESSOR"
	// ControlFD is the control pipe's read end in the stressor.
	ControlFD = 3
	// Release is the byte that starts a parked stressor.
	Release = 'g'
	// Argv0 is the tool's name, the base of a stressor's argv[0]: `ps` and `top` in the
	// target container show it.
	Argv0 = "kubectl-chaos"
)

// Kinds of work.
const (
	KindCPU    = "cpu"
	KindMemory = "memory"
)

// Status line prefixes.
const (
	StatusHeld  = "held"
	StatusDone  = "done"
	StatusError = "error"
)

// Args returns the stressor's command-line arguments after argv[0] (amount is the load
// percentage for cpu, the total bytes for memory).
func Args(kind string, workers int, amount uint64) []string {
	return []string{Arg, kind, strconv.Itoa(workers), strconv.FormatUint(amount, 10)}
}

// Job is a parsed command line.
type Job struct {
	Kind    string
	Workers int
	Amount  uint64
}

// Parse reads the arguments after Arg.
func Parse(args []string) (Job, error) {
	if len(args) != 3 {
		return Job{}, fmt.Errorf("want KIND WORKERS AMOUNT, got %q", args)
	}
	j := Job{Kind: args[0]}
	w, err := strconv.Atoi(args[1])
	if err != nil || w < 1 || w > 1024 {
		return Job{}, fmt.Errorf("workers %q: want 1-1024", args[1])
	}
	j.Workers = w
	if j.Amount, err = strconv.ParseUint(args[2], 10, 64); err != nil {
		return Job{}, fmt.Errorf("amount %q: %v", args[2], err)
	}
	switch {
	case j.Kind == KindCPU && (j.Amount < 1 || j.Amount > 100):
		return Job{}, fmt.Errorf("cpu load %d: want 1-100", j.Amount)
	case j.Kind == KindMemory && j.Amount == 0:
		return Job{}, fmt.Errorf("memory size 0")
	case j.Kind != KindCPU && j.Kind != KindMemory:
		return Job{}, fmt.Errorf("kind %q: want %s or %s", j.Kind, KindCPU, KindMemory)
	}
	return j, nil
}
