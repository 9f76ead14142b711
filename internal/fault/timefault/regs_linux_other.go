//go:build linux && !amd64

package timefault

import "errors"

// archSupported: the stubs are x86-64 machine code; other architectures refuse.
const archSupported = false

func threadRegs(tid int) (pc, sp uint64, err error) {
	return 0, 0, errors.New("time faults are implemented for x86-64 only")
}
