package timefault

import "golang.org/x/sys/unix"

// archSupported: the stubs are x86-64 machine code.
const archSupported = true

// threadRegs returns a stopped thread's instruction and stack pointers.
func threadRegs(tid int) (pc, sp uint64, err error) {
	var r unix.PtraceRegs
	if err := unix.PtraceGetRegs(tid, &r); err != nil {
		return 0, 0, goneErr(err)
	}
	return r.Rip, r.Rsp, nil
}
