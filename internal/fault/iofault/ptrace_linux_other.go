//go:build linux && !amd64

package iofault

import (
	"fmt"
	"runtime"
)

// regs: injecting calls into a process is implemented for amd64 only; elsewhere
// descriptors the container already holds keep the original files (and the report
// says so).
type regs struct{}

func (r *remote) save() error {
	return fmt.Errorf("moving descriptors through ptrace is implemented on amd64 only (this node is %s)", runtime.GOARCH)
}

func (r *remote) restore() error { return nil }

func (r *remote) call(nr uintptr, args ...uintptr) (uintptr, error) {
	return 0, fmt.Errorf("no ptrace call injection on %s", runtime.GOARCH)
}
