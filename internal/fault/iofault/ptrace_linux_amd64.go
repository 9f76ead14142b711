package iofault

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// regs is the saved state of the thread calls are injected on, and where a `syscall`
// instruction (0f 05) is in the process: one in the vDSO, else the one the thread is
// stopped after. Nothing of the process's code is ever written.
type regs struct {
	saved unix.PtraceRegs
	sys   uintptr
}

const userCS64 = 0x33 // the code segment of 64-bit user mode

func (r *remote) save() error {
	if err := unix.PtraceGetRegs(r.tid, &r.saved); err != nil {
		return fmt.Errorf("reading the registers of thread %d: %w", r.tid, err)
	}
	if r.saved.Cs != userCS64 {
		return fmt.Errorf("pid %d is not a 64-bit process", r.s.pid)
	}
	sys, err := findSyscall(r.s.pid)
	if err != nil {
		// A thread stopped in a system call sits right after its syscall instruction.
		var b [2]byte
		at := uintptr(r.saved.Rip - 2)
		if int64(r.saved.Orig_rax) < 0 {
			return err
		}
		if _, perr := unix.PtracePeekText(r.tid, at, b[:]); perr != nil || b != [2]byte{0x0f, 0x05} {
			return err
		}
		sys = at
	}
	r.sys = sys
	return nil
}

func (r *remote) restore() error {
	if err := unix.PtraceSetRegs(r.tid, &r.saved); err != nil {
		return fmt.Errorf("restoring the registers of thread %d of pid %d: %w", r.tid, r.s.pid, err)
	}
	return nil
}

// call makes the thread run system call nr with args and returns its result. The
// thread's own interrupted call (if any) is restarted by the kernel after restore:
// orig_rax is -1 while we borrow the thread, so the restart logic stays out of our way.
func (r *remote) call(nr uintptr, args ...uintptr) (uintptr, error) {
	g := r.saved
	g.Rax, g.Orig_rax, g.Rip = uint64(nr), ^uint64(0), uint64(r.sys)
	var a [6]uint64
	for i, v := range args {
		a[i] = uint64(v)
	}
	g.Rdi, g.Rsi, g.Rdx, g.R10, g.R8, g.R9 = a[0], a[1], a[2], a[3], a[4], a[5]
	if err := unix.PtraceSetRegs(r.tid, &g); err != nil {
		return 0, fmt.Errorf("setting the registers of thread %d: %w", r.tid, err)
	}
	if err := r.s.step(r.tid); err != nil {
		return 0, err
	}
	if err := unix.PtraceGetRegs(r.tid, &g); err != nil {
		return 0, fmt.Errorf("reading the result in thread %d: %w", r.tid, err)
	}
	if ret := int64(g.Rax); ret < 0 && ret > -4096 {
		return 0, unix.Errno(-ret)
	}
	return uintptr(g.Rax), nil
}

// findSyscall returns the address of a syscall instruction in the process's vDSO.
func findSyscall(pid int) (uintptr, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	maps, err := os.ReadFile(filepath.Join(dir, "maps"))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasSuffix(line, "[vdso]") {
			continue
		}
		lo, hi, _ := strings.Cut(strings.Fields(line)[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start || end-start > 1<<20 {
			break
		}
		mem, err := os.Open(filepath.Join(dir, "mem"))
		if err != nil {
			return 0, err
		}
		defer mem.Close()
		b := make([]byte, end-start)
		if _, err := mem.ReadAt(b, int64(start)); err != nil {
			return 0, fmt.Errorf("reading the vDSO of pid %d: %w", pid, err)
		}
		if i := bytes.Index(b, []byte{0x0f, 0x05}); i >= 0 {
			return uintptr(start) + uintptr(i), nil
		}
		break
	}
	return 0, fmt.Errorf("pid %d: no syscall instruction found in its vDSO", pid)
}
