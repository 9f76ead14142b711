package timefault

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// A stub makes the clock syscalls the vDSO avoided. A seccomp filter that kills or
// refuses them (profiles recorded from what a program did never see them) would crash
// the target or feed it garbage: such a process is skipped. The filters are read
// through ptrace and run on the exact calls the stubs make.

// seccomp return actions (linux/seccomp.h).
const (
	seccompRetActionFull = 0xffff0000
	seccompRetAllow      = 0x7fff0000
	seccompRetLog        = 0x7ffc0000
	auditArchX8664       = 0xc000003e
)

// sysCall is one syscall as a seccomp filter sees it.
type sysCall struct {
	nr   uint32
	args [6]uint64
	desc string
}

// stubCalls are the syscalls the stubs of syms make: every clock the vDSO would have
// answered itself goes through clock_gettime now, shifted or not.
func stubCalls(syms []string) []sysCall {
	const somePtr = 0x7ffc_0000_1000
	var out []sysCall
	for _, sym := range syms {
		switch sym {
		case symClockGettime:
			for _, c := range Clocks {
				out = append(out, sysCall{nr: sysClockGettime, args: [6]uint64{uint64(c.ID), somePtr}, desc: "clock_gettime(" + c.Name + ")"})
			}
		case symGettimeofday:
			out = append(out, sysCall{nr: sysGettimeofday, args: [6]uint64{somePtr}, desc: "gettimeofday"})
		case symTime:
			out = append(out, sysCall{nr: sysTime, desc: "time(NULL)"})
		}
	}
	return out
}

// seccompData encodes struct seccomp_data for x/net/bpf's VM, which loads 32-bit
// words big-endian (packet order) where the kernel loads them in host order: each word
// is stored big-endian at its native offset, so the VM reads the value the kernel would.
func seccompData(c sysCall, ip uint64) []byte {
	b := make([]byte, 64)
	put := func(off int, v uint64) { // a 64-bit field: low word first on x86-64
		binary.BigEndian.PutUint32(b[off:], uint32(v))
		binary.BigEndian.PutUint32(b[off+4:], uint32(v>>32))
	}
	binary.BigEndian.PutUint32(b[0:], c.nr)
	binary.BigEndian.PutUint32(b[4:], auditArchX8664)
	put(8, ip)
	for i, a := range c.args {
		put(16+8*i, a)
	}
	return b
}

// seccompVerdict runs one classic BPF filter on c and returns its action.
func seccompVerdict(vm *bpf.VM, c sysCall, ip uint64) (uint32, error) {
	v, err := vm.Run(seccompData(c, ip))
	if err != nil {
		return 0, err
	}
	return uint32(v), nil
}

// threadFilters reads the seccomp filters of a stopped thread (newest first).
func threadFilters(tid int) ([][]bpf.RawInstruction, error) {
	var out [][]bpf.RawInstruction
	for i := 0; ; i++ {
		n, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(tid), uintptr(i), 0, 0, 0)
		if errno == unix.ENOENT {
			return out, nil
		}
		if errno != 0 {
			return nil, errno
		}
		prog := make([]unix.SockFilter, n)
		if n == 0 {
			continue
		}
		if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SECCOMP_GET_FILTER, uintptr(tid), uintptr(i),
			uintptr(unsafe.Pointer(&prog[0])), 0, 0); errno != 0 {
			return nil, errno
		}
		raw := make([]bpf.RawInstruction, n)
		for j, ins := range prog {
			raw[j] = bpf.RawInstruction{Op: ins.Code, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		out = append(out, raw)
	}
}

// checkSeccomp returns why some thread's seccomp filters would not allow a stub's
// syscall ("" when all allow them). ip is where the stubs' syscall instructions are.
func (s *stopped) checkSeccomp(calls []sysCall, ip uint64) (string, error) {
	verdicts := map[string]string{} // filter program -> reason ("" = allows)
	for tid := range s.threads {
		mode, err := statusField(procPath(s.pid, "task", strconv.Itoa(tid), "status"), "Seccomp")
		if err != nil || mode != "2" {
			continue // 0: none; 1: strict mode cannot run the program's own clock code either
		}
		filters, err := threadFilters(tid)
		if err != nil {
			return fmt.Sprintf("thread %d has a seccomp filter the agent cannot read (%v): it may refuse the clock syscalls the stub makes", tid, err), nil
		}
		for fi, raw := range filters {
			key := string(unsafe.Slice((*byte)(unsafe.Pointer(&raw[0])), len(raw)*int(unsafe.Sizeof(raw[0]))))
			reason, seen := verdicts[key]
			if !seen {
				reason = evalFilter(raw, calls, ip)
				verdicts[key] = reason
			}
			if reason != "" {
				return fmt.Sprintf("seccomp filter %d of thread %d %s", fi, tid, reason), nil
			}
		}
	}
	return "", nil
}

// evalFilter returns why the filter does not allow one of calls, "" if it allows all.
func evalFilter(raw []bpf.RawInstruction, calls []sysCall, ip uint64) string {
	prog := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		prog[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		return fmt.Sprintf("cannot be evaluated (%v)", err)
	}
	for _, c := range calls {
		v, err := seccompVerdict(vm, c, ip)
		if err != nil {
			return fmt.Sprintf("cannot be evaluated on %s (%v)", c.desc, err)
		}
		if act := v & seccompRetActionFull; act != seccompRetAllow && act != seccompRetLog {
			return fmt.Sprintf("answers %s to %s, which the stub would make", actionName(act), c.desc)
		}
	}
	return ""
}

func actionName(act uint32) string {
	switch act {
	case 0x80000000:
		return "KILL_PROCESS"
	case 0:
		return "KILL_THREAD"
	case 0x00030000:
		return "TRAP"
	case 0x00050000:
		return "ERRNO"
	case 0x7fc00000:
		return "USER_NOTIF"
	case 0x7ff00000:
		return "TRACE"
	}
	return fmt.Sprintf("%#x", act)
}
